import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { ROOT, freePort, stopChild } from './processes';

/**
 * The fake payment gateway as a process of its own (processes.ts starts the
 * api and workers only), so the sampler sees its CPU apart from the bench's;
 * and the workers' refund counters read off their /metrics.
 */

export interface GatewayProcess {
  name: string;
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  logs: string[];
  stop(graceMs?: number): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** `node apps/fake-gateway/dist/main.js` on a free port, once its /healthz answers. */
export async function startGatewayProcess(secretKey: string): Promise<GatewayProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['apps/fake-gateway/dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', FAKE_GATEWAY_PORT: String(port), PAYMENT_SECRET_KEY: secretKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const logs: string[] = [];
  const collect = (b: Buffer) => {
    logs.push(...b.toString().split('\n').filter(Boolean));
    if (logs.length > 500) logs.splice(0, logs.length - 500);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = (graceMs = 5000) => stopChild(child, exited, graceMs);
  const until = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fake gateway exited with ${child.exitCode} while starting:\n${logs.slice(-20).join('\n')}`);
    const ok = await fetch(`${url}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > until) {
      await stop(1000);
      throw new Error(`fake gateway not ready within 60 s:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { name: 'fake-gateway', pid: child.pid ?? 0, port, url, child, logs, stop };
}

/** Counters by name{labels}, summed over processes. */
export type Counters = Map<string, number>;

const REFUND_COUNTERS = /^(bazaar_refunds_total|bazaar_refund_statements_total|bazaar_refunded_total|bazaar_points_total)\{([^}]*)\} (\S+)$/;

/** The refund counters of these worker ports, summed (labels sorted, `service` left out: `bazaar_refund_statements_total{step=lock}`). */
export async function scrapeRefundCounters(ports: number[]): Promise<Counters> {
  const out: Counters = new Map();
  await Promise.all(
    ports.map(async (port) => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .catch(() => '');
      for (const line of text.split('\n')) {
        const m = REFUND_COUNTERS.exec(line);
        if (!m) continue;
        // Summed over the workers: their `service` label (the same on all) is left out.
        const labels = [...m[2]!.matchAll(/(\w+)="([^"]*)"/g)]
          .filter((x) => x[1] !== 'service')
          .map((x) => `${x[1]}=${x[2]}`)
          .sort();
        const key = `${m[1]}{${labels.join(',')}}`;
        out.set(key, (out.get(key) ?? 0) + Number(m[3]));
      }
    }),
  );
  return out;
}

export const completedOf = (c: Counters) => c.get('bazaar_refunds_total{outcome=completed}') ?? 0;
export const failedOf = (c: Counters) => c.get('bazaar_refunds_total{outcome=failed}') ?? 0;

// ---------------------------------------------------------------- context switches

/** Context switches so far: the whole machine's (/proc/stat ctxt), and per named pid its threads' voluntary + involuntary ones. */
export interface CtxtSnapshot {
  machine: number;
  byName: Record<string, { voluntary: number; involuntary: number }>;
}

function pidCtxt(pid: number): { voluntary: number; involuntary: number } {
  const out = { voluntary: 0, involuntary: 0 };
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      out.voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
      out.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

export function ctxtSnapshot(pids: { name: string; pid: number | null }[]): CtxtSnapshot {
  const machine = Number(/^ctxt (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0);
  const byName: CtxtSnapshot['byName'] = {};
  for (const p of pids) if (p.pid) byName[p.name] = pidCtxt(p.pid);
  return { machine, byName };
}

/** Context switches per refund between two snapshots. */
export function ctxtPerRefund(
  a: CtxtSnapshot,
  b: CtxtSnapshot,
  refunds: number,
): { machine: number; byName: Record<string, { voluntary: number; involuntary: number }> } {
  const per = (x: number) => Math.round((x / Math.max(1, refunds)) * 10) / 10;
  const byName: Record<string, { voluntary: number; involuntary: number }> = {};
  for (const [name, v] of Object.entries(b.byName)) {
    const w = a.byName[name] ?? { voluntary: 0, involuntary: 0 };
    byName[name] = { voluntary: per(v.voluntary - w.voluntary), involuntary: per(v.involuntary - w.involuntary) };
  }
  return { machine: per(b.machine - a.machine), byName };
}
