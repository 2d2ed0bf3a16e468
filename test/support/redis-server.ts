import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/net';

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

export interface RedisServerOptions {
  /**
   * AOF on: `--appendonly yes --appendfsync everysec` (a crash loses at most about the last second of writes),
   * no RDB snapshots. Off: no persistence at all (a crash loses everything; a SIGTERM too).
   */
  aof: boolean;
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`, for REDIS_URL. */
  readonly url: string;
  readonly dir: string;
  readonly aof: boolean;
  /** True while its redis-server runs (from start() until it exits). */
  readonly running: boolean;
  /** Starts redis-server on its dir and port (loading its AOF, if any) and waits until it answers PING (a no-op while it runs). */
  start(): Promise<void>;
  /** SIGTERM, waited for: Redis writes and fsyncs its AOF on shutdown. */
  stop(): Promise<void>;
  /** SIGKILL, waited for: a crash (with AOF, what was not fsynced yet, up to about a second, is lost). */
  kill(): Promise<void>;
  /** stop() (or kill() with `{ kill: true }`), then start() on the same dir and port. */
  restart(opts?: { kill?: boolean }): Promise<void>;
  /** A connection of its own for the test (one retry per command); the caller disconnects it. */
  client(): Redis;
  /** The end of its log. */
  logTail(lines?: number): Promise<string>;
  /** Stops it (kills it if it does not stop in time) and removes its dir. Safe to call twice. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A detached shell that, once this process is gone, SIGKILLs the redis-server the harness left running and removes the dir. */
function startWatchdog(dir: string): ChildProcess {
  const script = `
    while kill -0 "$1" 2>/dev/null; do sleep 1; done
    [ -f "$2/child-pid" ] && kill -9 "$(cat "$2/child-pid")" 2>/dev/null
    sleep 1
    rm -rf "$2"
  `;
  const w = spawn('sh', ['-c', script, 'redis-watchdog', String(process.pid), dir], { detached: true, stdio: 'ignore' });
  w.unref();
  return w;
}

/**
 * One real redis-server of this machine (REDIS_SERVER, `redis-server` by default) on a free port of
 * 127.0.0.1, in a temp dir of its own, `noeviction` as production runs it. It can be stopped (SIGTERM),
 * killed (SIGKILL) and started again on the same dir and port: with `aof: true` it reloads its AOF, so what
 * survives a crash is what Redis had fsynced (everysec). A watchdog (a detached shell) kills it and removes
 * the dir if this process dies without close(), so no redis-server outlives its test run.
 */
export async function startRedisServer(opts: RedisServerOptions): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'bazaar-redis-'));
  const childPidFile = join(dir, 'child-pid');
  const logFile = join(dir, 'redis.log');
  const watchdog = startWatchdog(dir);
  const port = await freePort();
  const persistence = opts.aof
    ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--appenddirname', 'aof', '--save', '']
    : ['--appendonly', 'no', '--save', ''];
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--logfile', logFile,
    '--maxmemory-policy', 'noeviction',
    ...persistence,
  ]; // prettier-ignore

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  // A process that exits (jest's worker too) takes its server with it.
  const onExit = () => {
    try {
      const pid = Number(readFileSync(childPidFile, 'utf8'));
      if (pid > 0) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);

  const ping = async () => {
    const r = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 500,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
      // LOADING (replaying the AOF) is an error reply: not ready yet.
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    aof: opts.aof,
    get running() {
      return child !== null;
    },

    async start() {
      if (child) return;
      const c = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
      const until = Date.now() + 30_000;
      for (;;) {
        if (child !== c) throw new Error(`redis-server on ${port} exited while starting:\n${stderr.join('')}\n${await server.logTail()}`);
        if (await ping()) return;
        if (Date.now() > until) {
          await server.kill();
          throw new Error(`redis-server on ${port} did not answer within 30 s:\n${await server.logTail()}`);
        }
        await sleep(25);
      }
    },

    async stop() {
      const c = child;
      if (!c) return;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
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

    async restart(o = {}) {
      await (o.kill ? server.kill() : server.stop());
      await server.start();
    },

    client() {
      const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      r.on('error', () => undefined);
      return r;
    },

    async logTail(lines = 30) {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      return text.split('\n').slice(-lines).join('\n');
    },

    close: async () => {
      if (closed) return;
      closed = true;
      await server.stop();
      process.removeListener('exit', onExit);
      if (watchdog.pid) {
        try {
          process.kill(watchdog.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  let closed = false;

  try {
    await server.start();
  } catch (err) {
    await server.close().catch(() => undefined);
    throw err;
  }
  return server;
}
