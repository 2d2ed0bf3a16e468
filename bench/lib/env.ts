import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createDataSource, ensureDatabase, parseMysqlUrl } from '@bazaar/db';
import { randomBytes } from 'node:crypto';
import { DEVELOPMENT_SECRETS, loadConfig } from '@bazaar/platform';
import { ROOT } from './processes';

/** The run's own database and Redis prefix, on the servers MYSQL_URL / REDIS_URL name. */
export interface BenchEnv {
  mysqlUrl: string;
  redisUrl: string;
  database: string;
  /** Every Redis prefix of the run starts with this (each phase adds a suffix). */
  prefixBase: string;
}

export function benchEnv(): BenchEnv {
  if (existsSync(join(ROOT, '.env'))) process.loadEnvFile(join(ROOT, '.env'));
  useRunSecrets();
  const base = loadConfig({ ...process.env, NODE_ENV: 'production' });
  const ts = Date.now();
  const database = `bazaar_bench_${ts}`;
  const u = new URL(base.MYSQL_URL);
  u.pathname = `/${database}`;
  return { mysqlUrl: u.toString(), redisUrl: base.REDIS_URL, database, prefixBase: `bzb${ts.toString(36)}` };
}

/** Creates the database and runs the migrations, as the test harness's global setup does. */
export async function createBenchDatabase(env: BenchEnv): Promise<void> {
  await ensureDatabase(env.mysqlUrl);
  const ds = createDataSource({
    MYSQL_URL: env.mysqlUrl,
    MYSQL_REPLICA_URLS: [],
    MYSQL_POOL_SIZE: 2,
    MYSQL_POOL_QUEUE_LIMIT: 10,
    MYSQL_CONNECT_TIMEOUT_MS: 5000,
  });
  await ds.initialize();
  try {
    await ds.runMigrations({ transaction: 'each' });
  } finally {
    await ds.destroy();
  }
}

/** A plain mysql2 connection with the options TypeORM gives the workers' pool. */
export function mysqlConnection(url: string, database = true, multipleStatements = false): Promise<mysql.Connection> {
  const c = parseMysqlUrl(url);
  return mysql.createConnection({
    host: c.host,
    port: c.port,
    user: c.username,
    password: c.password,
    ...(database ? { database: c.database } : {}),
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    multipleStatements,
  });
}

export function redisClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3 });
}

/** At the end of a run: keep the database and keys (BENCH_KEEP) or drop them; what happened, for the report. */
export async function dropOrKeep(env: BenchEnv, say: (line: string) => void): Promise<string[]> {
  if (process.env.BENCH_KEEP) return [`kept ${env.database} and ${env.prefixBase}* (BENCH_KEEP)`];
  say(`dropping ${env.database} and deleting ${env.prefixBase}* keys`);
  return cleanup(env);
}

