import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes';

/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per package, counting only the samples inside a time window (the load
 * phase, not start-up). Profile timestamps are CLOCK_MONOTONIC µs, the clock
 * of process.hrtime in every process on the machine.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  where: string;
  selfMs: number;
  /** Share of the busy (non-idle) samples. */
  pct: number;
}

export interface ProfileSummary {
  /** Which process (api, worker-1). */
  label: string;
  file: string;
  /** Window actually covered, ms. */
  windowMs: number;
  /** Busy share of the window, % of one core (sampled on the main thread only). */
  busyPct: number;
  windowed: boolean;
  topFunctions: ProfileRow[];
  byPackage: ProfileRow[];
  /** Self time charged to the package whose code is on the stack: Node-internal and native frames go to their nearest npm / workspace caller. */
  byOwner: ProfileRow[];
  /** The biggest Node-internal / native frames, each with the npm / workspace function that called it. */
  nativeByCaller: ProfileRow[];
}

/** The main thread's profile in a process's --cpu-prof-dir: CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile, thread 0. */
export function mainThreadProfile(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const file = readdirSync(dir).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  return file ? join(dir, file) : null;
}

/** Which package (or our workspace, or Node itself) a frame belongs to. */
export function packageOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return '(program: native, not JS)';
    return '(native)';
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 14).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  const path = url.replace(/^file:\/\//, '');
  const rel = path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path;
  const m = /^(apps|packages)\/([^/]+)\//.exec(rel);
  return m ? `${m[1]}/${m[2]} (ours)` : rel;
}

const shortUrl = (url: string) => {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + 14);
  return path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path;
};

export function summarizeProfile(label: string, file: string, window?: { fromUs: number; toUs: number }, top = 15): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const inWindow = !!window && window.fromUs >= prof.startTime - 5e6 && window.toUs <= prof.endTime + 5e6;
  const from = inWindow ? window.fromUs : prof.startTime;
  const to = inWindow ? window.toUs : prof.endTime;

  const selfUs = new Map<number, number>();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    // A sample's time is the gap to the next one.
    const span = prof.timeDeltas[i + 1] ?? dt;
    const id = prof.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + span);
  }

  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isLib = (pk: string) => !pk.startsWith('node:') && !pk.startsWith('(');
  /** The nearest frame (itself included) that is npm or workspace code. */
  const ownerOf = (id: number): { pkg: string; fn: string } | null => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame;
      if (cf && isLib(packageOf(cf.url, cf.functionName))) return { pkg: packageOf(cf.url, cf.functionName), fn: cf.functionName || '(anonymous)' };
    }
    return null;
  };

  const fn = new Map<string, { name: string; where: string; us: number }>();
  const pkg = new Map<string, number>();
  const owners = new Map<string, number>();
  const natives = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    const p = packageOf(cf.url, cf.functionName);
    if (p === '(idle)') continue;
    busy += us;
    pkg.set(p, (pkg.get(p) ?? 0) + us);
    const owner = isLib(p) ? { pkg: p, fn: '' } : ownerOf(id);
    owners.set(owner?.pkg ?? p, (owners.get(owner?.pkg ?? p) ?? 0) + us);
    if (!isLib(p) && owner) {
      const key = `\`${cf.functionName || '(anonymous)'}\` ${p.startsWith('(') ? p : `(${p})`} ← ${owner.pkg} \`${owner.fn}\``;
      natives.set(key, (natives.get(key) ?? 0) + us);
    }
    const name = cf.functionName || '(anonymous)';
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const row = fn.get(key) ?? { name, where, us: 0 };
    row.us += us;
    fn.set(key, row);
  }
  const pct = (us: number) => Math.round((us / Math.max(1, busy)) * 1000) / 10;
  const rows = (m: Map<string, number>, n = top) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, where: '', selfMs: Math.round(us / 1000), pct: pct(us) }));
  return {
    label,
    file,
    windowMs: Math.round((to - from) / 1000),
    busyPct: Math.round((busy / Math.max(1, to - from)) * 1000) / 10,
    windowed: inWindow,
    topFunctions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((r) => ({ name: r.name, where: r.where, selfMs: Math.round(r.us / 1000), pct: pct(r.us) })),
    byPackage: rows(pkg),
    byOwner: rows(owners),
    nativeByCaller: rows(natives, 8),
  };
}
