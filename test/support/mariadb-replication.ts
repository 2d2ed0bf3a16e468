import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, cp, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { freePort } from '../../scripts/lib/net';

/**
 * A MariaDB primary and a GTID replica of it: two real mariadbd of this
 * machine (MARIADBD, /usr/sbin/mariadbd by default), each in a fresh datadir
 * made by mariadb-install-db under one temp dir, on ports and sockets of their
 * own. The primary writes a row-based binary log; the replica follows it with
 * `CHANGE MASTER TO … MASTER_USE_GTID=slave_pos` and is read_only, so only
 * replication writes to it (the app's account has no READ ONLY ADMIN).
 *
 * Sized to start in a second or two on a small CI machine: 32 MB buffer pools,
 * 8 MB redo logs, no performance schema, no fsync per commit. Every server can
 * be stopped, killed and started again on its own datadir and port (the replica
 * resumes replicating by itself, from the GTID it had applied), and `close()`
 * stops both and removes the temp dir. A watchdog (a detached shell) kills both
 * servers and removes the dir if this process dies without `close()`, so no
 * mariadbd outlives its test run.
 *
 * Statements are spelled as MySQL 8.4 accepts them too where MariaDB 10.11
 * allows (START/STOP REPLICA, SHOW REPLICA STATUS); CHANGE MASTER TO …
 * MASTER_USE_GTID and MASTER_GTID_WAIT are MariaDB's own. The docker-compose
 * stack runs MySQL 8.4 instead; README ("Replication") lists where the two differ.
 */

export const APP_USER = 'bazaar';
export const APP_PASSWORD = 'bazaar-test-pw';
export const APP_DATABASE = 'bazaar';
const REPL_USER = 'repl';
const REPL_PASSWORD = 'repl-test-pw';

const MARIADBD = process.env.MARIADBD ?? '/usr/sbin/mariadbd';
const INSTALL_DB = process.env.MARIADB_INSTALL_DB ?? 'mariadb-install-db';

/** Small, fast and not durable: a test server, started in well under a second. */
const COMMON_ARGS = [
  '--skip-name-resolve',
  '--bind-address=127.0.0.1',
  '--innodb-buffer-pool-size=32M',
  '--innodb-log-file-size=8M',
  '--innodb-log-buffer-size=4M',
  '--innodb-flush-log-at-trx-commit=2',
  '--innodb-doublewrite=0',
  '--sync-binlog=0',
  '--performance-schema=OFF',
  '--max-connections=300',
  '--character-set-server=utf8mb4',
  '--collation-server=utf8mb4_unicode_ci',
  '--log-bin=mysql-bin',
  '--binlog-format=ROW',
  '--gtid-strict-mode=ON',
];

type Role = 'primary' | 'replica';

export interface MariaDbServer {
  readonly role: Role;
  readonly port: number;
  readonly socket: string;
  readonly datadir: string;
  /** True while its mariadbd runs (from start() until it exits). */
  readonly running: boolean;
  /** The app's URL on this server: `mysql://bazaar:…@127.0.0.1:<port>/<database>`. */
  url(database?: string): string;
  /** Starts mariadbd on its datadir and port and waits until it answers (a no-op while it runs). */
  start(): Promise<void>;
  /** A clean shutdown (SIGTERM), waited for. */
  stop(): Promise<void>;
  /** SIGKILL, waited for: a crash (InnoDB recovers on the next start). */
  kill(): Promise<void>;
  /** stop() (or kill() with `{ kill: true }`), then start(). */
  restart(opts?: { kill?: boolean }): Promise<void>;
  /** One statement as root over the socket, on a connection of its own. */
  sql<T = RowDataPacket>(statement: string, params?: unknown[]): Promise<T[]>;
  /** The end of its error log. */
  logTail(lines?: number): Promise<string>;
}

export interface ReplicaStatus {
  ioRunning: boolean;
  sqlRunning: boolean;
  /** Seconds_Behind_Master (null while the SQL thread is stopped). */
  secondsBehind: number | null;
  lastError: string;
}

