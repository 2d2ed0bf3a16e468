import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { testEnv } from './test-env';

const ROOT = join(__dirname, '..', '..');
/** The compiled entries, as production runs them (the global setup builds them first: `npm run build`). */
const ENTRY = {
  api: 'apps/api/dist/main.js',
  worker: 'apps/worker/dist/main.js',
  scheduler: 'apps/scheduler/dist/main.js',
} as const;

import { freePort } from '../../scripts/lib/net';
import { nodeOptions } from '../../scripts/lib/node-options';

export { freePort };

export interface RunningProcess {
  kind: keyof typeof ENTRY;
  child: ChildProcess;
  port: number;
  /** Where its /metrics is: the api's own metrics port, else `port`. */
  metricsPort: number;
  logs: string[];
  /** SIGTERM and wait for exit (SIGKILL after a grace period). */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

/**
 * Starts a real process (api, worker or scheduler) as a child, the way
 * `npm run up` does, against the run's database and Redis prefix, and waits
 * until its /readyz answers.
 */
export async function startProcess(kind: keyof typeof ENTRY, env: Record<string, string> = {}): Promise<RunningProcess> {
  const portVar = { api: 'API_PORT', worker: 'WORKER_METRICS_PORT', scheduler: 'SCHEDULER_METRICS_PORT' }[kind];
  // A port given in env is used (api processes sharing one with API_REUSE_PORT); otherwise a free one.
  const port = env[portVar] ? Number(env[portVar]) : await freePort();
  // The api's /metrics is on a port of its own (API_METRICS_PORT); the worker's and scheduler's is their one port.
  const metricsPort = kind === 'api' ? (env.API_METRICS_PORT ? Number(env.API_METRICS_PORT) : await freePort()) : port;
  const child = spawn(process.execPath, ['--enable-source-maps', ENTRY[kind]], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: nodeOptions(), ...testEnv(), NODE_ENV: 'test', LOG_LEVEL: 'info', API_HOST: '127.0.0.1', [portVar]: String(port), ...(kind === 'api' ? { API_METRICS_PORT: String(metricsPort) } : {}), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (b: Buffer) => {
    for (const line of b.toString().split('\n')) if (line) logs.push(line);
    if (logs.length > 20_000) logs.splice(0, logs.length - 20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${kind} exited with ${child.exitCode}:\n${logs.slice(-20).join('\n')}`);
    // On a port given (shared), another process may answer: ready means this one did (an api's request ids start with its pid).
    const own = env[portVar] && kind === 'api' ? `${(child.pid ?? 0).toString(36)}-` : null;
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`, own ? { headers: { connection: 'close' } } : {})
      .then((r) => r.ok && (own === null || (r.headers.get('x-request-id') ?? '').startsWith(own)))
      .catch(() => false);
    if (ok) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`${kind} not ready within 30 s:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    kind,
    child,
    port,
    metricsPort,
    logs,
    async stop() {
      // Errors a process logged are shown with the suite's output, so a failure in CI can be read there.
      const errors = logs.filter((l) => /"level":(50|60)/.test(l) || /^(Error|TypeError|ReferenceError)/.test(l));
      if (errors.length) process.stderr.write(`--- ${kind} (port ${port}) logged ${errors.length} errors; the first 10:\n${errors.slice(0, 10).join('\n')}\n`);
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
