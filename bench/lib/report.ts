import type { ProfileSummary } from './cpuprofile';
import type { PhaseUsage } from './sampler';
import { round } from './stats';
import type { BenchResult, PipelineRun, ProcessLog, Target } from './types';

/** A pipeline run's name: its workers, its batching and, when it is not the project's, its Node. */
export function runLabel(p: Pick<PipelineRun, 'workers'> & Partial<Pick<PipelineRun, 'batchSize' | 'node'>>): string {
  const batch = (p.batchSize ?? 1) > 1 ? `batching on (${p.batchSize})` : 'batching off';
  const node = p.node && !p.node.startsWith('v24') ? `, Node ${p.node}` : '';
  return `${p.workers} worker${p.workers > 1 ? 's' : ''}, ${batch}${node}`;
}

/** Targets from the issue, the verdicts, and what the measurements say bounds a miss. */

const TARGET_PAID_PER_SEC = 1000;
const TARGET_ACCEPT_P99_MS = 25;
const TARGET_FLASH_ANSWER_MS = 2000;
const TARGET_HOT_P99_MS = 100;
const TARGET_API_RSS_MB = 200;
const TARGET_WORKER_RSS_MB = 150;

const pctShort = (have: number, want: number) => `${round(want - have, 0)} short (${round(((want - have) / want) * 100, 0)}% below)`;

function bestRun(r: BenchResult): PipelineRun | null {
  return r.pipeline.reduce<PipelineRun | null>((best, x) => (!best || x.paidPerSec > best.paidPerSec ? x : best), null);
}

/** The profiles of the best shape: from the separate profiled run (reports before it had them on the measured runs). */
const profilesOf = (r: BenchResult, best: PipelineRun) => (r.profileRun?.profiles.length ? r.profileRun.profiles : best.profiles);

const ceilingOf = (r: BenchResult) => Math.max(0, ...r.micro.map((m) => m.txPerSec));

/** A drain measures the workers' own pace only if they had work the whole time. */
const drainValid = (p: PipelineRun) => p.drain.seconds > 0 && p.drain.paidPerSec > 0 && p.drain.backlogAfter > 0;

const cpuOf = (u: PhaseUsage, match: (name: string) => boolean) => u.processes.filter((p) => match(p.name)).reduce((s, p) => s + p.cpuPct, 0);

/** CPU-ms per transaction in (a), and the tx/s the cores would carry at that cost with nothing else running. */
export function microQuiet(m: { txPerSec: number; usage: PhaseUsage }): { mariadb: number; client: number; maxPerSec: number } {
  const mariadb = (cpuOf(m.usage, (n) => n === 'mariadbd') * 10) / Math.max(1, m.txPerSec);
  const client = (cpuOf(m.usage, (n) => n.startsWith('bench')) * 10) / Math.max(1, m.txPerSec);
  return { mariadb: round(mariadb, 2), client: round(client, 2), maxPerSec: Math.round((m.usage.cores * 1000) / Math.max(0.01, mariadb + client)) };
}

export interface CpuBudget {
  /** CPU-ms per order, by who spends it. */
  api: number;
  redisAccept: number;
  workers: number;
  mariadb: number;
  redisSettle: number;
  accept: number;
  settle: number;
  total: number;
  loadGenerator: number;
  /** Orders/s the machine's cores could carry end to end at this cost, with nothing else running. */
  maxPerSec: number;
}

/**
 * CPU-ms each order costs, from a run's CPU figures: the api per accepted
 * order, workers and MariaDB per PAID order, and Redis split between the two
 * by what it spends per order while the workers drain alone.
 */
export function cpuBudget(run: PipelineRun): CpuBudget | null {
  const u = run.usage;
  const accepted = run.load.acceptedPerSec;
  const paid = run.paidPerSec;
  if (accepted <= 0 || paid <= 0) return null;
  const ms = (pct: number, perSec: number) => (pct * 10) / perSec;
  const redisLoad = cpuOf(u, (n) => n === 'redis-server');
  const redisSettle = drainValid(run)
    ? ms(
        cpuOf(run.drain.usage, (n) => n === 'redis-server'),
        run.drain.paidPerSec,
      )
    : ms(redisLoad, accepted + paid);
  const redisAccept = Math.max(0, (redisLoad * 10 - redisSettle * paid) / accepted);
  const api = ms(
    cpuOf(u, (n) => n === 'api'),
    accepted,
  );
  const workers = ms(
    cpuOf(u, (n) => n.startsWith('worker-')),
    paid,
  );
  const mariadb = ms(
    cpuOf(u, (n) => n === 'mariadbd'),
    paid,
  );
  const accept = api + redisAccept;
  const settle = workers + mariadb + redisSettle;
  const total = accept + settle;
  return {
    api: round(api, 2),
    redisAccept: round(redisAccept, 2),
    workers: round(workers, 2),
    mariadb: round(mariadb, 2),
    redisSettle: round(redisSettle, 2),
    accept: round(accept, 2),
    settle: round(settle, 2),
    total: round(total, 2),
    loadGenerator: round(
      ms(
        cpuOf(u, (n) => n.startsWith('bench')),
        accepted,
      ),
      2,
    ),
    maxPerSec: Math.round((u.cores * 1000) / total),
  };
}

export function cpuLine(u: PhaseUsage): string {
  const groups = new Map<string, number>();
  for (const p of u.processes) {
    const g = p.name.startsWith('worker-') ? 'workers' : p.name;
    groups.set(g, (groups.get(g) ?? 0) + p.cpuPct);
  }
  const parts = [...groups.entries()].sort((a, b) => b[1] - a[1]).map(([n, v]) => `${n} ${round(v, 0)}%`);
  if (u.otherCpuPct >= 5) parts.push(`other processes on the machine ${round(u.otherCpuPct, 0)}%`);
  return parts.join(', ');
}

export function topPackages(p: ProfileSummary | undefined | null, n = 5): string {
  if (!p) return 'no profile';
  return (p.byOwner?.length ? p.byOwner : p.byPackage)
    .slice(0, n)
    .map((x) => `${x.name} ${x.pct}%`)
    .join(', ');
}

/** What some frames that often top these profiles are, so the report can say it. */
const GLOSSARY: Record<string, string> = {
  writeBuffer:
    'a native socket write: one syscall per SQL statement, Redis command or HTTP response; on loopback the kernel does the TCP work of both ends inside it',
  writeUtf8String: 'the same for a string',
  writev: 'the same for several buffers',
  captureStackHolder: "mysql2's promise API capturing a stack trace (`new Error()`) for every query",
  '(garbage collector)': 'V8 garbage collection: short-lived objects allocated per request',
  createAbortSignal: 'an AbortController/AbortSignal created per request (tRPC and fetch-style Request objects)',
  makeTransferable: 'part of creating an AbortSignal in Node 20',
  _objectSpread2: "tRPC's object-spread helper (its compiled `{...x}`), used all over its request pipeline",
};