export interface ReplicatedMariaDb {
  primary: MariaDbServer;
  replica: MariaDbServer;
  /** Waits until the replica has applied every transaction the primary has logged. */
  waitForReplica(timeoutMs?: number): Promise<void>;
  /** Transactions the primary has logged that the replica has not applied yet (domain 0). */
  transactionsBehind(): Promise<number>;
  /** `STOP REPLICA SQL_THREAD` (MariaDB's `STOP SLAVE SQL_THREAD`): the replica still receives the binary log, and applies nothing (lag grows). */
  pauseApplying(): Promise<void>;
  /** `START REPLICA SQL_THREAD`. */
  resumeApplying(): Promise<void>;
  replicaStatus(): Promise<ReplicaStatus>;
  /** Stops both servers (kills one that does not stop in time) and removes the temp dir. Safe to call twice. */
  close(): Promise<void>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** uid and gid of the `mysql` account, which mariadbd runs as when we are root. */
function mysqlAccount(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'mysql'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) throw new Error('running as root, but there is no `mysql` account for mariadbd');
  return { uid, gid };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makeServer(dir: string, role: Role, port: number, serverId: number): MariaDbServer {
  const datadir = join(dir, role);
  const socket = join(dir, `${role}.sock`);
  const errorLog = join(dir, `${role}.err`);
  const childPidFile = join(dir, `${role}.child-pid`);
  const roleArgs =
    role === 'primary'
      ? []
      : [
          '--read-only=ON',
          '--relay-log=relay-bin',
          '--log-slave-updates=ON',
          // A lost primary is noticed within seconds (heartbeats every 2.5 s), and reconnected to every second.
          '--slave-net-timeout=5',
        ];
  const args = [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--port=${port}`,
    `--socket=${socket}`,
    `--pid-file=${join(dir, `${role}.pid`)}`,
    `--log-error=${errorLog}`,
    `--server-id=${serverId}`,
    ...COMMON_ARGS,
    ...roleArgs,
    ...(isRoot() ? ['--user=mysql'] : []),
  ];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const connect = () => createConnection({ socketPath: socket, user: 'root', password: '', multipleStatements: false, connectTimeout: 2_000 });

  const server: MariaDbServer = {
    role,
    port,
    socket,
    datadir,
    get running() {
      return child !== null;
    },
    url: (database = APP_DATABASE) => `mysql://${APP_USER}:${APP_PASSWORD}@127.0.0.1:${port}/${database}`,

    async start() {
      if (child) return;
      const c = spawn(MARIADBD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const stderr: string[] = [];
      c.stderr?.on('data', (b: Buffer) => stderr.push(b.toString()));
      child = c;
      exited = new Promise<void>((resolve) =>
        c.once('exit', () => {
          if (child === c) child = null;
          resolve();
        }),
      );
      if (c.pid) await writeFile(childPidFile, String(c.pid));
      const until = Date.now() + 60_000;
      for (;;) {
        if (child !== c) throw new Error(`${role} mariadbd exited while starting:\n${stderr.join('')}\n${await server.logTail()}`);
        const ok = await connect()
          .then(async (conn) => {
            await conn.query('SELECT 1');
            await conn.end();
            return true;
          })
          .catch(() => false);
        if (ok) return;
        if (Date.now() > until) {
          await server.kill();
          throw new Error(`${role} mariadbd did not answer within 60 s:\n${await server.logTail()}`);
        }
        await sleep(50);
      }
    },

    async stop() {
      const c = child;
      if (!c) return;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
      await unlink(childPidFile).catch(() => undefined);
    },

    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGKILL');
      await exited;
      await unlink(childPidFile).catch(() => undefined);
    },

    async restart(opts = {}) {
      await (opts.kill ? server.kill() : server.stop());
      await server.start();
    },

    async sql<T = RowDataPacket>(statement: string, params: unknown[] = []): Promise<T[]> {
      const conn = await connect();
      try {
        const [rows] = await conn.query(statement, params);
        return rows as T[];
      } finally {
        await conn.end().catch(() => undefined);
      }
    },

    async logTail(lines = 30) {
      const text = await readFile(errorLog, 'utf8').catch(() => '');
      return text.split('\n').slice(-lines).join('\n');
    },
  };
  return server;
}

/** A detached shell that, once this process is gone, SIGKILLs whatever mariadbd the harness left running and removes the dir. */
function startWatchdog(dir: string): ChildProcess {
  const script = `
    while kill -0 "$1" 2>/dev/null; do sleep 1; done
    for f in "$2"/*.child-pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    sleep 1
    rm -rf "$2"
  `;
  const w = spawn('sh', ['-c', script, 'mariadb-watchdog', String(process.pid), dir], { detached: true, stdio: 'ignore' });
  w.unref();
  return w;
}

async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(path, owner.uid, owner.gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(p, owner);
    else await chown(p, owner.uid, owner.gid);
  }
}

