import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { round } from './stats';

/** CPU and memory of processes, read from /proc once a second. */

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** utime + stime of one pid, in clock ticks (null when it is gone). */
function pidTicks(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

function pidRssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readText(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) : 0;
}

/**
 * A pid and its descendants (helpers a process started), leaving out the
 * subtrees of pids tracked on their own (the bench's children are its api and workers).
 */
function tree(pid: number, skip: ReadonlySet<number> = new Set()): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    if (i > 0 && skip.has(p)) continue;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      const kids = readText(`/proc/${p}/task/${t}/children`);
      if (kids) for (const k of kids.trim().split(/\s+/).filter(Boolean)) if (!skip.has(Number(k))) out.push(Number(k));
    }
  }
  return out;
}

function treeTicks(pid: number, skip?: ReadonlySet<number>): number | null {
  const pids = tree(pid, skip);
  const own = pidTicks(pid);
  if (own === null) return null;
  return pids.slice(1).reduce((s, p) => s + (pidTicks(p) ?? 0), own);
}

const treeRssKb = (pid: number, skip?: ReadonlySet<number>) => tree(pid, skip).reduce((s, p) => s + pidRssKb(p), 0);

/** Busy and total jiffies of the whole machine. */
function machineTicks(): { busy: number; total: number } {
  const line = (readText('/proc/stat') ?? '').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0); // user..steal (guest is inside user)
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** How busy the whole machine is over the next ms, % of all cores. */
export async function machineBusyOver(ms: number): Promise<number> {
  const a = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineTicks();
  return b.total > a.total ? round(((b.busy - a.busy) / (b.total - a.total)) * 100) : 0;
}

/** First pid whose command name is one of names (mariadbd, redis-server). */
export function findPid(...names: string[]): number | null {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const comm = readText(`/proc/${d}/comm`)?.trim();
    if (comm && names.includes(comm)) return Number(d);
  }
  return null;
}

export interface ProcessUsage {
  name: string;
  pid: number;
  /** Average CPU over the phase, % of one core. */
  cpuPct: number;
  /** Highest one-second CPU, % of one core. */
  cpuPeakPct: number;
  rssAvgMb: number;
  rssMaxMb: number;
}

export interface PhaseUsage {
  seconds: number;
  /** Whole machine, % of all cores (100 = every core busy). */
  machineBusyPct: number;
  cores: number;
  processes: ProcessUsage[];
  /** CPU the machine spent outside the processes listed, % of one core (other tenants, kernel threads). */
  otherCpuPct: number;
}

interface Tracked {
  name: string;
  pid: number;
}

interface Window {
  startAt: number;
  machine: { busy: number; total: number };
  start: Map<number, number>;
  last: Map<number, { at: number; ticks: number }>;
  peak: Map<number, number>;
  rss: Map<number, number[]>;
  names: Map<number, string>;
}

/**
 * Tracks named pids; `begin()` opens a measurement window and its `end()`
 * returns each process's average and peak CPU and its RSS over that window.
 */
export class Sampler {
  private readonly tracked = new Map<number, Tracked>();
  private readonly windows = new Set<Window>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly cores: number) {}

  /** Pids ever tracked: never counted inside another tracked process's tree (the bench is their parent). */
  private readonly ever = new Set<number>();

  private skip(): ReadonlySet<number> {
    return this.ever;
  }

  private ticks(pid: number): number | null {
    return treeTicks(pid, this.skip());
  }

  private rss(pid: number): number {
    return treeRssKb(pid, this.skip());
  }

  track(name: string, pid: number | null | undefined): void {
    if (!pid) return;
    this.tracked.set(pid, { name, pid });
    this.ever.add(pid);
    const ticks = this.ticks(pid);
    // A process that joins mid-window counts from the moment it joined.
    for (const w of this.windows) {
      if (!w.start.has(pid) && ticks !== null) {
        w.start.set(pid, ticks);
        w.names.set(pid, name);
        w.last.set(pid, { at: Date.now(), ticks });
      }
    }
  }

  untrack(pid: number | undefined): void {
    if (!pid) return;
    // Take its last reading into open windows before it goes.
    const ticks = this.ticks(pid);
    if (ticks !== null) for (const w of this.windows) if (w.last.has(pid)) w.last.set(pid, { at: Date.now(), ticks });
    this.tracked.delete(pid);
  }

  begin(): { end: () => PhaseUsage } {
    const w: Window = {
      startAt: Date.now(),
      machine: machineTicks(),
      start: new Map(),
      last: new Map(),
      peak: new Map(),
      rss: new Map(),
      names: new Map(),
    };
    for (const t of this.tracked.values()) {
      const ticks = this.ticks(t.pid);
      if (ticks === null) continue;
      w.start.set(t.pid, ticks);
      w.last.set(t.pid, { at: w.startAt, ticks });
      w.names.set(t.pid, t.name);
      w.rss.set(t.pid, [this.rss(t.pid)]);
    }
    this.windows.add(w);
    this.timer ??= setInterval(() => this.sample(), 1000);
    return { end: () => this.close(w) };
  }

  private sample(): void {
    const now = Date.now();
    for (const w of this.windows) {
      for (const [pid, prev] of w.last) {
        if (!this.tracked.has(pid)) continue;
        const ticks = this.ticks(pid);
        if (ticks === null) continue;
        const dt = (now - prev.at) / 1000;
        if (dt >= 0.5) {
          const pct = ((ticks - prev.ticks) / CLK_TCK / dt) * 100;
          w.peak.set(pid, Math.max(w.peak.get(pid) ?? 0, pct));
          w.last.set(pid, { at: now, ticks });
        }
        const rss = this.rss(pid);
        if (rss > 0) {
          const list = w.rss.get(pid) ?? [];
          list.push(rss);
          w.rss.set(pid, list);
        }
      }
    }
  }

  private close(w: Window): PhaseUsage {
    this.sample();
    this.windows.delete(w);
    if (this.windows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    const seconds = (Date.now() - w.startAt) / 1000;
    const m = machineTicks();
    const machineBusyPct = m.total > w.machine.total ? ((m.busy - w.machine.busy) / (m.total - w.machine.total)) * 100 : 0;
    const processes: ProcessUsage[] = [];
    for (const [pid, startTicks] of w.start) {
      const last = w.last.get(pid);
      const endTicks = this.tracked.has(pid) ? (this.ticks(pid) ?? last?.ticks ?? startTicks) : (last?.ticks ?? startTicks);
      const rss = w.rss.get(pid) ?? [];
      processes.push({
        name: w.names.get(pid) ?? String(pid),
        pid,
        cpuPct: round(((endTicks - startTicks) / CLK_TCK / Math.max(seconds, 0.001)) * 100),
        cpuPeakPct: round(w.peak.get(pid) ?? 0),
        rssAvgMb: round(rss.reduce((s, x) => s + x, 0) / Math.max(1, rss.length) / 1024),
        rssMaxMb: round(Math.max(0, ...rss) / 1024),
      });
    }
    const ours = processes.reduce((s, p) => s + p.cpuPct, 0);
    return {
      seconds: round(seconds),
      machineBusyPct: round(machineBusyPct),
      cores: this.cores,
      processes,
      otherCpuPct: round(Math.max(0, machineBusyPct * this.cores - ours)),
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.windows.clear();
  }
}
