import type { ProfileSummary } from './cpuprofile';
import { cpuLine, logsSection, profileTables, table, topFunctions, topNative, topPackages, usageTable } from './report';
import type { CeilingRun, CtxtPerRefund, RefundPhase, RefundsResult } from './refunds-types';
import type { PhaseUsage } from './sampler';
import { round } from './stats';
import type { ProcessLog } from './types';

/** The refunds bench's reading of its figures ("what bounds it") and its markdown report. */

/** A phase during which processes that are not the bench's took this much of a core measured the neighbours too. */
const NOISY_OTHER_CPU = 20;
/** The order the worker's steps run in (bazaar_refund_statements_total{step}). */
const STEP_ORDER = ['tx', 'lock', 'price', 'points', 'clawback', 'wallet', 'restock', 'units_status', 'coupon', 'complete', 'fail', 'effects'];
const COM_KEYS = ['Questions', 'Com_commit', 'Com_begin', 'Com_set_option', 'Com_select', 'Com_update', 'Com_insert', 'Com_insert_select', 'Com_rollback'];

const cpuOf = (u: PhaseUsage, match: (name: string) => boolean) => u.processes.filter((p) => match(p.name)).reduce((s, p) => s + p.cpuPct, 0);
const isWorker = (n: string) => n.startsWith('worker-');
type Group = 'workers' | 'MariaDB' | 'Redis' | 'fake gateway' | 'bench';
const GROUPS: [Group, (n: string) => boolean][] = [
  ['workers', isWorker],
  ['MariaDB', (n) => n === 'mariadbd'],
  ['Redis', (n) => n === 'redis-server'],
  ['fake gateway', (n) => n === 'fake-gateway'],
  ['bench', (n) => n.startsWith('bench')],
];

/** CPU-ms per refund by process group (each group's CPU over the window ÷ refunds/s over it). */
export function cpuPerRefund(u: PhaseUsage, perSec: number): Record<Group | 'total', number> {
  const out = { workers: 0, MariaDB: 0, Redis: 0, 'fake gateway': 0, bench: 0, total: 0 };
  for (const [g, m] of GROUPS) out[g] = round((cpuOf(u, m) * 10) / Math.max(1, perSec), 2);
  out.total = round(
    GROUPS.reduce((a, [g]) => a + out[g], 0),
    2,
  );
  return out;
}

/** Statements per refund by step, from the workers' counters. */
export function statementsPerRefund(p: RefundPhase): { steps: Record<string, number>; total: number } {
  const steps: Record<string, number> = {};
  for (const [key, v] of Object.entries(p.counters)) {
    const step = /^bazaar_refund_statements_total\{step=([^,}]+)\}/.exec(key)?.[1];
    if (step) steps[step] = round(v / Math.max(1, p.refunds), 2);
  }
  return {
    steps,
    total: round(
      Object.values(steps).reduce((a, b) => a + b, 0),
      2,
    ),
  };
}

/** The ceiling's statements per refund by step (its own count), `isolation` apart as the workers' counter has none. */
export function ceilingStatements(c: CeilingRun): { steps: Record<string, number>; total: number; isolation: number } {
  const steps: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.statements ?? {})) if (k !== 'isolation') steps[k] = round(v / Math.max(1, c.refunds), 2);
  return {
    steps,
    total: round(
      Object.values(steps).reduce((a, b) => a + b, 0),
      2,
    ),
    isolation: round((c.statements?.isolation ?? 0) / Math.max(1, c.refunds), 2),
  };
}

const perRefund = (com: Record<string, number>, refunds: number, k: string) => round((com[k] ?? 0) / Math.max(1, refunds), 2);
const pct = (x: number) => `${round(x * 100, 1)}%`;

function profileOf(r: RefundsResult, phase: string): ProfileSummary | undefined {
  return r.profiles.find((p) => p.label.includes(`"${phase}"`));
}

/** Context switches per refund of a process group (voluntary + involuntary). */
function ctxtOf(c: CtxtPerRefund | undefined, match: (name: string) => boolean): { voluntary: number; involuntary: number } {
  const out = { voluntary: 0, involuntary: 0 };
  for (const [name, v] of Object.entries(c?.byName ?? {})) {
    if (!match(name)) continue;
    out.voluntary += v.voluntary;
    out.involuntary += v.involuntary;
  }
  return { voluntary: round(out.voluntary, 1), involuntary: round(out.involuntary, 1) };
}

/** worker-1's profile over a phase: its time in socket writes (writeBuffer, writeUtf8String) per refund it completed. */
export function worker1Writes(r: RefundsResult, p: RefundPhase): { busyPct: number; writeMsPerRefund: number; refunds: number } | null {
  const prof = profileOf(r, p.name);
  const refunds = p.completedByWorker?.['worker-1'] ?? (p.workers === 1 ? p.refunds : 0);
  if (!prof || !refunds) return null;
  const ms = prof.topFunctions.filter((f) => f.name === 'writeBuffer' || f.name === 'writeUtf8String').reduce((a, f) => a + f.selfMs, 0);
  return { busyPct: prof.busyPct, writeMsPerRefund: round(ms / refunds, 2), refunds };
}

const sumCtxt = (c: { voluntary: number; involuntary: number }) => round(c.voluntary + c.involuntary, 1);