async function installDatadir(dir: string, role: Role, owner: { uid: number; gid: number } | null): Promise<void> {
  const datadir = join(dir, role);
  const r = spawn(
    INSTALL_DB,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      ...(owner ? ['--user=mysql'] : []),
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      '--innodb-log-file-size=8M',
      '--innodb-buffer-pool-size=32M',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out: string[] = [];
  r.stdout?.on('data', (b: Buffer) => out.push(b.toString()));
  r.stderr?.on('data', (b: Buffer) => out.push(b.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    r.once('error', reject);
    r.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`${INSTALL_DB} for the ${role} failed (exit ${code}):\n${out.join('').slice(-2000)}`);
}

export interface SingleMariaDb {
  server: MariaDbServer;
  /** The app's URL on it: `mysql://bazaar:…@127.0.0.1:<port>/<database>`. */
  url(database?: string): string;
  /** Stops it (kills it if it does not stop in time) and removes the temp dir. Safe to call twice. */
  close(): Promise<void>;
}

/** The temp dir, its watchdog and the exit hook every server set needs; `close()` stops `servers` and removes the dir. */
async function serverDir(roles: Role[]) {
  if (!existsSync(MARIADBD)) throw new Error(`no mariadbd at ${MARIADBD} (set MARIADBD)`);
  const dir = await mkdtemp(join(tmpdir(), 'bazaar-mariadb-'));
  const owner = isRoot() ? mysqlAccount() : null;
  if (owner) await chown(dir, owner.uid, owner.gid);
  const watchdog = startWatchdog(dir);
  // A process that exits (jest's worker too) takes its servers with it.
  const onExit = () => {
    for (const f of roles) {
      try {
        const pid = Number(readFileSync(join(dir, `${f}.child-pid`), 'utf8'));
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', onExit);
  let closed = false;
  const close = async (servers: MariaDbServer[]) => {
    if (closed) return;
    closed = true;
    await Promise.all(servers.map((s) => s.stop()));
    process.removeListener('exit', onExit);
    if (watchdog.pid) {
      try {
        process.kill(watchdog.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  return { dir, owner, close };
}

/** The app's account. Database-level rights only: no READ ONLY ADMIN, so read_only holds for the app on a replica. */
const createAppUser = async (server: MariaDbServer) => {
  await server.sql(`CREATE USER '${APP_USER}'@'%' IDENTIFIED BY '${APP_PASSWORD}'`);
  await server.sql(`GRANT ALL PRIVILEGES ON \`${APP_DATABASE}%\`.* TO '${APP_USER}'@'%'`);
};

/**
 * One MariaDB server of its own (a primary with no replica), for suites that restart or kill the
 * database under a running fleet: the same small test server as startReplicatedMariaDb's, in its own
 * temp dir under a watchdog, with the app's account (`bazaar`, on databases named `bazaar%`).
 * `server.restart({ kill: true })` is a crash (InnoDB recovers on start), `server.restart()` a clean
 * shutdown; either comes back on the same datadir and port.
 */
export async function startMariaDb(): Promise<SingleMariaDb> {
  const { dir, owner, close } = await serverDir(['primary']);
  const server = makeServer(dir, 'primary', await freePort(), 1);
  try {
    await installDatadir(dir, 'primary', owner);
    await server.start();
    await createAppUser(server);
    return { server, url: (database) => server.url(database), close: () => close([server]) };
  } catch (err) {
    const logs = await server.logTail(15);
    await close([server]).catch(() => undefined);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs}`);
  }
}

const seqOf = (gtidPos: string, domain = 0): number => {
  for (const gtid of gtidPos.split(',')) {
    const [d, , seq] = gtid.trim().split('-');
    if (Number(d) === domain && seq !== undefined) return Number(seq);
  }
  return 0;
};

/**
 * Starts a primary and its replica, creates the app's account (`bazaar`, on
 * databases named `bazaar%`) and the replication account on the primary, and
 * starts GTID replication; the replica has caught up when this resolves.
 */
export async function startReplicatedMariaDb(): Promise<ReplicatedMariaDb> {
  const { dir, owner, close: closeDir } = await serverDir(['primary', 'replica']);
  const [primaryPort, replicaPort] = await Promise.all([freePort(), freePort()]);
  const primary = makeServer(dir, 'primary', primaryPort, 1);
  const replica = makeServer(dir, 'replica', replicaPort, 2);
  const close = () => closeDir([replica, primary]);

  try {
    // One bootstrap, copied: two at once collide on their temporary tables, and a copy costs nothing.
    await installDatadir(dir, 'primary', owner);
    await cp(join(dir, 'primary'), join(dir, 'replica'), { recursive: true, preserveTimestamps: true });
    if (owner) await chownTree(join(dir, 'replica'), owner);
    await Promise.all([primary.start(), replica.start()]);

    // Written to the binary log on purpose: the replica replays them (as it would on MySQL).
    for (const statement of [
      `CREATE USER '${REPL_USER}'@'%' IDENTIFIED BY '${REPL_PASSWORD}'`,
      `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${REPL_USER}'@'%'`,
    ]) {
      await primary.sql(statement);
    }
    await createAppUser(primary);
    await replica.sql(
      `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${primaryPort}, MASTER_USER = '${REPL_USER}', MASTER_PASSWORD = '${REPL_PASSWORD}', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`,
    );
    await replica.sql('START REPLICA');

    const replicaStatus = async (): Promise<ReplicaStatus> => {
      const [s] = await replica.sql<Record<string, unknown>>('SHOW REPLICA STATUS');
      if (!s) return { ioRunning: false, sqlRunning: false, secondsBehind: null, lastError: 'replication is not configured' };
      return {
        // MariaDB names the columns Slave_* / _Master under either spelling of the statement; MySQL 8.4 Replica_* / _Source.
        ioRunning: (s.Slave_IO_Running ?? s.Replica_IO_Running) === 'Yes',
        sqlRunning: (s.Slave_SQL_Running ?? s.Replica_SQL_Running) === 'Yes',
        secondsBehind:
          (s.Seconds_Behind_Master ?? s.Seconds_Behind_Source ?? null) === null ? null : Number(s.Seconds_Behind_Master ?? s.Seconds_Behind_Source),
        lastError: [s.Last_IO_Error, s.Last_SQL_Error].filter(Boolean).join('; '),
      };
    };

    const db: ReplicatedMariaDb = {
      primary,
      replica,
      replicaStatus,
      async waitForReplica(timeoutMs = 30_000) {
        const [{ pos }] = (await primary.sql<{ pos: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS pos')) as [{ pos: string }];
        const [{ r }] = (await replica.sql<{ r: number }>('SELECT MASTER_GTID_WAIT(?, ?) AS r', [pos, timeoutMs / 1000])) as [{ r: number }];
        if (Number(r) !== 0) throw new Error(`the replica did not reach ${pos} within ${timeoutMs} ms: ${JSON.stringify(await replicaStatus())}`);
      },
      async transactionsBehind() {
        const [{ pos }] = (await primary.sql<{ pos: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS pos')) as [{ pos: string }];
        const [{ applied }] = (await replica.sql<{ applied: string }>('SELECT @@GLOBAL.gtid_slave_pos AS applied')) as [{ applied: string }];
        return seqOf(pos) - seqOf(applied);
      },
      pauseApplying: async () => void (await replica.sql('STOP REPLICA SQL_THREAD')),
      resumeApplying: async () => void (await replica.sql('START REPLICA SQL_THREAD')),
      close,
    };
    await db.waitForReplica();
    const status = await replicaStatus();
    if (!status.ioRunning || !status.sqlRunning) throw new Error(`replication did not start: ${JSON.stringify(status)}`);
    return db;
  } catch (err) {
    const logs = `--- primary:\n${await primary.logTail(15)}\n--- replica:\n${await replica.logTail(15)}`;
    await close().catch(() => undefined);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs}`);
  }
}
