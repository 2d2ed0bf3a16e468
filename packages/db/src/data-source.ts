import 'reflect-metadata';
import { DataSource, type QueryRunner } from 'typeorm';
import type { Config } from '@bazaar/platform';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';
import { ReplicaReads, type ReplicaReadsOptions } from './replica-reads';

interface Credentials {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
}

export function parseMysqlUrl(url: string): Credentials & { type: 'mysql' | 'mariadb' } {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`MySQL URL has no database name: ${u.protocol}//${u.host}`);
  return {
    type: u.protocol === 'mariadb:' ? 'mariadb' : 'mysql',
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
  };
}

export type DbConfig = Pick<Config, 'MYSQL_URL' | 'MYSQL_REPLICA_URLS' | 'MYSQL_POOL_SIZE' | 'MYSQL_POOL_QUEUE_LIMIT' | 'MYSQL_CONNECT_TIMEOUT_MS'>;

export interface DataSourceOptions {
  /** Only the worker turns this on, for its hot path (several parameterized statements in one round trip). */
  multipleStatements?: boolean;
  /** Where onReplica() counts and logs reads that fell back to the primary (replica-reads.ts). */
  replicaReads?: ReplicaReadsOptions;
}

/** Each DataSource's replica reads (their fallback state), made by createDataSource or on first use. */
const replicaReadsOf = new WeakMap<DataSource, ReplicaReads>();

/**
 * One DataSource per process: writes (and reads that must see them) go to the
 * primary (TypeORM's find methods would read a replica by default: defaultMode
 * 'master' keeps read-your-writes); `onReplica()` reads from a replica when
 * replicas are set, and from the primary while they fail (ReplicaReads).
 * Pools are bounded: at most MYSQL_POOL_SIZE connections per node, and at
 * most MYSQL_POOL_QUEUE_LIMIT waiters before a query fails fast.
 */
export function createDataSource(config: DbConfig, opts: DataSourceOptions = {}): DataSource {
  const { type, ...primary } = parseMysqlUrl(config.MYSQL_URL);
  const replicas = config.MYSQL_REPLICA_URLS.map((u) => {
    const { type: _t, ...c } = parseMysqlUrl(u);
    return c;
  });
  const ds = new DataSource({
    type,
    ...(replicas.length > 0 ? { replication: { master: primary, slaves: replicas, ...CLUSTER } } : primary),
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    migrationsRun: false,
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    multipleStatements: opts.multipleStatements ?? false,
    connectTimeout: config.MYSQL_CONNECT_TIMEOUT_MS,
    poolSize: config.MYSQL_POOL_SIZE,
    extra: { queueLimit: config.MYSQL_POOL_QUEUE_LIMIT, waitForConnections: true, enableKeepAlive: true },
    // Failed queries are not logged here (their parameters may hold secrets); callers log what they handle.
    logging: ['warn', 'migration'],
  });
  replicaReadsOf.set(ds, new ReplicaReads(ds, replicas.length, opts.replicaReads));
  return ds;
}

/**
 * The pool cluster behind a primary and its replicas. mysql2's defaults
 * (removeNodeErrorCount 5, restoreNodeTimeout 0, canRetry) retry a failed
 * connect on the same node until it is removed for good: one refused connect
 * left a process without its replica, or its primary, until it restarted.
 * Here a node is never removed nor taken offline, and a failed connect is
 * the caller's to handle: the primary behaves as a single pool does, and
 * ReplicaReads sends replica reads to the primary while replicas fail.
 */
const CLUSTER = {
  selector: 'RR' as const,
  defaultMode: 'master' as const,
  canRetry: false,
  removeNodeErrorCount: Number.MAX_SAFE_INTEGER,
};

/** A query runner on a replica (or the primary when there are none), without onReplica's fallback. Always release it. */
export function readQueryRunner(ds: DataSource): QueryRunner {
  return ds.createQueryRunner('slave');
}