/** Transactions a refund of this kind runs in the worker: the look before, then BALANCE one, CARD two (freeze, final). */
const txPerRefund = (p: RefundPhase) => (p.method === 'CARD' ? 3 : 2);

/** What holds a phase's refunds/s, from its CPU figures: a worker's one JavaScript thread, the cores, both, or neither (waiting). */
function boundOf(p: RefundPhase, cores: number): { kind: 'worker' | 'cores' | 'both' | 'waiting'; text: string } {
  const u = p.usage;
  const ws = u.processes.filter((x) => isWorker(x.name));
  const maxWorker = Math.max(0, ...ws.map((x) => x.cpuPct));
  const busyCores = round((u.machineBusyPct * cores) / 100, 2);
  const list = ws.map((x) => `${x.name} ${round(x.cpuPct, 0)}% (1-s peak ${round(x.cpuPeakPct, 0)}%)`).join(', ');
  const workerFull = maxWorker >= 85;
  const coresFull = u.machineBusyPct >= 85;
  const others = u.otherCpuPct >= NOISY_OTHER_CPU ? ` Other tenants took ${round(u.otherCpuPct, 0)}% of a core of that.` : '';
  if (workerFull && coresFull)
    return {
      kind: 'both',
      text: `**a worker's JavaScript thread and the cores together**: ${list} of one core, the machine ${u.machineBusyPct}% busy (${busyCores} of ${cores} cores: ${cpuLine(u)}).${others}`,
    };
  if (workerFull)
    return { kind: 'worker', text: `**the worker's JavaScript thread**: ${list} of one core, the machine ${u.machineBusyPct}% busy (${cpuLine(u)}).${others}` };
  if (coresFull)
    return {
      kind: 'cores',
      text: `**the machine's ${cores} cores**: ${u.machineBusyPct}% busy (${busyCores} of ${cores}), shared as ${cpuLine(u)}; ${list}.${others}`,
    };
  return {
    kind: 'waiting',
    text: `no CPU: machine ${u.machineBusyPct}% busy (${cpuLine(u)}) — the jobs wait: on MariaDB's commits (${perRefund(p.com, p.refunds, 'Com_commit')} a refund, ${round(p.mysqlRates.Innodb_data_fsyncs ?? 0, 0)} data fsyncs/s), row locks (${round(p.mysqlRates.Innodb_row_lock_waits ?? 0, 0)} waits/s)${p.method === 'CARD' ? ', the gateway round trip' : ''}, Redis round trips.${others}`,
  };
}