/** Drops the database and deletes every key under the run's prefixes. Each step is tried even if another fails. */
export async function cleanup(env: BenchEnv): Promise<string[]> {
  const problems: string[] = [];
  try {
    const c = await mysqlConnection(env.mysqlUrl, false);
    await c.query(`DROP DATABASE IF EXISTS \`${env.database}\``);
    await c.end();
  } catch (err) {
    problems.push(`dropping ${env.database}: ${String(err)}`);
  }
  try {
    const redis = redisClient(env.redisUrl);
    let deleted = 0;
    for (const pattern of [`${env.prefixBase}*`, `{${env.prefixBase}*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
        cursor = next;
        if (keys.length) deleted += await redis.unlink(...keys);
      } while (cursor !== '0');
    }
    await redis.quit();
    if (deleted === 0) problems.push('no Redis keys found to delete (unexpected)');
  } catch (err) {
    problems.push(`deleting Redis keys ${env.prefixBase}*: ${String(err)}`);
  }
  return problems;
}

/** MariaDB / MySQL counters worth a rate, and gauges worth a look. */
const MYSQL_COUNTERS = [
  'Questions',
  'Com_commit',
  'Com_rollback',
  'Com_insert',
  'Com_insert_select',
  'Com_update',
  'Com_select',
  'Com_savepoint',
  'Handler_commit',
  'Innodb_data_fsyncs',
  'Innodb_os_log_fsyncs',
  'Innodb_log_writes',
  'Innodb_os_log_written',
  'Innodb_data_written',
  'Innodb_rows_inserted',
  'Innodb_rows_updated',
  'Innodb_row_lock_waits',
  'Innodb_row_lock_time',
  'Innodb_deadlocks',
  'Innodb_log_waits',
  'Innodb_buffer_pool_wait_free',
  'Bytes_received',
  'Bytes_sent',
];
const MYSQL_GAUGES = ['Threads_connected', 'Threads_running', 'Innodb_buffer_pool_pages_dirty'];

export type StatusSnapshot = { at: number; values: Record<string, number> };

export async function mysqlStatus(c: mysql.Connection): Promise<StatusSnapshot> {
  const names = [...MYSQL_COUNTERS, ...MYSQL_GAUGES];
  const [rows] = await c.query(`SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map(() => '?').join(',')})`, names);
  const values: Record<string, number> = {};
  for (const r of rows as { Variable_name: string; Value: string }[]) values[r.Variable_name] = Number(r.Value);
  return { at: Date.now(), values };
}

/** Per-second rates of the counters between two snapshots (gauges: the later value). */
export function statusRates(a: StatusSnapshot, b: StatusSnapshot): Record<string, number> {
  const s = Math.max(0.001, (b.at - a.at) / 1000);
  const out: Record<string, number> = {};
  for (const k of MYSQL_COUNTERS) if (k in a.values && k in b.values) out[k] = Math.round((((b.values[k] ?? 0) - (a.values[k] ?? 0)) / s) * 10) / 10;
  for (const k of MYSQL_GAUGES) if (k in b.values) out[k] = b.values[k] ?? 0;
  return out;
}

export interface RedisSnapshot {
  at: number;
  totalCommands: number;
  usedMemoryMb: number;
  commands: Record<string, { calls: number; usec: number }>;
}

export async function redisSnapshot(redis: Redis): Promise<RedisSnapshot> {
  const stats = await redis.info('stats');
  const memory = await redis.info('memory');
  const cmd = await redis.info('commandstats');
  const commands: RedisSnapshot['commands'] = {};
  for (const m of cmd.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) commands[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  return {
    at: Date.now(),
    totalCommands: Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0),
    usedMemoryMb: Math.round(Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? 0) / 1048576),
    commands,
  };
}

export interface RedisRates {
  commandsPerSec: number;
  usedMemoryMb: number;
  /** Busiest commands by time spent in Redis. */
  top: { command: string; callsPerSec: number; usecPerCall: number; busyPct: number }[];
}

export function redisRates(a: RedisSnapshot, b: RedisSnapshot): RedisRates {
  const s = Math.max(0.001, (b.at - a.at) / 1000);
  const top = Object.entries(b.commands)
    .map(([command, v]) => {
      const before = a.commands[command] ?? { calls: 0, usec: 0 };
      const calls = v.calls - before.calls;
      const usec = v.usec - before.usec;
      return {
        command,
        callsPerSec: Math.round(calls / s),
        usecPerCall: calls > 0 ? Math.round((usec / calls) * 10) / 10 : 0,
        busyPct: Math.round((usec / 1e6 / s) * 1000) / 10,
      };
    })
    .filter((x) => x.callsPerSec > 0)
    .sort((x, y) => y.busyPct - x.busyPct)
    .slice(0, 8);
  return { commandsPerSec: Math.round((b.totalCommands - a.totalCommands) / s), usedMemoryMb: b.usedMemoryMb, top };
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGb: number;
  kernel: string;
  node: string;
  mysqlVersion: string;
  mysqlSettings: Record<string, string>;
  redisVersion: string;
  redisSettings: Record<string, string>;
}

export async function machineInfo(c: mysql.Connection, redis: Redis): Promise<MachineInfo> {
  const [[v]] = (await c.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
  const settings = [
    'innodb_flush_log_at_trx_commit',
    'innodb_buffer_pool_size',
    'innodb_log_file_size',
    'sync_binlog',
    'log_bin',
    'max_connections',
    'innodb_flush_method',
  ];
  const [vars] = await c.query(`SHOW GLOBAL VARIABLES WHERE Variable_name IN (${settings.map(() => '?').join(',')})`, settings);
  const mysqlSettings: Record<string, string> = {};
  for (const r of vars as { Variable_name: string; Value: string }[]) mysqlSettings[r.Variable_name] = r.Value;
  const server = await redis.info('server');
  const redisSettings: Record<string, string> = {};
  for (const key of ['appendonly', 'appendfsync', 'save', 'maxmemory-policy']) {
    const r = (await redis.config('GET', key)) as string[];
    redisSettings[key] = r[1] ?? '';
  }
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    mysqlVersion: v.v,
    mysqlSettings,
    redisVersion: /redis_version:(\S+)/.exec(server)?.[1] ?? 'unknown',
    redisSettings,
  };
}

/**
 * The benches run every process as production does (NODE_ENV=production), and production refuses the development
 * secrets (productionProblems): each run makes its own, in the environment every process it starts inherits. A value
 * set by the caller (not a development default) is kept.
 */
export function useRunSecrets(): void {
  const own = (name: keyof typeof DEVELOPMENT_SECRETS) => {
    const v = process.env[name];
    return v !== undefined && v !== DEVELOPMENT_SECRETS[name];
  };
  const random = () => randomBytes(18).toString('base64url');
  if (!own('PAYMENT_SECRET_KEY')) process.env.PAYMENT_SECRET_KEY = `test_sk_bench_${random()}`;
  if (!own('ADMISSION_TOKEN_KEYS')) process.env.ADMISSION_TOKEN_KEYS = `bench:${random()}`;
  if (!own('ADMIN_PASSWORD')) delete process.env.ADMIN_PASSWORD; // the processes do not use it
}
