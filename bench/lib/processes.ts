import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

/** The compiled entries, as production runs them (`npm run bench*` builds first); the bare server is the bench's own. */
const ENTRY = {
  api: 'apps/api/dist/main.js',
  worker: 'apps/worker/dist/main.js',
  scheduler: 'apps/scheduler/dist/main.js',
  bare: 'bench/lib/bare-server.ts',
} as const;
export type Kind = keyof typeof ENTRY;

import { freePort } from '../../scripts/lib/net';
import { nodeOptions } from '../../scripts/lib/node-options';

export { freePort };

export interface LogTally {
  warn: number;
  error: number;
  /** The first few distinct warn/error messages (with their counts). */
  messages: Map<string, number>;
}

export interface BenchProcess {
  name: string;
  kind: Kind;
  pid: number;
  port: number;
  /** Where its /metrics is: the api's own metrics port (API_METRICS_PORT), else `port`. */
  metricsPort: number;
  child: ChildProcess;
  /** The last lines it printed (pino JSON at LOG_LEVEL). */
  logs: string[];
  tally: LogTally;
  /** SIGTERM (its graceful shutdown: a --cpu-prof profile is written then), SIGKILL after a grace period. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Every process the bench started and has not seen exit: stopped on the way out, whatever happens. */
export const running = new Set<BenchProcess>();

let aborted = false;

/** After this no process is started any more (Ctrl-C came while the run went on). */
export function abortStarts(): void {
  aborted = true;
}

// Last resort: whatever way this process ends, no child outlives it.
process.on('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
});

function tallyLine(t: LogTally, line: string): void {
  let level = 0;
  let msg = line;
  try {
    const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string }; reason?: string };
    level = j.level ?? 0;
    msg = `${j.msg ?? ''}${j.err?.message ? `: ${j.err.message}` : ''}`;
  } catch {
    // Not pino (a crash trace): count it as an error.
    level = /error|exception|fail/i.test(line) ? 50 : 0;
  }
  if (level < 40) return;
  if (level >= 50) t.error++;
  else t.warn++;
  const key = msg.slice(0, 200);
  if (t.messages.has(key) || t.messages.size < 12) t.messages.set(key, (t.messages.get(key) ?? 0) + 1);
}

export interface StartOptions {
  env: Record<string, string>;
  /**
   * Write V8 CPU profiles of the whole run into this directory (one file per
   * thread: `--import tsx` runs its module hooks on a thread of their own;
   * the main thread's file has thread id 0, see mainThreadProfile).
   */
  cpuProfDir?: string;
  /** The node binary to run it on (default: this process's, the project's Node 24). */
  nodePath?: string;
  /** Listen on this port instead of a free one (api processes sharing a port with API_REUSE_PORT=true). */
  port?: number;
}

/**
 * Starts the api or a worker the way `npm run up` does (`node --import tsx
 * <entry>`), on a free port, and waits until its /readyz answers.
 */
export async function startProcess(kind: Kind, name: string, opts: StartOptions): Promise<BenchProcess> {
  if (aborted) throw new Error('the bench is stopping');
  const port = opts.port ?? (await freePort());
  if (aborted) throw new Error('the bench is stopping');
  const portVar = { api: 'API_PORT', worker: 'WORKER_METRICS_PORT', scheduler: 'SCHEDULER_METRICS_PORT', bare: 'BARE_PORT' }[kind];
  // Each api its own metrics port, also when several share API_PORT (API_REUSE_PORT): Prometheus must reach each one.
  const metricsPort = kind === 'api' ? await freePort() : port;
  const prof = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
  // BENCH_NODE_ARGS: extra node flags for the api and workers (to try V8 settings; the report says which ran).
  const extra = kind === 'bare' ? [] : (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // Rate limits off (RATE_LIMITS=off): the bench fires thousands of calls from one address and a few users on purpose.
  const child = spawn(opts.nodePath ?? process.execPath, [...extra, ...prof, ...(kind === 'bare' ? ['--import', 'tsx'] : []), ENTRY[kind]], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: nodeOptions(),
      NODE_ENV: 'production',
      API_HOST: '127.0.0.1',
      RATE_LIMITS: 'off',
      ...opts.env,
      [portVar]: String(port),
      ...(kind === 'api' ? { API_METRICS_PORT: String(metricsPort) } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const tally: LogTally = { warn: 0, error: 0, messages: new Map() };
  let partial = '';
  const collect = (b: Buffer) => {
    const lines = (partial + b.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      logs.push(line);
      tallyLine(tally, line);
    }
    if (logs.length > 2000) logs.splice(0, logs.length - 2000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const proc: BenchProcess = {
    name,
    kind,
    pid: child.pid ?? 0,
    port,
    metricsPort,
    child,
    logs,
    tally,
    async stop(graceMs = 20_000) {
      await stopChild(child, exited, graceMs);
      running.delete(proc);
      return child.exitCode;
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));

  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode} while starting:\n${logs.slice(-20).join('\n')}`);
    // On a shared port another process may answer: then ready means this process answered (its request ids start with its pid).
    const ok = opts.port === undefined ? await readyAt(port) : await readyAt(port, `${(child.pid ?? 0).toString(36)}-`);
    if (ok) break;
    if (Date.now() > until) {
      await proc.stop(1000);
      throw new Error(`${name} not ready within 60 s:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return proc;
}

/** Whether /readyz answers 200 on a fresh connection (and, given `idPrefix`, from the process whose request ids start so). */
function readyAt(port: number, idPrefix?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/readyz', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      const id = res.headers['x-request-id'];
      resolve(res.statusCode === 200 && (idPrefix === undefined || (typeof id === 'string' && id.startsWith(idPrefix))));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Stops everything still running, concurrently. */
export async function stopAll(graceMs = 20_000): Promise<void> {
  await Promise.allSettled([...running].map((p) => p.stop(graceMs)));
}

/** SIGTERM a child that still runs, SIGKILL it after graceMs, and wait for it to exit; its exit code (null after a signal). */
export async function stopChild(child: ChildProcess, exited: Promise<unknown>, graceMs: number): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }
  return child.exitCode;
}