/** One finding per phase, and a few across them: what the figures say holds the refunds/s where they are. */
export function analyzeRefunds(r: RefundsResult): string[] {
  const findings: string[] = [];
  const cores = r.machine?.cores ?? 2;
  const summary: string[] = [];
  for (const p of r.phases) {
    const ceil = p.ceiling;
    const c = cpuPerRefund(p.usage, p.perSec);
    const cc = cpuPerRefund(ceil.usage, ceil.perSec);
    const st = statementsPerRefund(p);
    const cs = ceilingStatements(ceil);
    const q = perRefund(p.com, p.refunds, 'Questions');
    const bg = round(((p.backgroundQuestionsPerSec ?? 0) * p.wallSeconds) / Math.max(1, p.refunds), 1);
    const prof = profileOf(r, p.name);
    const bound = boundOf(p, cores);
    const rd = p.redis;
    summary.push(`${p.name} ${p.perSec}/s (${pct(p.ratio)})`);
    findings.push(
      `**${p.name}: ${p.perSec} refunds/s = ${pct(p.ratio)} of the raw transaction's ${ceil.perSec}/s** (${ceil.connections} connections, measured just before). Bound by ${bound.text} ` +
        `A refund costs ${c.total} CPU-ms (workers ${c.workers}, MariaDB ${c.MariaDB}, Redis ${c.Redis}${p.method === 'CARD' ? `, fake gateway ${c['fake gateway']}` : ''}) against ${cc.total} for the raw transaction (MariaDB ${cc.MariaDB}, its mysql2 client ${cc.bench}); ` +
        `at that cost the ${cores} cores would carry ≈ ${Math.round((cores * 1000) / Math.max(0.01, c.total))}/s with nothing else running. ` +
        `The workers count ${st.total} statements a refund (the raw transaction ${cs.total}: the difference is ${p.method === 'CARD' ? 'the CARD freeze transaction with its payment reads and write, and ' : ''}the outbox mark after the commit that Redis has learnt of it); MariaDB saw ${q} Questions a refund (the workers' \`tx\` counts SET TRANSACTION, START and COMMIT of each of the ${txPerRefund(p)} transactions)` +
        (bg >= 0.5 ? `, plus ≈ ${bg} a refund from other tenants (${p.backgroundQuestionsPerSec} Questions/s just before)` : '') +
        ` — and ${perRefund(p.com, p.refunds, 'Com_commit')} commits (raw: ${perRefund(ceil.com, ceil.refunds, 'Com_commit')}). ` +
        (rd
          ? `Redis: ${rd.commandsPerRefund} commands a refund (${rd.top
              .slice(0, 4)
              .map((x) => `${x.command} ${x.perRefund}`)
              .join(', ')}), ${rd.usecPerRefund} µs of Redis time. `
          : '') +
        (prof
          ? `worker-1's main thread (profile, this phase): busy ${prof.busyPct}% of the drain; by package on the stack ${topPackages(prof, 4)}; top frames ${topFunctions(prof, 3)}` +
            `${
              prof.topFunctions.slice(0, 3).some((f) => GLOSS[f.name])
                ? ` (${prof.topFunctions
                    .slice(0, 3)
                    .filter((f) => GLOSS[f.name])
                    .map((f) => `\`${f.name}\`: ${GLOSS[f.name]}`)
                    .join('; ')})`
                : ''
            }.`
          : ''),
    );
  }
  const find = (m: string, w: number) => r.phases.find((p) => p.method === m && p.workers === w);
  for (const m of ['BALANCE', 'CARD']) {
    const one = find(m, 1);
    const two = find(m, 2);
    if (one && two && one.perSec > 0) {
      const gain = two.perSec / one.perSec;
      const w1 = worker1Writes(r, one);
      const w2 = worker1Writes(r, two);
      const c1 = cpuPerRefund(one.usage, one.perSec);
      const c2 = cpuPerRefund(two.usage, two.perSec);
      const idle1 = round(100 - one.usage.machineBusyPct, 1);
      const verdict =
        gain >= 1.1
          ? `The second thread found room: the machine went from ${one.usage.machineBusyPct}% to ${two.usage.machineBusyPct}% busy${c2.total < c1.total ? ', and each refund got cheaper' : ''}.`
          : gain <= 0.95
            ? `Two worker processes on these ${cores} cores made each refund dearer than one did: the machine went from ${one.usage.machineBusyPct}% to ${two.usage.machineBusyPct}% busy (it had ${idle1}% left) and the extra CPU went into the same refunds.`
            : `No gain: with one worker the machine was ${one.usage.machineBusyPct}% busy, with two ${two.usage.machineBusyPct}%.`;
      findings.push(
        `${m}: 2 workers complete ${two.perSec}/s against 1 worker's ${one.perSec}/s (×${round(gain, 2)}); against their own ceilings ${pct(two.ratio)} vs ${pct(one.ratio)}. ${verdict} ` +
          `Per refund: CPU-ms ${c2.total} with two against ${c1.total} with one (workers ${c2.workers} vs ${c1.workers}, MariaDB ${c2.MariaDB} vs ${c1.MariaDB})` +
          `${one.ctxt && two.ctxt ? `; context switches on the machine ${two.ctxt.machine} vs ${one.ctxt.machine} (the workers' threads ${sumCtxt(ctxtOf(two.ctxt, isWorker))} vs ${sumCtxt(ctxtOf(one.ctxt, isWorker))}, involuntary ${ctxtOf(two.ctxt, isWorker).involuntary} vs ${ctxtOf(one.ctxt, isWorker).involuntary}; mariadbd's ${sumCtxt(ctxtOf(two.ctxt, (n) => n === 'mariadbd'))} vs ${sumCtxt(ctxtOf(one.ctxt, (n) => n === 'mariadbd'))})` : ''}` +
          `${w1 && w2 ? `; worker-1's thread spent ${w2.writeMsPerRefund} ms in socket writes per refund it completed against ${w1.writeMsPerRefund} alone — profile time is wall time, so a write that wakes a MariaDB or Redis thread and then waits for a core shows there` : ''}.`,
      );
    }
  }
  const b1 = find('BALANCE', 1);
  const c1 = find('CARD', 1);
  if (b1 && c1 && b1.perSec > 0) {
    const cb = cpuPerRefund(b1.usage, b1.perSec);
    const ccard = cpuPerRefund(c1.usage, c1.perSec);
    findings.push(
      `CARD vs BALANCE (1 worker): ${c1.perSec}/s vs ${b1.perSec}/s (${pct(c1.perSec / b1.perSec)}). A CARD refund runs the freeze transaction and the final one around the gateway's partial cancel: ` +
        `${perRefund(c1.com, c1.refunds, 'Com_commit')} vs ${perRefund(b1.com, b1.refunds, 'Com_commit')} commits and ${perRefund(c1.com, c1.refunds, 'Questions')} vs ${perRefund(b1.com, b1.refunds, 'Questions')} Questions a refund, plus one HTTP call; ` +
        `CPU-ms a refund: workers ${ccard.workers} vs ${cb.workers}, MariaDB ${ccard.MariaDB} vs ${cb.MariaDB}, the fake gateway ${ccard['fake gateway']}.`,
    );
  }
  const ceilings = r.ceilings.map((c) => c.perSec);
  if (ceilings.length > 1) {
    findings.push(
      `The ceiling itself moved between ${Math.min(...ceilings)} and ${Math.max(...ceilings)}/s over the run (${r.ceilings.map((c) => `${c.perSec}/s at ${c.connections} connections before ${c.before}`).join('; ')}), which is why each phase is stated against the run just before it. ` +
        `The raw transaction is itself CPU work on these cores: MariaDB ${r.ceilings.map((c) => cpuPerRefund(c.usage, c.perSec).MariaDB).join(' / ')} CPU-ms a refund and its mysql2 client ${r.ceilings.map((c) => cpuPerRefund(c.usage, c.perSec).bench).join(' / ')}, machine ${r.ceilings.map((c) => `${c.usage.machineBusyPct}%`).join(' / ')} busy.`,
    );
  }
  const bad = r.phases.filter((p) => !p.check.ok);
  findings.push(
    bad.length
      ? `**Correctness checks failed** in ${bad.map((p) => `${p.name}: ${p.check.problems.join('; ')}`).join(' | ')}.`
      : `Every phase passed its checks: each refund COMPLETED once (${r.phases.map((p) => p.check.credits.rows).join(' + ')} wallet credits or gateway cancels, one per refund), the cash returned = the cash the orders paid, wallets = ledger, lots = movements, stock = seeded − sold.`,
  );
  const logged = r.phases.length ? r.phases[r.phases.length - 1]!.logs.filter((l) => l.warn || l.error) : [];
  if (logged.length)
    findings.push(
      `Workers logged warnings or errors: ${logged.map((l) => `${l.process} (${l.warn} warn, ${l.error} error)`).join(', ')} — see "Process logs".`,
    );
  const head = overall(r);
  if (head) findings.unshift(head);
  else if (summary.length) findings.unshift(`In short: ${summary.join('; ')} of the raw BALANCE refund transaction measured just before each.`);
  return findings;
}