/**
 * Runs fn (reads only) on a replica connection and releases it; on the primary
 * when there are no replicas, and while they cannot be reached (ReplicaReads:
 * counted in bazaar_db_replica_fallbacks_total, and logged).
 */
export function onReplica<T>(ds: DataSource, fn: (q: QueryRunner) => Promise<T>): Promise<T> {
  let reads = replicaReadsOf.get(ds);
  if (!reads) {
    const replication = (ds.options as { replication?: { slaves?: unknown[] } }).replication;
    reads = new ReplicaReads(ds, replication?.slaves?.length ?? 0);
    replicaReadsOf.set(ds, reads);
  }
  return reads.run(fn);
}

/** Runs fn in one transaction on the primary; commits, or rolls back and rethrows. The runner is always released. */
export async function inTransaction<T>(ds: DataSource, fn: (q: QueryRunner) => Promise<T>, isolation?: IsolationLevel): Promise<T> {
  const q = ds.createQueryRunner('master');
  await q.connect();
  await q.startTransaction(isolation);
  try {
    const result = await fn(q);
    await q.commitTransaction();
    return result;
  } catch (err) {
    if (q.isTransactionActive) await q.rollbackTransaction().catch(() => undefined);
    throw err;
  } finally {
    await q.release();
  }
}

/** A transaction's isolation level (MySQL / MariaDB default: REPEATABLE READ). */
export type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/** MySQL error numbers we act on. */
export const MysqlErrno = {
  DUP_ENTRY: 1062,
  LOCK_WAIT_TIMEOUT: 1205,
  DEADLOCK: 1213,
} as const;

export function mysqlErrno(err: unknown): number | undefined {
  const e = err as { errno?: unknown; driverError?: { errno?: unknown } } | null;
  const n = e?.driverError?.errno ?? e?.errno;
  return typeof n === 'number' ? n : undefined;
}

export function isDuplicateKey(err: unknown): boolean {
  return mysqlErrno(err) === MysqlErrno.DUP_ENTRY;
}

export function isRetryableTxError(err: unknown): boolean {
  const n = mysqlErrno(err);
  return n === MysqlErrno.DEADLOCK || n === MysqlErrno.LOCK_WAIT_TIMEOUT;
}

/** Runs `attempt` again (up to `attempts` times, with a short random pause) while it fails on deadlock / lock-wait timeout. */
export async function retryOnTxConflict<T>(attempt: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= attempts || !isRetryableTxError(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20 * i)));
    }
  }
}

/** Runs a transaction, retrying it a few times on deadlock / lock-wait timeout. */
export function inRetryingTransaction<T>(ds: DataSource, fn: (q: QueryRunner) => Promise<T>, attempts = 5, isolation?: IsolationLevel): Promise<T> {
  return retryOnTxConflict(() => inTransaction(ds, fn, isolation), attempts);
}

/** Creates the database named in the URL if it does not exist. */
export async function ensureDatabase(mysqlUrl: string): Promise<void> {
  const { type, database, ...c } = parseMysqlUrl(mysqlUrl);
  const ds = new DataSource({ type, ...c, database: undefined as unknown as string });
  await ds.initialize();
  try {
    await ds.query(`CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '')}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await ds.destroy();
  }
}

/** Something that runs SQL: a DataSource or a transaction's QueryRunner. */
export type SqlRunner = Pick<QueryRunner, 'query'> | Pick<DataSource, 'query'>;

/** A SELECT's rows, typed by the caller (who knows the columns it asked for). */
export async function selectRows<T>(db: SqlRunner, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await (db as Pick<QueryRunner, 'query'>).query(sql, params)) as T[];
}

/** An INSERT / UPDATE / DELETE's result header. */
export async function execute(db: SqlRunner, sql: string, params: unknown[] = []): Promise<{ affectedRows: number; insertId: number }> {
  return (await (db as Pick<QueryRunner, 'query'>).query(sql, params)) as { affectedRows: number; insertId: number };
}
