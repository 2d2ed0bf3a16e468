import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { ROOT, freePort, stopChild } from './processes';
import { nodeOptions } from '../../scripts/lib/node-options';

/**
 * The scheduler (it runs the waiting rooms' admission loop) as a process of its own: processes.ts starts the api
 * and workers only. Started as production runs it (`node apps/scheduler/dist/main.js`, the project's NODE_OPTIONS),
 * ready once its /readyz answers.
 */

export interface SchedulerProcess {
  name: string;
  pid: number;
  port: number;
  child: ChildProcess;
  /** The last lines it printed (pino JSON at LOG_LEVEL). */
  logs: string[];
  /** Lines at warn or above. */
  warnings: number;
  stop(graceMs?: number): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startScheduler(name: string, env: Record<string, string>): Promise<SchedulerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['apps/scheduler/dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: nodeOptions(), NODE_ENV: 'production', ...env, SCHEDULER_METRICS_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const proc: SchedulerProcess = { name, pid: child.pid ?? 0, port, child, logs: [], warnings: 0, stop: async () => null };
  const collect = (b: Buffer) => {
    for (const line of b.toString().split('\n')) {
      if (!line) continue;
      proc.logs.push(line);
      if (/"level":(4|5|6)\d/.test(line) || !line.startsWith('{')) proc.warnings++;
    }
    if (proc.logs.length > 500) proc.logs.splice(0, proc.logs.length - 500);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  proc.stop = (graceMs = 10_000) => stopChild(child, exited, graceMs);
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode} while starting:\n${proc.logs.slice(-20).join('\n')}`);
    if (await ready(port)) return proc;
    if (Date.now() > until) {
      await proc.stop(1000);
      throw new Error(`${name} not ready within 60 s:\n${proc.logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/readyz', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