/** What frames at the top of a worker profile are. */
const GLOSS: Record<string, string> = {
  writeBuffer: 'a native socket write — one syscall per SQL statement or Redis command sent; on loopback the kernel does the TCP work of both ends inside it',
  captureStackHolder: "mysql2's promise wrapper capturing a stack trace for every query",
  writeUtf8String: 'the same socket write for a string (ioredis)',
};

/** The opening paragraph: the figures of all phases read together. */
function overall(r: RefundsResult): string | null {
  const cores = r.machine?.cores ?? 2;
  const find = (m: string, w: number) => r.phases.find((p) => p.method === m && p.workers === w);
  const b1 = find('BALANCE', 1);
  const c1 = find('CARD', 1);
  if (!b1 || !c1 || b1.perSec === 0 || c1.perSec === 0) return null;
  const kinds = r.phases.map((p) => boundOf(p, cores).kind);
  const cpuBound = kinds.every((k) => k !== 'waiting');
  const busy = r.phases.map((p) => p.usage.machineBusyPct);
  const ratios = r.phases.map((p) => `${p.name} ${p.perSec}/s = ${pct(p.ratio)}`).join('; ');
  const cb = cpuPerRefund(b1.usage, b1.perSec);
  const cc = cpuPerRefund(c1.usage, c1.perSec);
  const kb = cpuPerRefund(b1.ceiling.usage, b1.ceiling.perSec);
  const sb = statementsPerRefund(b1);
  const sc = statementsPerRefund(c1);
  const raw = ceilingStatements(b1.ceiling);
  const prof = profileOf(r, b1.name);
  const top = prof?.topFunctions[0];
  const writes = prof?.topFunctions.filter((f) => f.name === 'writeBuffer' || f.name === 'writeUtf8String').reduce((a, f) => a + f.pct, 0) ?? 0;
  const parts = [
    `**Refunds/s against the raw BALANCE transaction measured just before each phase: ${ratios}.** `,
    cpuBound
      ? `Every phase kept the CPU full — the machine ${Math.min(...busy)}–${Math.max(...busy)}% busy${kinds.some((k) => k === 'worker' || k === 'both') ? ', or one worker process at ≥ 85% of its core' : ''} — so what bounds refunds/s is CPU, and each ratio is what a refund costs beyond the raw transaction. `
      : `Not every phase kept the CPU full (machine ${Math.min(...busy)}–${Math.max(...busy)}% busy): where it was not, the jobs wait (see below). `,
    `A BALANCE refund costs ${cb.total} CPU-ms with one worker (the worker process ${cb.workers}, MariaDB ${cb.MariaDB}, Redis ${cb.Redis}) against ${kb.total} for the raw transaction (MariaDB ${kb.MariaDB}, its mysql2 client ${kb.bench}): `,
    `the worker adds ${round(sb.total - (raw.total + raw.isolation), 1)} statements to the raw transaction's ${round(raw.total + raw.isolation, 1)} (the outbox mark after the commit) and ≈ ${b1.redis ? Math.round(b1.redis.commandsPerRefund) : '?'} Redis commands, those BullMQ's Lua scripts run inside Redis included (the job's scripts, the customer lock, the sold-out gate, the order's cached view and event), and runs them through BullMQ, TypeORM and the promise wrapper of mysql2. `,
    prof && top
      ? `worker-1's thread was ${prof.busyPct}% busy over that phase, ${round(writes, 0)}% of it in socket writes (${top.name === 'writeBuffer' || top.name === 'writeUtf8String' ? `\`${top.name}\`: ${GLOSS[top.name]}` : `top frame \`${top.name}\``}) — sending the statements and commands one at a time, more than building them, is the worker's cost. `
      : '',
    `A CARD refund costs ${cc.total} CPU-ms (worker ${cc.workers}, MariaDB ${cc.MariaDB}, the fake gateway ${cc['fake gateway']}): a freeze transaction before the gateway's partial cancel and the final one after (${sc.total} counted statements against ${sb.total}, ${perRefund(c1.com, c1.refunds, 'Com_commit')} commits against ${perRefund(b1.com, b1.refunds, 'Com_commit')}) plus an HTTP round trip, so it ends further from the BALANCE ceiling. `,
  ];
  const b2 = find('BALANCE', 2);
  const c2 = find('CARD', 2);
  if (b2 && c2)
    parts.push(
      `A second worker process changes BALANCE ×${round(b2.perSec / b1.perSec, 2)} and CARD ×${round(c2.perSec / c1.perSec, 2)}: with ${cores} cores shared by the workers, MariaDB and Redis, another JavaScript thread helps only while the first one, not the cores, was the bound (machine ${b1.usage.machineBusyPct}% / ${c1.usage.machineBusyPct}% busy with one worker, ${b2.usage.machineBusyPct}% / ${c2.usage.machineBusyPct}% with two).`,
    );
  if (b1.ctxt && b1.ceiling.ctxt)
    parts.push(
      ` Each round trip is a loopback write that wakes another process's thread: the machine switched context ${b1.ctxt.machine} times per BALANCE refund with one worker (${c1.ctxt ? `${c1.ctxt.machine} per CARD refund` : ''}) against ${b1.ceiling.ctxt.machine} for the raw transaction.`,
    );
  return parts.join('');
}