function glossary(...profiles: (ProfileSummary | undefined | null)[]): string {
  const seen = new Set<string>();
  for (const p of profiles) for (const f of p?.topFunctions.slice(0, 4) ?? []) if (GLOSSARY[f.name]) seen.add(f.name);
  return Object.keys(GLOSSARY)
    .filter((n) => seen.has(n))
    .map((n) => `\`${n}\` is ${GLOSSARY[n]}`)
    .join('; ');
}

export function topNative(p: ProfileSummary | undefined | null, n = 3): string {
  if (!p?.nativeByCaller?.length) return 'none';
  return p.nativeByCaller
    .slice(0, n)
    .map((x) => `${x.name} ${x.pct}%`)
    .join(', ');
}

export function topFunctions(p: ProfileSummary | undefined | null, n = 4): string {
  if (!p) return 'no profile';
  return p.topFunctions
    .slice(0, n)
    .map((x) => `\`${x.name}\`${x.where ? ` (${x.where.split('/').slice(-2).join('/')})` : ''} ${x.pct}%`)
    .join(', ');
}

export function analyze(r: BenchResult): { targets: Target[]; findings: string[] } {
  const targets: Target[] = [];
  const findings: string[] = [];
  const ceiling = ceilingOf(r);
  const best = bestRun(r);

  if (best) {
    const paid = best.paidPerSec;
    targets.push({
      phase: '(b)',
      what: `orders PAID/s sustained ${r.settings.loadSeconds} s (best: ${runLabel(best)})`,
      target: `≥ ${TARGET_PAID_PER_SEC}/s`,
      measured: `${paid}/s`,
      pass: paid >= TARGET_PAID_PER_SEC,
      gap: paid >= TARGET_PAID_PER_SEC ? '' : `${pctShort(paid, TARGET_PAID_PER_SEC)}`,
    });
    if (ceiling > 0) {
      // The pipeline must settle at least as many orders a second as the bare one-order-per-transaction loop commits.
      targets.push({
        phase: '(b)',
        what: `PAID/s vs the raw MariaDB ceiling (a, best shape: ${r.micro.find((m) => m.txPerSec === ceiling)?.shape ?? 'statements'})`,
        target: `≥ ${ceiling}/s (1.0 × ${ceiling} tx/s)`,
        measured: `${paid}/s (${round((paid / ceiling) * 100, 0)}% of (a))`,
        pass: paid >= ceiling,
        gap: paid >= ceiling ? '' : pctShort(paid, ceiling),
      });
    }
    for (const run of r.pipeline) {
      const p99 = run.load.latencyMs.p99;
      targets.push({
        phase: '(b)',
        what: `accept p99 at ${run.load.connections} connections, ${runLabel(run)}`,
        target: `< ${TARGET_ACCEPT_P99_MS} ms`,
        measured: `${p99} ms`,
        pass: p99 < TARGET_ACCEPT_P99_MS && run.load.connections >= 200,
        gap: p99 < TARGET_ACCEPT_P99_MS ? '' : `${round(p99 - TARGET_ACCEPT_P99_MS, 0)} ms over (${round(p99 / TARGET_ACCEPT_P99_MS, 1)}×)`,
      });
    }
  }

  for (const o of r.openLoop ?? []) {
    const name = `open loop ${o.rate}/s offered (${o.workers} workers${o.workerNice ? `, WORKER_NICE=${o.workerNice}` : ''})`;
    const lat = (label: string, v: number, limit: number) =>
      targets.push({ phase: '(d)', what: `${name}: accept ${label}`, target: `< ${limit} ms`, measured: `${v} ms`, pass: v < limit, gap: v < limit ? '' : `${round(v - limit, 1)} ms over (${round(v / limit, 1)}×)` });
    lat('p50', o.acceptMs.p50, 5);
    lat('p99', o.acceptMs.p99, 25);
    lat('p99.9', o.acceptMs.p999, 100);
    const bounded = o.unsettledAfterDrain === 0 && o.backlogAtEnd <= o.rate;
    targets.push({
      phase: '(d)',
      what: `${name}: accepted → PAID p99, backlog bounded`,
      target: '< 1000 ms, backlog ≤ 1 s of orders when the load stops',
      measured: `${o.toPaidMs.p99} ms; backlog ${o.backlogAtEnd} at the end, ${o.unsettledAfterDrain} unsettled after the drain`,
      pass: o.toPaidMs.p99 < 1000 && bounded,
      gap: [o.toPaidMs.p99 >= 1000 ? `${round(o.toPaidMs.p99 - 1000, 0)} ms over` : '', bounded ? '' : 'backlog grew'].filter(Boolean).join('; '),
    });
  }

  const f = r.flash;
  if (f) {
    const a = f.answers;
    const others = Object.values(a.otherStatus).reduce((s, x) => s + x, 0) + a.networkErrors;
    const answeredOk = a.answerMs.max <= TARGET_FLASH_ANSWER_MS && others === 0 && a.answerMs.count === a.requests;
    targets.push({
      phase: '(c)',
      what: `every one of ${a.requests} orders answered within ${TARGET_FLASH_ANSWER_MS / 1000} s of the sale's start`,
      target: `max ≤ ${TARGET_FLASH_ANSWER_MS} ms, no errors`,
      measured: `max ${round(a.answerMs.max, 0)} ms, p99 ${round(a.answerMs.p99, 0)} ms; ${others} errors`,
      pass: answeredOk,
      gap: answeredOk
        ? ''
        : `${a.answerMs.max > TARGET_FLASH_ANSWER_MS ? `${round(a.answerMs.max - TARGET_FLASH_ANSWER_MS, 0)} ms over` : ''}${others ? ` ${others} answers were errors` : ''}`.trim(),
    });
    const exact = f.paid === r.settings.flashStock && f.stockAfter === 0 && a.accepted === r.settings.flashStock;
    targets.push({
      phase: '(c)',
      what: `exactly ${r.settings.flashStock} sold`,
      target: `${r.settings.flashStock} PAID, stock 0`,
      measured: `${f.paid} PAID, ${f.failed} FAILED, stock ${f.stockAfter}, ${a.accepted} accepted`,
      pass: exact,
      gap: exact ? '' : `${f.paid - r.settings.flashStock} PAID vs stock`,
    });
  }

  // Memory under the 200-connection load: the measured (unprofiled) runs on the project's Node, the worst of them.
  const measured = r.pipeline.filter((p) => !p.profiled && p.node === r.machine.node && p.load.connections >= 200);
  if (measured.length && measured.every((p) => p.profiled !== undefined)) {
    const rss = (want: (name: string) => boolean) => {
      let worst = { mb: 0, avg: 0, run: '' };
      for (const p of measured)
        for (const x of p.usage.processes)
          if (want(x.name) && x.rssMaxMb > worst.mb) worst = { mb: round(x.rssMaxMb, 0), avg: round(x.rssAvgMb, 0), run: runLabel(p) };
      return worst;
    };
    for (const [who, want, limit] of [
      ['api', (n: string) => n === 'api', TARGET_API_RSS_MB],
      ['each worker', (n: string) => n.startsWith('worker'), TARGET_WORKER_RSS_MB],
    ] as const) {
      const w = rss(want);
      targets.push({
        phase: '(b)',
        what: `${who}: RSS under the ${r.settings.connections}-connection load (the highest 1 s sample of any measured run)`,
        target: `< ${limit} MB`,
        measured: `${w.mb} MB max (${w.run}; its average ${w.avg} MB)`,
        pass: w.mb < limit,
        gap: w.mb < limit ? '' : `${round(w.mb - limit, 0)} MB over`,
      });
    }
  }

  const h = r.hotFlash;
  if (h) {
    const others = Object.values(h.other).reduce((a, x) => a + x, 0) + h.errors;
    const units = h.products.length * h.stockEach;
    const exact = h.paid === units && h.accepted === units && h.stockAfter.every((x) => x === 0);
    targets.push({
      phase: '(e)',
      what: `${h.sent} orders over ${h.seconds} s on ${h.products.length} hot products × ${h.stockEach}: exactly ${units} sold`,
      target: `${units} PAID, every stock 0`,
      measured: `${h.paid} PAID, ${h.failed} FAILED, ${h.accepted} accepted, stock ${[...new Set(h.stockAfter)].join('/')}`,
      pass: exact,
      gap: exact ? '' : `${h.paid - units} PAID vs the units`,
    });
    const ok = h.answerMs.p99 < TARGET_HOT_P99_MS && others === 0;
    targets.push({
      phase: '(e)',
      what: `the same sale: answer p99 (from each order's due time, ${h.rate}/s offered)`,
      target: `< ${TARGET_HOT_P99_MS} ms, no errors`,
      measured: `p99 ${h.answerMs.p99} ms (p50 ${h.answerMs.p50}, p99.9 ${h.answerMs.p999}, max ${h.answerMs.max}); ${others} errors`,
      pass: ok,
      gap: ok ? '' : `${h.answerMs.p99 >= TARGET_HOT_P99_MS ? `${round(h.answerMs.p99 - TARGET_HOT_P99_MS, 1)} ms over` : ''}${others ? ` ${others} errors` : ''}`.trim(),
    });
  }

  // ---- what bounds a miss
  if (best && targets.some((t) => t.phase === '(b)' && t.what.includes('PAID') && !t.pass)) {
    const u = best.usage;
    const bestLabel = runLabel(best);
    if (u.machineBusyPct >= 90) {
      findings.push(
        `**PAID/s is bound by CPU: the ${u.cores} cores are full.** During the best run (${bestLabel}) the machine was ${u.machineBusyPct}% busy ` +
          `(${round((u.machineBusyPct * u.cores) / 100, 2)} of ${u.cores} cores). CPU by process, in % of one core: ${cpuLine(u)}.`,
      );
    } else {
      findings.push(
        `During the best run (${bestLabel}) the machine was only ${u.machineBusyPct}% busy (CPU by process, % of one core: ${cpuLine(u)}), so the cores are not the whole story: look at the per-process peaks and the MariaDB counters below.`,
      );
    }
    const b = cpuBudget(best);
    if (b) {
      findings.push(
        `**Each order costs ≈ ${b.total} ms of CPU end to end** (best run): accepting ${b.accept} ms (api ${b.api}, Redis ${b.redisAccept}) and settling ${b.settle} ms (worker ${b.workers}, MariaDB ${b.mariadb}, Redis ${b.redisSettle}); ` +
          `the load generator adds ${b.loadGenerator} ms. ${u.cores} cores give ${u.cores * 1000} CPU-ms a second, so even with nothing else running this machine carries at most ≈ ${b.maxPerSec} orders/s end to end; ` +
          `${TARGET_PAID_PER_SEC}/s needs ≤ ${round((u.cores * 1000) / TARGET_PAID_PER_SEC, 1)} ms per order${b.maxPerSec < TARGET_PAID_PER_SEC ? `, ${round(b.total / ((u.cores * 1000) / TARGET_PAID_PER_SEC), 1)}× less than now` : ''}. See "CPU cost per order" below for every run.`,
      );
    }
    const paids = r.pipeline.map((p) => p.paidPerSec);
    const byK = r.pipeline.map((p) => `${runLabel(p)} → ${p.paidPerSec}/s (accepting ${p.load.acceptedPerSec}/s)`).join(', ');
    if (paids.length > 1 && Math.max(...paids) < Math.min(...paids) * 1.15) {
      findings.push(
        `More workers do not settle more: workers → PAID/s: ${byK}. The accept path and the settle path share the same cores, so the api accepting faster than the workers settle only grows the backlog (${best.backlogAtEnd.acceptedNotSettled} orders accepted but unsettled when the best run's load stopped).`,
      );
    } else if (best.backlogAtEnd.acceptedNotSettled <= best.load.acceptedPerSec) {
      const keeping = r.pipeline.filter((p) => p.backlogAtEnd.acceptedNotSettled <= p.load.acceptedPerSec).map((p) => p.workers);
      findings.push(
        `Workers → PAID/s: ${byK}. With ${keeping.join(' and ')} worker${keeping.length > 1 || keeping[0] !== 1 ? 's' : ''} the workers keep up (under a second of backlog when the load stopped): PAID/s is then simply what the api accepts, ` +
          `and the api accepts less the more CPU the workers take. Settling faster cannot help; only cheaper orders can (next point).`,
      );
    } else {
      findings.push(`Workers → PAID/s: ${byK}; ${best.backlogAtEnd.acceptedNotSettled} orders were accepted but unsettled when the best run's load stopped.`);
    }
    const drains = r.pipeline.filter(drainValid);
    if (drains.length) {
      findings.push(
        `With the load stopped (the api idle), the same workers settle the backlog at: ${drains
          .map((p) => `${runLabel(p)} ${p.drain.paidPerSec}/s (CPU ${cpuLine(p.drain.usage)})`)
          .join('; ')}. That is the settle path on its own on this machine, without the accept path taking the cores.`,
      );
    }
    if (ceiling > 0) {
      const commits = best.mysql.Com_commit ?? 0;
      const fsyncs = best.mysql.Innodb_os_log_fsyncs ?? best.mysql.Innodb_data_fsyncs ?? 0;
      const dbCpu = round(best.usage.processes.find((p) => p.name === 'mariadbd')?.cpuPct ?? 0, 0);
      const counters = `MariaDB committed ${commits}/s with ${fsyncs} fsyncs/s (${fsyncs > 0 ? round(commits / fsyncs, 1) : '–'} commits per fsync), ${best.mysql.Innodb_row_lock_waits ?? 0} row-lock waits/s, at ${dbCpu}% CPU`;
      findings.push(
        commits < ceiling * 0.8
          ? `MariaDB is not what bounds the pipeline: the raw transaction reaches ${ceiling} tx/s here (a), while during the best pipeline run ${counters}.`
          : `MariaDB is close to its measured ceiling (${ceiling} tx/s in (a)): during the best pipeline run ${counters}.`,
      );
    }
    const profiles = profilesOf(r, best);
    const wp = profiles.find((p) => p.label.startsWith('worker'));
    const ap = profiles.find((p) => p.label === 'api');
    if (wp || ap) {
      const pr = r.profileRun;
      findings.push(
        `Where the CPU goes (self time in the load window, charged to the package whose code is on the stack${pr ? `; from the profiled run of the same shape, ${pr.load.seconds} s, ${pr.paidPerSec} PAID/s under the profiler` : ''}): worker-1: ${topPackages(wp)}; api: ${topPackages(ap)}. ` +
          `Biggest native / Node-internal frames: worker-1: ${topNative(wp)}; api: ${topNative(ap)}. ` +
          `Top functions: worker-1: ${topFunctions(wp)}; api: ${topFunctions(ap)}. The profile tables below have more. (${glossary(wp, ap)}.)`,
      );
    }
  }
  const bestMicro = r.micro.find((x) => x.txPerSec === ceiling);
  if (bestMicro && bestMicro.usage.machineBusyPct >= 90) {
    const fsyncs = bestMicro.mysql.Innodb_os_log_fsyncs ?? bestMicro.mysql.Innodb_data_fsyncs ?? 0;
    const q = microQuiet(bestMicro);
    findings.push(
      `(a) itself is CPU-bound on this machine, not fsync-bound: at its best (${bestMicro.shape ?? 'statements'}, ${bestMicro.connections} connections) the machine was ${bestMicro.usage.machineBusyPct}% busy (${cpuLine(bestMicro.usage)}; the bench row is the mysql2 client), ` +
        `with ${bestMicro.mysql.Com_commit ?? 0} commits/s over ${fsyncs} fsyncs/s (${fsyncs > 0 ? round((bestMicro.mysql.Com_commit ?? 0) / fsyncs, 1) : '–'} commits per fsync: group commit absorbs the fsyncs). ` +
        `Each transaction costs ${q.mariadb} CPU-ms in MariaDB and ${q.client} in the mysql2 client, so ${bestMicro.usage.cores} cores with nothing else on them would carry ≈ ${q.maxPerSec} tx/s` +
        (best && bestMicro.usage.otherCpuPct >= 20
          ? `, against the ${best.paidPerSec}/s PAID measured.`
          : '.'),
    );
  }
  for (const run of r.pipeline) {
    if (run.load.latencyMs.p99 < TARGET_ACCEPT_P99_MS) continue;
    const api = run.usage.processes.find((p) => p.name === 'api');
    const mean = round((run.load.connections / Math.max(1, run.load.acceptedPerSec)) * 1000, 1);
    findings.push(
      `**Accept p99 with ${runLabel(run)}: ${run.load.latencyMs.p99} ms.** ${run.load.connections} closed-loop connections against an api answering ${run.load.acceptedPerSec}/s ` +
        `wait ${mean} ms on average (Little's law: connections ÷ throughput); even the mean stays under ${TARGET_ACCEPT_P99_MS} ms only above ${Math.round((run.load.connections / TARGET_ACCEPT_P99_MS) * 1000)} answers/s at this concurrency, ${round(((run.load.connections / TARGET_ACCEPT_P99_MS) * 1000) / Math.max(1, run.load.acceptedPerSec), 0)}× what the api does here. ` +
        `The api is one Node process (one core at most): ${api ? `${round(api.cpuPct, 0)}% of a core on average, ${round(api.cpuPeakPct, 0)}% at peak` : 'no CPU figure'}; the machine was ${run.usage.machineBusyPct}% busy (${cpuLine(run.usage)}).`,
    );
    break;
  }
  if (r.pipeline.length > 1) {
    const apiP = [r.profileRun, ...r.pipeline].map((p) => p?.profiles.find((x) => x.label === 'api')).find(Boolean);
    if (apiP && r.pipeline.some((p) => p.load.latencyMs.p99 >= TARGET_ACCEPT_P99_MS)) {
      findings.push(
        `The api's CPU (profile, charged to the package on the stack): ${topPackages(apiP, 8)}; biggest native / Node-internal frames: ${topNative(apiP)}.`,
      );
    }
  }
  if (f) {
    const a = f.answers;
    if (a.answerMs.max > TARGET_FLASH_ANSWER_MS) {
      findings.push(
        `**Flash sale answers:** the last answer came ${round(a.answerMs.max, 0)} ms after the start; a request's own service time was p50 ${round(a.serviceMs.p50, 0)} ms, p99 ${round(a.serviceMs.p99, 0)} ms, max ${round(a.serviceMs.max, 0)} ms` +
          (a.serviceFirstWaveMs
            ? ` (the first ${a.inFlight}, each on a connection opened in the burst: p50 ${round(a.serviceFirstWaveMs.p50, 0)}, max ${round(a.serviceFirstWaveMs.max, 0)} ms; the rest, on reused connections: p50 ${round(a.serviceLaterMs.p50, 0)}, max ${round(a.serviceLaterMs.max, 0)} ms). `
            : '. ') +
          `The ${a.requests} requests went through ${a.inFlight} sockets, so the rest is time queued behind the api: it answered ${round(a.requests / (a.wallMs / 1000), 0)} orders/s (CPU ${cpuLine(f.usage)}); ` +
          `to answer all ${a.requests} within ${TARGET_FLASH_ANSWER_MS / 1000} s it must answer ${round(a.requests / (TARGET_FLASH_ANSWER_MS / 1000), 0)}/s.` +
          (f.profile
            ? ` The api's CPU during the sale (profile, by package on the stack): ${topPackages(f.profile, 6)}; biggest native / Node-internal frames: ${topNative(f.profile)}; top functions: ${topFunctions(f.profile)}.`
            : '') +
          ` Every refused order still costs the api ≈ ${round((cpuOf(f.usage, (n) => n === 'api' || n.startsWith('api-')) * 10) / Math.max(1, a.requests / (a.wallMs / 1000)), 2)} CPU-ms: auth, idempotency lookup, pricing, the gate script and a tRPC error answer.`,
      );
    }
  }
  const logged = [...r.pipeline.flatMap((p) => p.logs), ...(f?.logs ?? [])].filter((l) => l.error > 0 || l.warn > 0);
  if (logged.length) {
    findings.push(
      `Processes logged warnings or errors: ${logged.map((l) => `${l.process} (${l.warn} warn, ${l.error} error)`).join(', ')} — see "Process logs" below.`,
    );
  }
  // ---- the runtimes side by side: the run on the machine's other Node beside the same run on the project's
  const other = r.pipeline.find((p) => p.node && !p.node.startsWith('v24'));
  const twin = other && r.pipeline.find((p) => p !== other && p.workers === other.workers && p.batchSize === other.batchSize);
  if (other && twin) {
    const apiMs = (p: PipelineRun) => {
      const api = p.usage.processes.find((u) => u.name === 'api');
      return api && p.load.acceptedPerSec > 0 ? round((api.cpuPct * 10) / p.load.acceptedPerSec, 2) : null;
    };
    findings.push(
      `**Node ${twin.node} beside Node ${other.node}** (${runLabel(twin).replace(/, Node .*/, '')}, the same load): PAID/s ${twin.paidPerSec} vs ${other.paidPerSec} ` +
        `(${round((twin.paidPerSec / Math.max(1, other.paidPerSec)) * 100, 0)}%), accept p99 ${twin.load.latencyMs.p99} vs ${other.load.latencyMs.p99} ms, ` +
        `the api's CPU per accepted order ${apiMs(twin) ?? '–'} vs ${apiMs(other) ?? '–'} ms.`,
    );
  }
  return { targets, findings };
}

// ---------------------------------------------------------------- markdown

/** A markdown table; `align` has one letter a column (l or r), else the first column is left and the rest right. */
export const table = (head: string[], rows: (string | number)[][], align?: string) =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => ((align ? align[i] : i === 0 ? 'l' : 'r') === 'l' ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

/** Answers other than 200, and connection errors / timeouts. */
function notOk(p: PipelineRun): string | number {
  const codes = Object.entries(p.load.statusCounts).filter(([c]) => c !== '200');
  const n = codes.reduce((s, [, x]) => s + x, 0) + p.load.errors;
  if (n === 0) return 0;
  return `${n} (${[...codes.map(([c, x]) => `${c}: ${x}`), ...(p.load.errors ? [`errors ${p.load.errors} incl. ${p.load.timeouts} timeouts`] : [])].join(', ')})`;
}

export function usageTable(u: PhaseUsage): string {
  const rows = [...u.processes]
    .sort((a, b) => b.cpuPct - a.cpuPct)
    .map((p) => [p.name, p.pid, round(p.cpuPct, 0), round(p.cpuPeakPct, 0), round(p.rssAvgMb, 0), round(p.rssMaxMb, 0)]);
  rows.push(['other processes (not ours)', '', round(u.otherCpuPct, 0), '', '', '']);
  return `${table(['process', 'pid', 'CPU % avg', 'CPU % peak (1 s)', 'RSS MB avg', 'RSS MB max'], rows)}\n\nMachine: ${u.machineBusyPct}% of ${u.cores} cores busy over ${u.seconds} s (CPU % is of one core: ${u.cores * 100}% = all cores).`;
}

export function mysqlLine(m: Record<string, number>): string {
  const keys = [
    'Com_commit',
    'Com_rollback',
    'Com_insert',
    'Com_insert_select',
    'Com_update',
    'Com_savepoint',
    'Questions',
    'Innodb_os_log_fsyncs',
    'Innodb_data_fsyncs',
    'Innodb_log_writes',
    'Innodb_row_lock_waits',
    'Innodb_deadlocks',
    'Innodb_log_waits',
    'Threads_running',
  ];
  const rows = keys.filter((k) => k in m).map((k) => [k, m[k] ?? 0]);
  rows.push(['Innodb_os_log_written (MB/s)', round((m.Innodb_os_log_written ?? 0) / 1048576, 2)]);
  const commits = m.Com_commit ?? 0;
  const fs = m.Innodb_os_log_fsyncs ?? m.Innodb_data_fsyncs ?? 0;
  rows.push([`commits per fsync (${'Innodb_os_log_fsyncs' in m ? 'Innodb_os_log_fsyncs' : 'Innodb_data_fsyncs'})`, fs > 0 ? round(commits / fs, 2) : '–']);
  return table(['MariaDB status (per second; Threads_running at the end)', 'value'], rows);
}

export function profileTables(p: ProfileSummary, label: string): string {
  return [
    `**${label}** — ${p.windowed ? `load window only (${round(p.windowMs / 1000, 0)} s)` : 'whole process life (window not matched)'}, main thread busy ${p.busyPct}% of the window. Self time by package:`,
    '',
    table(
      ['package', 'self ms', '% of busy'],
      p.byPackage.slice(0, 10).map((x) => [x.name, x.selfMs, x.pct]),
    ),
    '',
    'The same time charged to the npm package (or our workspace) whose code is on the stack — Node-internal and native frames (socket writes, Request/AbortSignal objects) go to the caller:',
    '',
    table(
      ['package', 'self ms', '% of busy'],
      (p.byOwner ?? []).slice(0, 10).map((x) => [x.name, x.selfMs, x.pct]),
    ),
    '',
    'Biggest Node-internal and native frames, by caller:',
    '',
    table(
      ['frame ← caller', 'self ms', '% of busy'],
      (p.nativeByCaller ?? []).map((x) => [x.name, x.selfMs, x.pct]),
    ),
    '',
    'Top functions by self time:',
    '',
    table(
      ['function', 'where', 'self ms', '% of busy'],
      p.topFunctions.slice(0, 12).map((x) => [`\`${x.name.replace(/\|/g, '\\|')}\``, x.where ? `\`${x.where}\`` : '', x.selfMs, x.pct]),
      'llrr',
    ),
  ].join('\n');
}

export function logsSection(logs: ProcessLog[]): string {
  const noisy = logs.filter((l) => l.warn || l.error || (l.exitCode !== null && l.exitCode !== 0));
  if (!noisy.length) return 'No process logged a warning or an error, and each exited 0.';
  return noisy
    .map(
      (l) =>
        `- ${l.process}: ${l.warn} warn, ${l.error} error, exit ${l.exitCode}${l.messages.map((m) => `\n  - ${m.count}× \`${m.message.replace(/`/g, "'")}\``).join('')}`,
    )
    .join('\n');
}

export function renderReport(r: BenchResult): string {
  const m = r.machine;
  const s = r.settings;
  const out: string[] = [];
  const ceiling = ceilingOf(r);
  out.push(`# Pipeline benchmark — ${r.startedAt.slice(0, 10)}`);
  out.push('');
  out.push(
    `\`npm run bench\` (bench/run.ts), started ${r.startedAt}, took ${r.totalSeconds} s. Its own database \`${r.database}\` and Redis prefix \`${r.redisPrefix}*\`, dropped afterwards. Raw figures: the JSON file next to this one.`,
  );
  if (r.error) out.push('', `> **The run failed:** \`${r.error.split('\n')[0]}\` — figures below are what was measured before that.`);

  out.push('', '## Verdict', '');
  out.push(
    table(
      ['phase', 'what', 'target', 'measured', 'verdict', 'gap'],
      r.targets.map((t) => [t.phase, t.what, t.target, t.measured, t.pass ? 'PASS' : '**MISS**', t.gap || '–']),
      'llllll',
    ),
  );
  const noisy = [
    ...r.micro.map((x) => ({ what: `(a) ${x.shape ?? 'statements'} × ${x.connections}`, other: x.usage.otherCpuPct })),
    ...r.pipeline.map((x) => ({ what: `(b) ${runLabel(x)}`, other: x.usage.otherCpuPct })),
    ...(r.flash ? [{ what: '(c)', other: r.flash.usage.otherCpuPct }] : []),
  ].filter((x) => x.other >= 20);
  if (r.busyBefore > 15 || noisy.length) {
    out.push(
      '',
      `> **This machine was not quiet.** ${r.busyBefore > 15 ? `Before the bench started anything it was already ${r.busyBefore}% busy. ` : ''}` +
        `${noisy.length ? `Processes that are not the bench's took CPU during ${noisy.map((x) => `${x.what} (${round(x.other, 0)}% of a core)`).join(', ')}. ` : ''}` +
        'Those phases measured less than this machine can do alone.',
    );
  } else out.push('', `The machine was quiet: ${r.busyBefore}% busy before the bench started, and other processes took under 20% of a core in every phase.`);
  if (r.findings.length) {
    out.push('', '## What bounds it', '');
    for (const f of r.findings) out.push(`- ${f}`);
  }

  out.push('', '## Machine', '');
  out.push(
    table(
      ['item', 'value'],
      [
        ['CPU', `${m.cores} × ${m.cpuModel}`],
        ['memory', `${m.memoryGb} GB`],
        ['kernel', m.kernel],
        ['Node', m.node],
        [
          'MariaDB',
          `${m.mysqlVersion}; ${Object.entries(m.mysqlSettings)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`,
        ],
        [
          'Redis',
          `${m.redisVersion}; ${Object.entries(m.redisSettings)
            .map(([k, v]) => `${k}=${v || '""'}`)
            .join(', ')}`,
        ],
        ['load generator', 'in the bench process (autocannon 9 for (b), node:http for (c)), on the same cores as everything else'],
      ],
      'll',
    ),
  );
  out.push(
    '',
    `Settings: ${s.customers} customers (one session each), ${s.products} products; workers run WORKER_CONCURRENCY=${s.workerConcurrency} with MYSQL_POOL_SIZE=${s.workerPoolSize}, the api MYSQL_POOL_SIZE=${s.apiPoolSize}; LOG_LEVEL=warn; ` +
      `processes started as \`node apps/<x>/dist/main.js\` (compiled) like \`npm run up\`${s.nodeOptions ? `, with NODE_OPTIONS \`${s.nodeOptions}\`` : ''}${
        r.profileRun
          ? `; the measured runs ran without a profiler, and the profiles come from a separate ${r.profileRun.load.seconds} s run of the best shape with the api and worker-1 under \`--cpu-prof\``
          : s.profile
            ? '; the api and worker-1 of each (b) run ran with `--cpu-prof`'
            : ''
      }. ` +
      `MariaDB and Redis are shared with anything else running on this machine (the "other processes" rows say how much CPU that took).`,
  );

  // (a)
  out.push('', '## (a) Raw MariaDB ceiling: the worker transaction over mysql2', '');
  out.push(
    "Each connection is a closed loop of the worker's BALANCE transaction, statement for statement (START TRANSACTION; INSERT orders; INSERT order_items; SAVEPOINT; conditional wallet debit; INSERT wallet_entries … SELECT; conditional stock decrement; COMMIT), " +
      `text protocol with client-side parameters like TypeORM, over ${s.customers} customers (each connection its own slice) and ${s.products} random products. No queue, no API, no Redis. ` +
      'Two shapes: *statements* sends one statement a round trip (8 round trips); *batched* sends the same statements in 3 round trips as multi-statement queries ' +
      "(START TRANSACTION + order + lines + SAVEPOINT; debit + ledger + stock; COMMIT), the way the worker's batched hot path (`openOrderBatch` / `applyEffectsBatch`) does.",
    '',
  );
  out.push(
    table(
      [
        'shape',
        'connections',
        'seconds',
        'committed',
        'tx/s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'deadlock retries',
        'errors',
        'mariadbd CPU %',
        'bench CPU %',
        'other CPU %',
        'machine busy %',
        'CPU-ms/tx (MariaDB + client)',
        `tx/s on ${r.machine.cores} idle cores at that cost`,
      ],
      r.micro.map((x) => [
        x.shape ?? 'statements',
        x.connections,
        x.seconds,
        x.committed,
        `**${x.txPerSec}**`,
        round(x.latencyMs.p50, 2),
        round(x.latencyMs.p90, 2),
        round(x.latencyMs.p99, 2),
        round(x.latencyMs.max, 1),
        x.retries,
        x.errors.length,
        round(x.usage.processes.find((p) => p.name === 'mariadbd')?.cpuPct ?? 0, 0),
        round(x.usage.processes.find((p) => p.name.startsWith('bench'))?.cpuPct ?? 0, 0),
        round(x.usage.otherCpuPct, 0),
        x.usage.machineBusyPct,
        `${microQuiet(x).mariadb} + ${microQuiet(x).client}`,
        microQuiet(x).maxPerSec,
      ]),
    ),
  );
  const bestMicro = r.micro.find((x) => x.txPerSec === ceiling);
  if (bestMicro)
    out.push(
      '',
      `Ceiling: **${ceiling} tx/s** (${bestMicro.shape ?? 'statements'}, ${bestMicro.connections} connections). MariaDB counters during that run:`,
      '',
      mysqlLine(bestMicro.mysql),
    );

  // (b)
  out.push('', '## (b) Pipeline: orders.place → accepted → PAID', '');
  out.push(
    `autocannon, ${s.connections} connections, ${s.loadSeconds} s per run after a ${s.warmupSeconds} s warm-up; every request a fresh idempotency key, the next customer's token and one of ${s.products} products (quantity 1, BALANCE, DELIVERY). ` +
      `PAID/s = orders whose settled_at falls inside the load window, status PAID, counted in MySQL. Backlog = orders accepted but not yet settled in MySQL when the load stopped; drain = PAID/s over the next few seconds with the load stopped and the workers still running. Each run has a fresh Redis prefix (empty queue).`,
    '',
  );
  out.push(
    table(
      [
        'run',
        'accepted/s',
        'accept p50 ms',
        'p90 ms',
        'p99 ms',
        'max ms',
        'non-200',
        'PAID/s',
        'FAILED',
        'backlog at end',
        'drain PAID/s (no load)',
        'other CPU %',
        'machine busy %',
      ],
      r.pipeline.map((p) => [
        runLabel(p),
        p.load.acceptedPerSec,
        p.load.latencyMs.p50,
        p.load.latencyMs.p90,
        `**${p.load.latencyMs.p99}**`,
        p.load.latencyMs.max,
        notOk(p),
        `**${p.paidPerSec}**`,
        Object.values(p.failed).reduce((a, b) => a + b, 0),
        p.backlogAtEnd.acceptedNotSettled,
        drainValid(p) ? p.drain.paidPerSec : p.drain.seconds ? 'backlog cleared' : '–',
        round(p.usage.otherCpuPct, 0),
        p.usage.machineBusyPct,
      ]),
    ),
  );
  const budgets = r.pipeline.map((p) => ({ p, b: cpuBudget(p) })).filter((x) => x.b);
  if (budgets.length) {
    out.push(
      '',
      '**CPU cost per order** (CPU-ms; the api per accepted order, workers and MariaDB per PAID order, Redis split between accepting and settling by its cost per order while the workers drain alone):',
      '',
      table(
        [
          'run',
          'api',
          'Redis (accept)',
          'accept',
          'workers',
          'MariaDB',
          'Redis (settle)',
          'settle',
          'total',
          'load generator',
          `max orders/s on ${r.machine.cores} cores`,
        ],
        budgets.map(({ p, b }) => [
          runLabel(p),
          b!.api,
          b!.redisAccept,
          b!.accept,
          b!.workers,
          b!.mariadb,
          b!.redisSettle,
          b!.settle,
          `**${b!.total}**`,
          b!.loadGenerator,
          b!.maxPerSec,
        ]),
      ),
    );
  }
  for (const p of [...r.pipeline, ...(r.profileRun ? [r.profileRun] : [])]) {
    out.push('', `### ${runLabel(p)}${p === r.profileRun ? ', profiled (--cpu-prof on the api and worker-1; for the profiles, not the figures)' : ''}`, '');
    out.push(`Accepted ${p.load.ok} in ${p.load.seconds} s; PAID ${p.paid} in the window; queue at the end: ${JSON.stringify(p.backlogAtEnd.queue)}.`);
    if (Object.keys(p.failed).length) out.push('', `Settled other than PAID: ${JSON.stringify(p.failed)}.`);
    if (p.load.errorSamples.length) out.push('', 'Answers other than 200 (first few):', '', ...p.load.errorSamples.map((e) => `- \`${e.replace(/`/g, "'")}\``));
    out.push('', 'Per 5 s of the window:', '');
    out.push(
      table(
        ['from s', 'accepted', 'PAID'],
        p.timeline.map((t) => [t.fromSec, t.accepted, t.paid]),
      ),
    );
    out.push('', 'CPU and memory during the load window:', '', usageTable(p.usage));
    out.push('', mysqlLine(p.mysql));
    out.push(
      '',
      `Redis: ${p.redis.commandsPerSec} commands/s, ${p.redis.usedMemoryMb} MB used at the end. Busiest commands:`,
      '',
      table(
        ['command', 'calls/s', 'µs/call', 'Redis busy %'],
        p.redis.top.map((x) => [x.command, x.callsPerSec, x.usecPerCall, x.busyPct]),
      ),
    );
    if (drainValid(p))
      out.push(
        '',
        `Drain (load stopped, ${p.drain.seconds} s): PAID ${p.drain.paidPerSec}/s, backlog after ${p.drain.backlogAfter}. CPU: ${cpuLine(p.drain.usage)}.`,
      );
    else if (p.drain.seconds) out.push('', `Drain (load stopped): the backlog of ${p.backlogAtEnd.acceptedNotSettled} cleared within ${p.drain.seconds} s.`);
    for (const prof of p.profiles) out.push('', profileTables(prof, `CPU profile: ${prof.label} (${runLabel(p)})`));
    out.push('', 'Process logs (LOG_LEVEL=warn):', '', logsSection(p.logs));
  }

  // (c)
  if (r.openLoop?.length) {
    out.push('', '## (d) Open loop: orders offered at a fixed rate', '');
    out.push(
      'Requests are sent when they are due (start + i / rate) on a keep-alive pool, without waiting for earlier answers; accept latency counts from the due time, so a slow api shows as queueing. Accepted → PAID runs from the order id’s time (the api’s accept) to `settled_at`.',
      '',
    );
    out.push(
      table(
        ['offered/s', 'workers', 'sent', '200', 'other', 'accept p50 ms', 'p90', 'p99', 'p99.9', 'max', 'send lag max ms', '→ PAID p50 ms', '→ PAID p99 ms', 'backlog at end', 'unsettled after drain', 'PAID/s', 'machine busy %'],
        r.openLoop.map((o) => [
          o.rate,
          `${o.workers} (batch ${o.batchSize}${o.workerNice ? `, nice ${o.workerNice}` : ''})`,
          o.sent,
          o.ok,
          JSON.stringify(o.other),
          `**${o.acceptMs.p50}**`,
          o.acceptMs.p90,
          `**${o.acceptMs.p99}**`,
          `**${o.acceptMs.p999}**`,
          o.acceptMs.max,
          o.maxSendLagMs,
          o.toPaidMs.p50,
          `**${o.toPaidMs.p99}**`,
          o.backlogAtEnd,
          o.unsettledAfterDrain,
          o.paidPerSec,
          o.usage.machineBusyPct,
        ]),
      ),
    );
    for (const o of r.openLoop) out.push('', `- ${o.rate}/s${o.workerNice ? ` (WORKER_NICE=${o.workerNice})` : ''}: CPU ${cpuLine(o.usage)}.${o.errorSamples.length ? ` Other answers: ${o.errorSamples.map((e) => `\`${e.replace(/`/g, "'")}\``).join(', ')}` : ''}`);
  }
  const f = r.flash;
  if (f) {
    const a = f.answers;
    out.push('', '## (c) Flash sale', '');
    out.push(
      `One product created through \`products.create\` as its seller (stock ${s.flashStock}); then ${a.requests} customers each place one order for it at the same moment: all requests issued at t0 through at most ${a.inFlight} sockets (${(f.apis ?? 1) > 1 ? `${f.apis} api processes sharing the port (API_REUSE_PORT)` : 'api'} + ${s.flashWorkers} workers).`,
      '',
    );
    out.push(
      table(
        [
          'requests',
          'accepted',
          'refused OUT_OF_STOCK',
          'other answers',
          'network errors',
          'all answered in ms',
          'answer p50 ms (from t0)',
          'p99 ms',
          'max ms',
          'service p50 ms (own send)',
          'p99 ms',
          'max ms',
        ],
        [
          [
            a.requests,
            a.accepted,
            a.outOfStock,
            JSON.stringify(a.otherStatus),
            a.networkErrors,
            a.wallMs,
            round(a.answerMs.p50, 0),
            round(a.answerMs.p99, 0),
            `**${round(a.answerMs.max, 0)}**`,
            round(a.serviceMs.p50, 0),
            round(a.serviceMs.p99, 0),
            round(a.serviceMs.max, 0),
          ],
        ],
      ),
    );
    out.push(
      '',
      table(
        ['after settling', 'value'],
        [
          ['all accepted orders settled after (ms from t0)', f.settledMs ?? 'not within 60 s'],
          ['orders PAID', `**${f.paid}**`],
          ['orders FAILED', f.failed],
          ['stock in MySQL', f.stockAfter],
          ['sold-out gate counter in Redis', f.gateAfter ?? 'missing'],
          ['gate reservations left', f.reservationsLeft],
        ],
        'lr',
      ),
    );
    if (a.serviceFirstWaveMs) {
      out.push(
        '',
        `Service time by connection: the first ${a.inFlight} requests (each on a connection opened in the burst) p50 ${round(a.serviceFirstWaveMs.p50, 0)} ms, p99 ${round(a.serviceFirstWaveMs.p99, 0)} ms, max ${round(a.serviceFirstWaveMs.max, 0)} ms; ` +
          `the other ${a.serviceLaterMs.count} (on reused keep-alive connections) p50 ${round(a.serviceLaterMs.p50, 0)} ms, p99 ${round(a.serviceLaterMs.p99, 0)} ms, max ${round(a.serviceLaterMs.max, 0)} ms.`,
      );
    }
    if (a.errorSamples.length) out.push('', 'Unexpected answers (first few):', '', ...a.errorSamples.map((e) => `- \`${e.replace(/`/g, "'")}\``));
    out.push('', 'CPU and memory during the sale (until settled):', '', usageTable(f.usage));
    if (f.profile) out.push('', profileTables(f.profile, 'CPU profile: api during the sale'));
    out.push('', 'Process logs (LOG_LEVEL=warn):', '', logsSection(f.logs));
  }

  const h = r.hotFlash;
  if (h) {
    out.push('', '## (e) Long flash sale: hot products, a fixed rate', '');
    out.push(
      `${h.products.length} products created through \`products.create\` (${h.stockEach} units each); ${h.sent} orders offered at ${h.rate}/s for ${h.seconds} s (open loop, as (d)), each for one unit of one of them, ` +
        `through ${h.apis} api process${h.apis > 1 ? 'es sharing the port (API_REUSE_PORT)' : ''} and ${h.workers} workers (WORKER_NICE=${h.workerNice}). Every answer counts from the order's due time.`,
      '',
      table(
        ['sent', 'accepted', 'refused OUT_OF_STOCK', 'other answers', 'network errors', 'answer p50 ms', 'p90', 'p99', 'p99.9', 'max', 'driver lag max ms', 'sold out after ms'],
        [
          [
            h.sent,
            h.accepted,
            h.outOfStock,
            JSON.stringify(h.other),
            h.errors,
            h.answerMs.p50,
            h.answerMs.p90,
            `**${h.answerMs.p99}**`,
            h.answerMs.p999,
            h.answerMs.max,
            h.maxSendLagMs,
            h.soldOutAfterMs ?? '–',
          ],
        ],
      ),
      '',
      `After settling: PAID **${h.paid}**, FAILED ${h.failed}; stock in MySQL per product ${h.stockAfter.join(', ')}; gate counters ${h.gateAfter.map((g) => g ?? 'missing').join(', ')}.`,
    );
    if (h.errorSamples.length) out.push('', 'Unexpected answers (first few):', '', ...h.errorSamples.map((e) => `- \`${e.replace(/`/g, "'")}\``));
    out.push('', 'CPU and memory during the sale:', '', usageTable(h.usage));
    out.push('', 'Process logs (LOG_LEVEL=warn):', '', logsSection(h.logs));
  }

  out.push('', '## Notes', '');
  if (r.otherNodeError) out.push(`- The run on ${s.otherNode?.version ?? 'the other Node'} failed, so there is no side-by-side row this time: ${r.otherNodeError.replace(/`/g, "'")}`);
  out.push(
    `- Everything (api, workers, MariaDB, Redis and the load generator) shares the same ${m.cores} cores, so the figures are for this machine, not for a fleet.`,
    `- CPU profiles (.cpuprofile, open in Chrome DevTools): ${r.profileDir ?? 'not taken (BENCH_PROFILE=0)'}.`,
    `- Cleanup: ${r.cleanup.length ? r.cleanup.join('; ') : 'database dropped and Redis keys deleted'}.`,
  );
  return `${out.join('\n')}\n`;
}