// ---------------------------------------------------------------- markdown

const fmt = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n);

function ceilingRow(c: CeilingRun): (string | number)[] {
  const cc = cpuPerRefund(c.usage, c.perSec);
  return [
    c.before,
    c.connections,
    `${c.refunds} (${c.completedInMysql ?? '–'})`,
    c.seconds,
    `**${c.perSec}**`,
    round(c.latencyMs.p50, 1),
    round(c.latencyMs.p99, 1),
    c.retries,
    perRefund(c.com, c.refunds, 'Questions'),
    perRefund(c.com, c.refunds, 'Com_commit'),
    round(
      cpuOf(c.usage, (n) => n === 'mariadbd'),
      0,
    ),
    round(
      cpuOf(c.usage, (n) => n.startsWith('bench')),
      0,
    ),
    c.usage.machineBusyPct,
    cc.total,
  ];
}

export function renderRefundsReport(r: RefundsResult): string {
  const s = r.settings;
  const m = r.machine;
  const out: string[] = [];
  out.push(`# Refunds benchmark — ${r.startedAt.slice(0, 10)}`, '');
  out.push(
    `\`npm run bench:refunds\` (bench/refunds.ts; also the last part of \`npm run bench\`), started ${r.startedAt}, took ${r.totalSeconds} s, on ${m.cores} × ${m.cpuModel} (Node ${m.node}, MariaDB ${m.mysqlVersion}, Redis ${m.redisVersion}; innodb_flush_log_at_trx_commit=${m.mysqlSettings.innodb_flush_log_at_trx_commit ?? '?'}, log_bin=${m.mysqlSettings.log_bin ?? '?'}). ` +
      `Own database \`${r.database}\` and Redis prefix \`${r.redisPrefix}*\`, dropped afterwards. Workers, MariaDB, Redis, the fake gateway and the bench share these ${m.cores} cores. Raw figures: the JSON file next to this one.`,
  );
  if (r.error) out.push('', `> **The run failed:** \`${r.error.split('\n')[0]}\` — figures below are what was measured before that.`);
  const noisy = [
    ...r.phases.map((p) => ({ what: p.name, other: p.usage.otherCpuPct })),
    ...r.ceilings.map((c) => ({ what: `ceiling before ${c.before}`, other: c.usage.otherCpuPct })),
  ].filter((x) => x.other >= NOISY_OTHER_CPU);
  out.push('');
  if (r.busyBefore > 15 || noisy.length)
    out.push(
      `> **This machine was not quiet.** Load average when the bench started: ${r.loadavgBefore}. ${r.busyBefore > 15 ? `Before the bench started anything it was ${r.busyBefore}% busy. ` : ''}${noisy.length ? `Other processes took CPU during ${noisy.map((x) => `${x.what} (${round(x.other, 0)}% of a core)`).join(', ')}.` : ''}`,
    );
  else
    out.push(
      `The machine was quiet: load average ${r.loadavgBefore} when the bench started, ${r.busyBefore}% busy before it started anything, other processes under ${NOISY_OTHER_CPU}% of a core in every phase and ceiling run.`,
    );

  out.push('', '## Refunds per second', '');
  out.push(
    `Each phase: ${s.refundsPerPhase} refunds (${Math.ceil(s.refundsPerPhase / 3)} orders × 3 partial refunds) whose jobs are added to the paused \`refunds\` queue, which is then resumed. ` +
      `**refunds/s** = the phase's refunds ÷ the span from the first to the last \`completed_at\` (MySQL); *wall* = from the resume until the workers' \`bazaar_refunds_total{outcome="completed"}\` counted them all. ` +
      `**ceiling** = the raw BALANCE refund transaction over plain mysql2 connections, as many as the phase's workers hold in flight (${s.workerConcurrency} jobs and ${s.workerPoolSize} pooled connections a worker), measured for ${s.ceilingSeconds} s just before the phase; the ratio is to that run (this VM drifts by ±30% over minutes). ` +
      'CPU in % of one core over the drain.',
    '',
  );
  out.push(
    table(
      [
        'phase',
        'refunds',
        '**refunds/s**',
        'ceiling refunds/s (connections)',
        '**÷ ceiling**',
        'wall s',
        'wall refunds/s',
        'workers CPU %',
        'mariadbd CPU %',
        'redis CPU %',
        'gateway CPU %',
        'bench CPU %',
        'machine busy %',
        'CPU-ms / refund',
        'failed attempts',
        'checks',
      ],
      r.phases.map((p) => [
        p.name,
        p.refunds,
        `**${p.perSec}**`,
        `${p.ceiling.perSec} (${p.ceiling.connections})`,
        `**${pct(p.ratio)}**`,
        p.wallSeconds,
        p.wallPerSec,
        round(cpuOf(p.usage, isWorker), 0),
        round(
          cpuOf(p.usage, (n) => n === 'mariadbd'),
          0,
        ),
        round(
          cpuOf(p.usage, (n) => n === 'redis-server'),
          0,
        ),
        round(
          cpuOf(p.usage, (n) => n === 'fake-gateway'),
          0,
        ),
        round(
          cpuOf(p.usage, (n) => n.startsWith('bench')),
          0,
        ),
        p.usage.machineBusyPct,
        cpuPerRefund(p.usage, p.perSec).total,
        p.failedAttempts,
        p.check.ok ? 'ok' : '**failed**',
      ]),
    ),
  );
  if (r.findings.length) {
    out.push('', '## What bounds it', '');
    for (const f of r.findings) out.push(`- ${f}`);
  }

  // statements
  out.push('', '## Statements per refund', '');
  out.push(
    "From the workers' `bazaar_refund_statements_total{step}` (scraped from each worker's /metrics before and after the phase, summed over workers) ÷ the phase's refunds. `lock` is the job's refund still PENDING?, the order locked, its oldest pending refund chosen and locked; `tx` is counted as 3 a transaction (SET TRANSACTION ISOLATION LEVEL, START TRANSACTION, COMMIT); a CARD refund locks and prices in its freeze transaction and locks again in the final one. " +
      "The ceiling column is the raw transaction's own count, step by step (the same step code), of its first run. " +
      "Below, MariaDB's counters (SHOW GLOBAL STATUS deltas over the phase — server-wide, so other tenants' statements are in them: see the last row) ÷ refunds: the same statements, seen from the server (Com_set_option is the SET TRANSACTION).",
    '',
  );
  const sts = r.phases.map((p) => statementsPerRefund(p));
  const steps = [...new Set(sts.flatMap((x) => Object.keys(x.steps)))].sort((a, b) => STEP_ORDER.indexOf(a) - STEP_ORDER.indexOf(b));
  const ceil0 = r.ceilings[0];
  const ceilSteps = ceil0 ? ceilingStatements(ceil0) : null;
  out.push(
    table(
      ['per refund', ...r.phases.map((p) => p.name), 'ceiling (raw transaction)'],
      [
        ...steps.map((k) => [`statements: ${k}`, ...sts.map((x) => fmt(x.steps[k])), ceilSteps ? fmt(ceilSteps.steps[k]) : '–']),
        ['**statements, all steps**', ...sts.map((x) => `**${x.total}**`), ceilSteps ? `**${ceilSteps.total}**` : '–'],
        ["statements: isolation (the ceiling's SET TRANSACTION; the workers count theirs under tx)", ...r.phases.map(() => '–'), ceilSteps ? fmt(ceilSteps.isolation) : '–'],
        ...COM_KEYS.map((k) => [
          k === 'Questions' ? '**MariaDB Questions**' : `MariaDB ${k}`,
          ...r.phases.map((p) => (k === 'Questions' ? `**${perRefund(p.com, p.refunds, k)}**` : perRefund(p.com, p.refunds, k))),
          ceil0 ? (k === 'Questions' ? `**${perRefund(ceil0.com, ceil0.refunds, k)}**` : perRefund(ceil0.com, ceil0.refunds, k)) : '–',
        ]),
        [
          'row-lock waits',
          ...r.phases.map((p) => perRefund(p.com, p.refunds, 'Innodb_row_lock_waits')),
          ceil0 ? perRefund(ceil0.com, ceil0.refunds, 'Innodb_row_lock_waits') : '–',
        ],
        ['deadlocks (phase total)', ...r.phases.map((p) => p.deadlocks), ceil0 ? (ceil0.com.Innodb_deadlocks ?? 0) : '–'],
        [
          "others' Questions/s over 1 s just before",
          ...r.phases.map((p) => p.backgroundQuestionsPerSec ?? '–'),
          ceil0 ? (ceil0.backgroundQuestionsPerSec ?? '–') : '–',
        ],
      ],
    ),
  );

  if (r.phases.some((p) => p.redis)) {
    out.push(
      '',
      "Redis commands per refund (INFO commandstats deltas over the phase; the server is shared, so other tenants' commands are in them too): BullMQ's scripts (EVALSHA) and blocking pops, the customer lock, the sold-out gate's return, the order's cached view and its event.",
      '',
    );
    const cmds = [...new Set(r.phases.flatMap((p) => p.redis?.top.map((x) => x.command) ?? []))];
    out.push(
      table(
        ['per refund', ...r.phases.map((p) => p.name)],
        [
          ['**all commands**', ...r.phases.map((p) => `**${fmt(p.redis?.commandsPerRefund)}**`)],
          ...cmds.map((k) => [k, ...r.phases.map((p) => fmt(p.redis?.top.find((x) => x.command === k)?.perRefund))]),
          ['Redis time, µs a refund', ...r.phases.map((p) => fmt(p.redis?.usecPerRefund))],
        ],
      ),
    );
  }

  // CPU per refund
  out.push('', '## CPU per refund', '');
  out.push(
    "Each process group's CPU over the drain (or the ceiling run) ÷ its refunds/s, in CPU-ms a refund; the machine's cores give 1000 CPU-ms a second each.",
    '',
  );
  out.push(
    table(
      ['run', ...GROUPS.map(([g]) => g), 'total', `max refunds/s at this cost on ${m.cores} cores`],
      [
        ...r.phases.map((p) => {
          const c = cpuPerRefund(p.usage, p.perSec);
          return [p.name, ...GROUPS.map(([g]) => c[g]), `**${c.total}**`, Math.round((m.cores * 1000) / Math.max(0.01, c.total))];
        }),
        ...r.ceilings.map((cl) => {
          const c = cpuPerRefund(cl.usage, cl.perSec);
          return [`ceiling before ${cl.before}`, ...GROUPS.map(([g]) => c[g]), `**${c.total}**`, Math.round((m.cores * 1000) / Math.max(0.01, c.total))];
        }),
      ],
    ),
  );

  if (r.phases.some((p) => p.ctxt)) {
    out.push('', '## Context switches per refund', '');
    out.push(
      "From /proc: the whole machine (`ctxt` of /proc/stat) and each process's threads (`voluntary_ctxt_switches` — it waited: for a socket, a lock, the disk — and `nonvoluntary_ctxt_switches` — the kernel took its core away), over the drain or the ceiling run, ÷ its refunds.",
      '',
    );
    const col = (c: CtxtPerRefund | undefined, match: (n: string) => boolean) => {
      const x = ctxtOf(c, match);
      return `${x.voluntary} / ${x.involuntary}`;
    };
    out.push(
      table(
        ['run', 'machine', 'workers vol / invol', 'mariadbd vol / invol', 'redis-server vol / invol', 'fake gateway vol / invol', 'bench vol / invol'],
        [...r.phases.map((p) => ({ name: p.name, c: p.ctxt })), ...r.ceilings.map((c) => ({ name: `ceiling before ${c.before}`, c: c.ctxt }))].map(
          ({ name, c }) => [
            name,
            fmt(c?.machine),
            col(c, isWorker),
            col(c, (n) => n === 'mariadbd'),
            col(c, (n) => n === 'redis-server'),
            col(c, (n) => n === 'fake-gateway'),
            col(c, (n) => n.startsWith('bench')),
          ],
        ),
      ),
    );
  }

  // ceilings
  out.push('', '## The ceiling runs', '');
  out.push(
    "Each run: the BALANCE refund's final transaction (SET TRANSACTION ISOLATION LEVEL READ COMMITTED, START TRANSACTION, the lock and price steps, REFUND_STEPS, COMMIT) from the worker's own step code over a QueryRunner-shaped adapter on plain mysql2 connections (callback API, as TypeORM's driver) — no BullMQ, no Redis lock, no TypeORM pool, no api. Each connection owns its orders (one customer each) and applies each order's refunds in the order requested, two orders at a time (one with points, one without) so a run cut off by its time has the phases' mix of refunds. Latency is one refund's transaction.",
    '',
  );
  out.push(
    table(
      [
        'before phase',
        'connections',
        'refunds (COMPLETED in MySQL)',
        'seconds',
        'refunds/s',
        'p50 ms',
        'p99 ms',
        'retries',
        'Questions / refund',
        'commits / refund',
        'mariadbd CPU %',
        'bench CPU %',
        'machine busy %',
        'CPU-ms / refund',
      ],
      r.ceilings.map(ceilingRow),
    ),
  );

  // checks
  out.push('', '## Correctness after each phase', '');
  out.push(
    "Read from MySQL (and for CARD the fake gateway's `/__test/ledger`) once the phase's queue had drained. *credits*: BALANCE — the `ORDER_REFUND` wallet ledger rows whose ref is one of the phase's refunds; CARD — the cancels the gateway applied on the phase's payments (each with the refund id as its Idempotency-Key). *Whole database*: wallets whose balance ≠ the sum of their ledger or its last balance_after; lots whose remaining ≠ the sum of their movements; stock ≠ seeded − units still sold.",
    '',
  );
  out.push(
    table(
      [
        'phase',
        'refunds by status',
        'orders REFUNDED',
        'cash paid',
        'cash returned',
        'orders off',
        'credits (distinct refunds)',
        'credits sum',
        'spend rows not returned',
        'reward lots ≠ 0',
        'CARD: payment rows / gateway payments at 0 / replayed cancels',
        'wallets ≠ ledger',
        'lots ≠ movements',
        'stock off',
        'verdict',
      ],
      r.phases.map((p) => {
        const c = p.check;
        return [
          p.name,
          JSON.stringify(c.byStatus).replace(/"/g, ''),
          `${c.ordersRefunded} / ${c.orders}`,
          c.cashPaid,
          c.cashReturned,
          c.ordersOff,
          `${c.credits.rows} (${c.credits.distinct})`,
          c.credits.sum,
          c.spendsNotReturned,
          c.rewardLotsLeft,
          c.card ? `${c.card.paymentRowsCancelled} / ${c.card.gatewayPaymentsAtZero} / ${c.card.replayedCancels}` : '–',
          c.walletsOffLedger,
          c.lotsOffMovements,
          c.stockOff,
          c.ok ? 'ok' : `**${c.problems.join('; ')}**`,
        ];
      }),
    ),
  );
  if (r.finalInvariants)
    out.push(
      '',
      `After the last phase, over the whole database (the ceiling runs' refunds included): ${r.finalInvariants.problems.length ? `**${r.finalInvariants.problems.join('; ')}**` : 'wallets = ledger, lots = movements, stock = seeded − sold'}.`,
    );
  if (r.warmups.length)
    out.push(
      '',
      `Warm-ups (not measured): ${r.warmups.map((w) => `${w.name} — ${w.refunds} refunds in ${w.seconds} s, checks ${w.ok ? 'ok' : '**failed**'}`).join('; ')}.`,
    );

  // usage
  for (const p of r.phases) out.push('', `### CPU and memory: ${p.name}`, '', usageTable(p.usage));

  // profiles
  if (r.profiles.length) {
    out.push('', '## CPU profile of worker-1', '');
    out.push(
      "worker-1 ran with `--cpu-prof` through the whole run (so its figures include the profiler's overhead); below, its main thread summarized over each phase's drain (in the 2-worker phases it completed about half the refunds). " +
        "*busy* is the share of the drain the thread was not idle in the event loop — wall time, so a thread that waits for a core inside a syscall counts as busy, which the sampler's CPU % does not.",
      '',
      table(
        [
          'phase',
          'refunds worker-1 completed',
          'CPU % (sampler)',
          'thread busy % (profile)',
          'socket writes, ms a refund',
          'by package on the stack',
          'biggest native frames',
        ],
        r.phases.map((p) => {
          const prof = profileOf(r, p.name);
          const w = worker1Writes(r, p);
          return [
            p.name,
            fmt(w?.refunds),
            round(p.usage.processes.find((x) => x.name === 'worker-1')?.cpuPct ?? 0, 0),
            fmt(prof?.busyPct),
            fmt(w?.writeMsPerRefund),
            topPackages(prof, 4),
            topNative(prof, 2),
          ];
        }),
        'lrrrrll',
      ),
    );
    for (const p of r.profiles.filter((x) => x.label.includes('1 worker'))) out.push('', profileTables(p, `CPU profile: ${p.label}`));
  }

  const logs = new Map<string, ProcessLog>();
  for (const p of r.phases) for (const l of p.logs) logs.set(l.process, l);
  out.push('', '## Process logs', '', 'Workers at LOG_LEVEL=warn, at the end of the run:', '', logsSection([...logs.values()]));

  out.push('', '## Notes', '');
  out.push(
    `- Seed (${r.seed.seconds} s): ${r.seed.orders} paid orders, one customer each, of two lines (3 and 2 units of two of ${s.products} products), written into MySQL by the worker's own statement builders and pricing (\`settlementRows\`, \`OrderSettlementRepository\` / \`PointsRepository\` statements: order and lines, wallet debit and ledger row or the card's payment row PENDING → PAID / DONE, point spend lot by lot, stock, reward lot), in multi-statement transactions of ${s.seedChunk} orders. ` +
      `Every other order spends 200 points, 150 of them from a granted lot that expired after the spend (its give-back is re-issued as a new lot) and 50 from a live one (restored); every order has its reward lot (1% of the cash), clawed back refund by refund. No coupons. ` +
      `${r.seed.gatewayPayments} CARD charges exist at the fake gateway (a key minted with \`POST /__test/payment-keys\`, confirmed with \`POST /v1/payments/confirm\`).`,
    `- Refunds (${r.seed.refunds}) are inserted as rows (refund, its lines, the units held pending: what \`refunds.request\` writes), **not requested through the api**, so each drain measures the workers alone; their jobs are added with \`Queue.addBulk\` (job id = refund id, the queue's default attempts and backoff). Per order: 1 unit of line 1; then 1 + 1; then the last 1 + 1 (the order becomes REFUNDED). The queue holds every order's first refund before any second, so one order's refunds are rarely in flight together. No scheduler runs (nothing needs reconciling).`,
    "- `completed_at` is the refund's clock, taken by the worker as it starts applying the refund (for CARD before the gateway call), so the span from the first to the last is the workers' pace with the queue never empty; *wall* includes the start and the tail.",
    "- SHOW GLOBAL STATUS and Redis INFO are server-wide: other tenants of this MariaDB and Redis are in their deltas (the row \"others' Questions/s\" says how many there were just before each phase). The workers' counters and the ceiling's own counts are exact.",
    `- Warm-up: before the 1-worker phases and again after starting worker-2, ${s.warmupRefunds} BALANCE and ${s.warmupRefunds} CARD refunds are drained unmeasured.`,
    `- Settings: ${Object.entries(s)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(', ')}. Every BENCH_REFUNDS_* variable is read in \`settings()\` of bench/refunds.ts.`,
    `- CPU profiles (.cpuprofile, open in Chrome DevTools): ${r.profileDir ?? 'not taken (BENCH_PROFILE=0)'}.`,
    `- Cleanup: ${r.cleanup.length ? r.cleanup.join('; ') : 'database dropped and Redis keys deleted'}.`,
  );
  return `${out.join('\n')}\n`;
}
