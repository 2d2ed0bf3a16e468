import type { ProfileSummary } from './cpuprofile';
import type { ClaimPhase, MoneyResult, PipelinePhase } from './money-types';
import { cpuLine, logsSection, profileTables, table, topFunctions, topNative, topPackages, usageTable } from './report';
import type { PhaseUsage } from './sampler';
import { round } from './stats';
import type { Target } from './types';

/** The money bench's targets, verdicts and what bounds a miss; and its markdown report. */

const STORM_MAX_MS = 1000;
const CLAIMS_PCT_OF_BARE = 30;
const PLAIN_MAX_DROP_PCT = 10;
/** A phase during which processes that are not the bench's took this much of a core measured the neighbours too. */
const NOISY_OTHER_CPU = 20;

const median = (xs: number[]): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : round((s[mid - 1]! + s[mid]!) / 2, 1);
};

const cpuOf = (u: PhaseUsage, match: (name: string) => boolean) => u.processes.filter((p) => match(p.name)).reduce((s, p) => s + p.cpuPct, 0);
const isApi = (n: string) => n === 'api' || n.startsWith('api (');
const isWorker = (n: string) => n.startsWith('worker-');

/** The (today, baseline) pairs of each round, as PAID/s ratios. */
function plainRatios(r: MoneyResult): { round: number; plain: number; baseline: number; pct: number; quiet: boolean }[] {
  const out = [];
  for (let k = 1; k <= r.settings.pipelineRounds; k++) {
    const plain = r.pipeline.find((p) => p.round === k && p.kind === 'plain');
    const base = r.pipeline.find((p) => p.round === k && p.kind === 'baseline');
    if (plain && base && base.paidPerSec > 0)
      out.push({
        round: k,
        plain: plain.paidPerSec,
        baseline: base.paidPerSec,
        pct: round((100 * plain.paidPerSec) / base.paidPerSec, 1),
        quiet: plain.usage.otherCpuPct < NOISY_OTHER_CPU && base.usage.otherCpuPct < NOISY_OTHER_CPU,
      });
  }
  return out;
}

/** CPU-ms per PAID order: api, workers, MariaDB, Redis, load generator. */
export function cpuPerOrder(p: PipelinePhase): Record<string, number> {
  const per = (pct: number) => round((pct * 10) / Math.max(1, p.paidPerSec), 2);
  const u = p.usage;
  return {
    api: per(cpuOf(u, isApi)),
    workers: per(cpuOf(u, isWorker)),
    mariadb: per(cpuOf(u, (n) => n === 'mariadbd')),
    redis: per(cpuOf(u, (n) => n === 'redis-server')),
    'load generator': per(cpuOf(u, (n) => n.startsWith('bench'))),
  };
}

/** Per order of a kind, summed over its rounds: statements by step, round trips, from the workers' counters. */
export function statementsPerOrder(
  r: MoneyResult,
  kind: 'plain' | 'coupon',
): { steps: Record<string, number>; total: number; roundTrips: number; orders: number } | null {
  const phases = r.pipeline.filter((p) => p.kind === kind);
  const orders = phases.reduce((s, p) => s + p.settled, 0);
  if (!orders) return null;
  const steps: Record<string, number> = {};
  let roundTrips = 0;
  for (const p of phases) {
    for (const [key, v] of Object.entries(p.counters)) {
      const step = /^bazaar_order_tx_statements_total\{.*step=([^,}]+)/.exec(key)?.[1];
      if (step) steps[step] = (steps[step] ?? 0) + v;
      if (key.startsWith('bazaar_order_tx_round_trips_total')) roundTrips += v;
    }
  }
  for (const k of Object.keys(steps)) steps[k] = round(steps[k]! / orders, 2);
  const total = round(
    Object.values(steps).reduce((s, x) => s + x, 0),
    2,
  );
  return { steps, total, roundTrips: round(roundTrips / orders, 2), orders };
}

/** MariaDB's Com_* and Questions per PAID order of a kind, summed over its rounds. */
export function comPerOrder(r: MoneyResult, kind: PipelinePhase['kind']): Record<string, number> | null {
  const phases = r.pipeline.filter((p) => p.kind === kind);
  const paid = phases.reduce((s, p) => s + p.paidSettled, 0);
  if (!paid) return null;
  const sum: Record<string, number> = {};
  for (const p of phases) for (const [k, v] of Object.entries(p.com)) sum[k] = (sum[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, round(v / paid, 2)]));
}

function claimsVsBare(r: MoneyResult, kind: ClaimPhase['kind']): { pcts: number[]; med: number | null } {
  const pcts = r.claims.filter((p) => p.kind === kind && p.pctOfBare !== null).map((p) => p.pctOfBare!);
  return { pcts, med: median(pcts) };
}

export function analyzeMoney(r: MoneyResult): { targets: Target[]; findings: string[] } {
  const targets: Target[] = [];
  const findings: string[] = [];
  const s = r.settings;

  const st = r.storm;
  if (st) {
    const a = st.answers;
    const others = Object.values(a.otherStatus).reduce((x, y) => x + y, 0) + a.networkErrors;
    const answered = a.answerMs.count === a.requests;
    const pass = a.answerMs.max <= STORM_MAX_MS && others === 0 && answered;
    targets.push({
      phase: '(1)',
      what: `every one of ${a.requests} claims answered within 1 s of the storm's start`,
      target: `max ≤ ${STORM_MAX_MS} ms, no errors`,
      measured: `max ${round(a.answerMs.max, 0)} ms, p99 ${round(a.answerMs.p99, 0)} ms, p50 ${round(a.answerMs.p50, 0)} ms; ${others} errors`,
      pass,
      gap: pass
        ? ''
        : `${a.answerMs.max > STORM_MAX_MS ? `${round(a.answerMs.max - STORM_MAX_MS, 0)} ms over (${round(a.answerMs.max / STORM_MAX_MS, 1)}×)` : ''}${others ? ` ${others} errors` : ''}`.trim(),
    });
    const q = s.stormQuantity;
    const exact = a.issued === q && st.mysqlClaims === q && st.mysqlClaimed === q && st.redisRemaining === 0 && st.redisHolders === q && st.sameCustomers;
    targets.push({
      phase: '(1)',
      what: `exactly ${q} issued`,
      target: `${q} yes; ${q} claim rows, coupons.claimed ${q}; Redis remaining 0, ${q} holders; the same customers`,
      measured: `${a.issued} yes; ${st.mysqlClaims} rows, claimed ${st.mysqlClaimed}; Redis remaining ${st.redisRemaining}, ${st.redisHolders} holders; same customers: ${st.sameCustomers ? 'yes' : 'no'}`,
      pass: exact,
      gap: exact ? '' : `${a.issued - q} yes vs units`,
    });
    if (!pass) {
      const rate = round(a.requests / (a.wallMs / 1000), 0);
      const prof = r.profiles.find((p) => p.label === 'api during "storm"');
      const apiMs = round((cpuOf(st.usage, isApi) * 10) / Math.max(1, rate), 2);
      findings.push(
        `**Storm: the last answer came ${round(a.answerMs.max, 0)} ms after t0.** The api answered ${rate} claims/s through the storm (CPU ${cpuLine(st.usage)}); all ${a.requests} within 1 s needs ${a.requests}/s, ${round(a.requests / Math.max(1, rate), 1)}× that. ` +
          `A request's own service time was p50 ${round(a.serviceMs.p50, 0)} ms, max ${round(a.serviceMs.max, 0)} ms: the rest is waiting for a socket and for the api's one thread. ` +
          `${a.soldOut + a.already} of ${a.requests} answers are refusals from the Redis script that never touch MySQL, each still ≈ ${apiMs} CPU-ms of api (session, script, tRPC error answer)` +
          (prof ? `; the api's CPU (by package on the stack): ${topPackages(prof, 6)}; top functions: ${topFunctions(prof)}.` : '.'),
      );
    }
  }

  for (const [kind, label] of [
    ['claims', 'claims issued/s (units left: Redis + MySQL)'],
    ['sold-out', 'refusals/s on a sold-out coupon (Redis only)'],
  ] as const) {
    const { pcts, med } = claimsVsBare(r, kind);
    if (med === null) continue;
    const phases = r.claims.filter((p) => p.kind === kind);
    const pass = med >= CLAIMS_PCT_OF_BARE;
    targets.push({
      phase: '(2)',
      what: `${label} vs the bare Fastify route, ${s.connections} connections${pcts.length > 1 ? ` (median of ${pcts.length} rounds)` : ''}`,
      target: `≥ ${CLAIMS_PCT_OF_BARE}% of the bare route`,
      measured: `${med}% (${phases.map((p) => `${p.perSec}/s = ${p.pctOfBare}%`).join('; ')})`,
      pass,
      gap: pass ? '' : `${round(CLAIMS_PCT_OF_BARE - med, 1)} points short (${round(((CLAIMS_PCT_OF_BARE - med) / CLAIMS_PCT_OF_BARE) * 100, 0)}% below)`,
    });
    if (!pass || kind === 'claims') findings.push(claimsFinding(r, kind, phases, pass));
  }

  const ratios = plainRatios(r);
  // The verdict reads the rounds no other tenant disturbed (either side), when there are any.
  const judged = ratios.some((x) => x.quiet) ? ratios.filter((x) => x.quiet) : ratios;
  const left = ratios.length - judged.length;
  const medRatio = median(judged.map((x) => x.pct));
  if (medRatio !== null) {
    const floor = 100 - PLAIN_MAX_DROP_PCT;
    const pass = medRatio >= floor;
    targets.push({
      phase: '(3)',
      what: `plain orders PAID/s, today vs commit ${r.baseline?.commit.slice(0, 7)} (before the change), ${s.workers} workers${judged.length > 1 ? ` (median of ${judged.length} rounds)` : ''}${left ? ` (${left} noisy round${left > 1 ? 's' : ''} left out: other processes took ≥ ${NOISY_OTHER_CPU}% of a core)` : ''}`,
      target: `≥ ${floor}% (no more than ${PLAIN_MAX_DROP_PCT}% below)`,
      measured: `${medRatio}% (${judged.map((x) => `${x.plain} vs ${x.baseline}/s`).join('; ')})`,
      pass,
      gap: pass ? '' : `${round(floor - medRatio, 1)} points short`,
    });
    const plainSt = statementsPerOrder(r, 'plain');
    const plainCom = comPerOrder(r, 'plain');
    const baseCom = comPerOrder(r, 'baseline');
    // CPU per order from the rounds the verdict reads.
    const rounds = new Set(judged.map((x) => x.round));
    const plainPhases = r.pipeline.filter((p) => p.kind === 'plain' && rounds.has(p.round));
    const basePhases = r.pipeline.filter((p) => p.kind === 'baseline' && rounds.has(p.round));
    const avgCpu = (ps: PipelinePhase[]) => {
      const out: Record<string, number> = {};
      for (const p of ps) for (const [k, v] of Object.entries(cpuPerOrder(p))) out[k] = (out[k] ?? 0) + v / ps.length;
      return out;
    };
    const line = (o: Record<string, number>) =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${round(v, 2)}`)
        .join(', ');
    const grew =
      plainCom && baseCom
        ? Object.keys({ ...plainCom, ...baseCom })
            .filter((k) => k.startsWith('Com_') && Math.abs((plainCom[k] ?? 0) - (baseCom[k] ?? 0)) >= 0.2)
            .map((k) => `${k} ${(plainCom[k] ?? 0) > (baseCom[k] ?? 0) ? '+' : ''}${round((plainCom[k] ?? 0) - (baseCom[k] ?? 0), 2)}`)
        : [];
    findings.push(
      `**Plain orders, today vs before the change: ${medRatio}% of the baseline's PAID/s** (${ratios.map((x) => `round ${x.round}: ${x.plain} vs ${x.baseline}/s = ${x.pct}%${x.quiet ? '' : ' (noisy)'}`).join('; ')}${left ? '; noisy rounds left out of the verdict' : ratios.some((x) => !x.quiet) ? '; every round was noisy, so all count' : ''}). ` +
        `A plain PAID order costs MariaDB ${plainCom?.Questions ?? '?'} Questions now against ${baseCom?.Questions ?? '?'} before` +
        `${grew.length ? ` (${grew.join(', ')} an order)` : ''}` +
        `${
          plainSt
            ? `; of today's ${plainSt.total} statements in the order transaction, ${Object.entries(plainSt.steps)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')} (the reward lot is the step a plain order gained with the change)`
            : ''
        }. ` +
        `CPU-ms per PAID order, today: ${line(avgCpu(plainPhases))}; before: ${line(avgCpu(basePhases))}.` +
        (pass ? '' : ` The gap is what those statements and that CPU cost on ${r.machine.cores} shared cores.`),
    );
  }
  const coupon = r.pipeline.filter((p) => p.kind === 'coupon');
  const plain = r.pipeline.filter((p) => p.kind === 'plain');
  if (coupon.length && plain.length) {
    const cm = median(coupon.map((p) => p.paidPerSec))!;
    const pm = median(plain.map((p) => p.paidPerSec))!;
    const cs = statementsPerOrder(r, 'coupon');
    const ps = statementsPerOrder(r, 'plain');
    findings.push(
      `Coupon + points orders settle at ${cm} PAID/s against ${pm}/s for plain orders (median of rounds, ${pm ? round((100 * cm) / pm, 0) : '–'}%); ` +
        `each runs ${cs?.total ?? '?'} statements in ${cs?.roundTrips ?? '?'} round trips against a plain order's ${ps?.total ?? '?'} in ${ps?.roundTrips ?? '?'} (coupon use, the locked read of the lots, the spend lot by lot: see (4)).`,
    );
    const cc = comPerOrder(r, 'coupon');
    const retries = cc?.Com_rollback ?? 0;
    const deadlocks = coupon.reduce((n, p) => n + (p.deadlocks ?? 0), 0);
    if (cc && (retries >= 0.01 || (cc.Innodb_row_lock_waits ?? 0) >= 0.05)) {
      findings.push(
        `**Coupon + points orders wait on each other's locks:** per PAID order ${cc.Innodb_row_lock_waits ?? 0} row-lock waits (${cc.Innodb_row_lock_time ?? 0} ms of lock wait), ${retries} ROLLBACKs and ${round((cc.Com_begin ?? 1) - 1, 2)} extra START TRANSACTIONs ` +
          `(the order transaction retrying after a deadlock or a lock-wait timeout), ${deadlocks} deadlocks detected over ${coupon.length} phase${coupon.length > 1 ? 's' : ''}; plain orders: ${comPerOrder(r, 'plain')?.Innodb_row_lock_waits ?? 0} waits an order. ` +
          `This bench places the orders of consecutive customer ids at the same moment (round robin), the worst case for locks that reach past one customer's rows. InnoDB's latest deadlock is quoted under (3)` +
          (gapOnLots(coupon)
            ? ": one customer's reward-lot INSERT into point_lots waits on the gap before the next customer's first lot in idx_point_lots_user, which that customer's point-spend read (SELECT … FOR UPDATE over a range of the index, REPEATABLE READ) holds as a next-key lock, while that read waits for the first transaction's locks: a range lock of one customer's lots covers the gap where the neighbouring customer's new lot goes."
            : '.'),
      );
    }
  }
  const failedOrders = r.pipeline.filter((p) => Object.keys(p.failed).length || p.unsettled > 0);
  if (failedOrders.length) {
    findings.push(
      `Orders not PAID: ${failedOrders.map((p) => `${p.kind} round ${p.round}: ${JSON.stringify(p.failed)}${p.unsettled ? `, ${p.unsettled} unsettled after ${p.drainSeconds} s` : ''}`).join('; ')}.`,
    );
  }
  const logged = [...r.claimsLogs, ...r.pipeline.flatMap((p) => p.logs)].filter((l) => l.error > 0 || l.warn > 0);
  if (logged.length) {
    const seen = new Map<string, string>();
    for (const l of logged) seen.set(l.process, `${l.process} (${l.warn} warn, ${l.error} error)`);
    findings.push(`Processes logged warnings or errors: ${[...seen.values()].join(', ')} — see "Process logs" below.`);
  }
  return { targets, findings };
}

/** The latest deadlock is the point-spend read against a neighbour's new lot (gap / insert-intention locks on idx_point_lots_user). */
function gapOnLots(phases: PipelinePhase[]): boolean {
  const d = phases.map((p) => p.lastDeadlock).find(Boolean) ?? '';
  return d.includes('idx_point_lots_user') && d.includes('insert intention') && d.includes('FOR UPDATE');
}

function claimsFinding(r: MoneyResult, kind: 'claims' | 'sold-out', phases: ClaimPhase[], pass: boolean): string {
  const best = phases.reduce((a, b) => (b.perSec > a.perSec ? b : a));
  const u = best.usage;
  const api = u.processes.find((p) => p.name === 'api');
  const m = best.mysql;
  const prof: ProfileSummary | undefined = r.profiles.find((p) => p.label === `api during "${kind === 'claims' ? phases[0]?.name : 'sold out'}"`);
  const apiMs = round(((api?.cpuPct ?? 0) * 10) / Math.max(1, best.load.answersPerSec), 2);
  const bound =
    u.machineBusyPct >= 90
      ? `The ${u.cores} cores are full (machine ${u.machineBusyPct}% busy)`
      : (api?.cpuPeakPct ?? 0) >= 95
        ? `The api's one thread is full (${round(api?.cpuPct ?? 0, 0)}% of a core on average, ${round(api?.cpuPeakPct ?? 0, 0)}% at peak)`
        : `Neither the cores (machine ${u.machineBusyPct}% busy) nor the api's thread (${round(api?.cpuPct ?? 0, 0)}% of a core) are full: the claims wait`;
  const mysqlPart =
    kind === 'claims'
      ? ` MariaDB meanwhile: ${m.Com_commit ?? 0} commits/s, ${m.Innodb_row_lock_waits ?? 0} row-lock waits/s (${round((m.Innodb_row_lock_time ?? 0) / 1000, 2)} s of lock wait per second), ${m.Innodb_os_log_fsyncs ?? m.Innodb_data_fsyncs ?? 0} fsyncs/s — every claim raises the same coupons row (claimed + 1) and holds that row lock through its INSERT and COMMIT, so claims on one coupon take turns on one row.`
      : ' No claim reaches MySQL (Redis refuses them).';
  const bare = r.claims.find((p) => p.kind === (kind === 'claims' ? 'bare-ok' : 'bare-refused') && p.round === best.round);
  const bareNote = bare
    ? ` The bare route's ${bare.perSec}/s is itself held down by the load generator on the same cores (bare Fastify ${round(
        cpuOf(bare.usage, (n) => n === 'bare fastify'),
        0,
      )}% of a core, the load generator ${round(
        cpuOf(bare.usage, (n) => n.startsWith('bench')),
        0,
      )}%, machine ${bare.usage.machineBusyPct}% busy): at ${CLAIMS_PCT_OF_BARE}% of it the api would answer ${Math.round((bare.perSec * CLAIMS_PCT_OF_BARE) / 100)}/s, ≤ ${round(1000 / Math.max(1, (bare.perSec * CLAIMS_PCT_OF_BARE) / 100), 2)} CPU-ms an answer on one thread.`
    : '';
  return (
    `**${kind === 'claims' ? 'Claims with units left' : 'Claims on a sold-out coupon'}: ${best.perSec}/s at best (${best.pctOfBare}% of the bare route${pass ? '' : `, target ${CLAIMS_PCT_OF_BARE}%`}).** ${bound}. CPU: ${cpuLine(u)}; the api spends ≈ ${apiMs} CPU-ms an answer.` +
    mysqlPart +
    bareNote +
    (prof
      ? ` The api's CPU (profile, by package on the stack): ${topPackages(prof, 6)}; biggest native / Node-internal frames: ${topNative(prof)}; top functions: ${topFunctions(prof)}.`
      : '')
  );
}

// ---------------------------------------------------------------- markdown

/** Answers other than 200 (by status and refusal reason) and connection errors. */
function notOk(p: PipelinePhase): string | number {
  const codes = Object.entries(p.load.statusCounts).filter(([c]) => c !== '200');
  if (!codes.length && !p.load.errors) return 0;
  const reasons = Object.keys(p.load.reasons).length ? ` ${JSON.stringify(p.load.reasons).replace(/"/g, '')}` : '';
  return `${codes.map(([c, n]) => `${c}: ${n}`).join(', ')}${reasons}${p.load.errors ? ` errors ${p.load.errors} (${p.load.timeouts} timeouts)` : ''}`;
}

const fmt = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n);

export function renderMoneyReport(r: MoneyResult): string {
  const s = r.settings;
  const m = r.machine;
  const out: string[] = [];
  out.push(`# Coupons and points benchmark — ${r.startedAt.slice(0, 10)}`, '');
  out.push(
    `\`npm run bench:money\` (bench/money.ts; also the third part of \`npm run bench\`), started ${r.startedAt}, took ${r.totalSeconds} s, on ${m.cores} × ${m.cpuModel} (Node ${m.node}, MariaDB ${m.mysqlVersion}, Redis ${m.redisVersion}; innodb_flush_log_at_trx_commit=${m.mysqlSettings.innodb_flush_log_at_trx_commit ?? '?'}). ` +
      `Own database \`${r.database}\`${r.baseline ? ` (and \`${r.baseline.database}\` for the baseline)` : ''} and Redis prefix \`${r.redisPrefix}*\`, dropped afterwards. ` +
      `Everything — api, workers, MariaDB, Redis and the load generator — shares these ${m.cores} cores. Raw figures: the JSON file next to this one.`,
  );
  if (r.error) out.push('', `> **The run failed:** \`${r.error.split('\n')[0]}\` — figures below are what was measured before that.`);
  out.push('', '## Verdict', '');
  out.push(
    table(
      ['phase', 'what', 'target', 'measured', 'verdict', 'gap'],
      r.targets.map((t) => [t.phase, t.what, t.target, t.measured, t.pass ? 'met' : '**missed**', t.gap || '–']),
      'llllll',
    ),
  );
  const noisy = [
    ...r.claims.map((p) => ({ what: p.name, other: p.usage.otherCpuPct })),
    ...r.pipeline.map((p) => ({ what: `${p.kind} round ${p.round}`, other: p.usage.otherCpuPct })),
  ].filter((x) => x.other >= 20);
  if (r.busyBefore > 15 || noisy.length)
    out.push(
      '',
      `> **This machine was not quiet.** ${r.busyBefore > 15 ? `Before the bench started anything it was ${r.busyBefore}% busy. ` : ''}${noisy.length ? `Other processes took CPU during ${noisy.map((x) => `${x.what} (${round(x.other, 0)}% of a core)`).join(', ')}.` : ''}`,
    );
  else out.push('', `The machine was quiet: ${r.busyBefore}% busy before the bench started, other processes under 20% of a core in every phase.`);
  if (r.findings.length) {
    out.push('', '## What bounds it', '');
    for (const f of r.findings) out.push(`- ${f}`);
  }

  // (1)
  const st = r.storm;
  if (st) {
    const a = st.answers;
    out.push('', '## (1) Claim storm', '');
    out.push(
      `A platform coupon of ${s.stormQuantity} units, created by an admin through \`coupons.create\`; then ${a.requests} \`coupons.claim\` calls from ${a.customers} customers (customer i mod ${a.customers}: each asks ${round(a.requests / a.customers, 1)} times), all due at t0, through at most ${a.sockets} sockets (node:http, keep-alive). The api had a few seconds of claims on another coupon first (warm).`,
      '',
    );
    out.push(
      table(
        [
          'claims',
          'issued (200)',
          'COUPON_SOLD_OUT',
          'COUPON_ALREADY_CLAIMED',
          'other',
          'network errors',
          'all answered in ms',
          'answer p50 ms (from t0)',
          'p99',
          'max',
          'service p50 ms (own send)',
          'max',
        ],
        [
          [
            a.requests,
            `**${a.issued}**`,
            a.soldOut,
            a.already,
            JSON.stringify(a.otherStatus),
            a.networkErrors,
            a.wallMs,
            round(a.answerMs.p50, 0),
            round(a.answerMs.p99, 0),
            `**${round(a.answerMs.max, 0)}**`,
            round(a.serviceMs.p50, 0),
            round(a.serviceMs.max, 0),
          ],
        ],
      ),
    );
    out.push(
      '',
      table(
        ['after the storm', 'value'],
        [
          ['coupon_claims rows for the coupon (MySQL)', `**${st.mysqlClaims}**`],
          ['coupons.claimed (MySQL)', st.mysqlClaimed],
          ['remaining in the Redis copy', fmt(st.redisRemaining)],
          ['holders in the Redis copy', st.redisHolders],
          ['customers who heard yes = customers with a claim row', st.sameCustomers ? 'yes' : '**no**'],
        ],
        'lr',
      ),
    );
    if (a.errorSamples.length) out.push('', 'Unexpected answers (first few):', '', ...a.errorSamples.map((e) => `- \`${e.replace(/`/g, "'")}\``));
    out.push('', 'CPU and memory during the storm:', '', usageTable(st.usage));
  }

  // (2)
  if (r.claims.length) {
    out.push('', '## (2) Claims per second, closed loop', '');
    out.push(
      `autocannon, ${s.connections} connections, ${s.warmupSeconds} s warm-up then ${s.seconds} s per phase. *claims*: each request the next (customer, coupon) pair that has not claimed yet, over ${s.claimCoupons} coupons of 1,000,000 units, so every claim is issued (Redis script, MySQL transaction, the answer after COMMIT). ` +
        `*sold out*: the same customers on a coupon whose one unit is gone (the Redis script refuses; MySQL is not asked). *bare*: a bare Fastify route in its own process answering the same bytes, status and headers as the claim's yes (or its 412 refusal), after parsing the same JSON body, with the same request bytes — the machine's ceiling for that answer. ` +
        `Each bare run is followed by the claims it is compared with, for ${s.rounds} rounds (this VM's speed drifts by tens of percent over minutes). Per second: claims issued (200), refusals (412 COUPON_SOLD_OUT), or bare answers.`,
      '',
    );
    const cpu = (p: ClaimPhase, n: string) => round(p.usage.processes.find((x) => x.name === n)?.cpuPct ?? 0, 0);
    out.push(
      table(
        [
          'phase',
          'what',
          'per s',
          '% of bare',
          'p50 ms',
          'p99 ms',
          'answers',
          'api CPU %',
          'bare CPU %',
          'mariadbd CPU %',
          'redis CPU %',
          'bench CPU %',
          'machine busy %',
          'commits/s',
          'row-lock waits/s',
          'api RSS max MB',
        ],
        r.claims.map((p) => [
          p.name,
          p.what,
          `**${p.perSec}**`,
          fmt(p.pctOfBare),
          p.load.latencyMs.p50,
          p.load.latencyMs.p99,
          `${Object.entries(p.load.statusCounts)
            .map(([k, v]) => `${k}: ${v}`)
            .join(
              ', ',
            )}${Object.keys(p.load.reasons).length ? ` (${JSON.stringify(p.load.reasons).replace(/"/g, '')})` : ''}${p.load.errors ? `, errors ${p.load.errors}` : ''}`,
          cpu(p, 'api'),
          cpu(p, 'bare fastify'),
          cpu(p, 'mariadbd'),
          cpu(p, 'redis-server'),
          cpu(p, 'bench (load generator)'),
          p.usage.machineBusyPct,
          p.mysql.Com_commit ?? 0,
          p.mysql.Innodb_row_lock_waits ?? 0,
          round(p.usage.processes.find((x) => x.name === 'api')?.rssMaxMb ?? 0, 0),
        ]),
        'llrrrrlrrrrrrrrr',
      ),
    );
    for (const p of r.claims)
      if (p.load.errorSamples.length) out.push('', `${p.name}, other answers: ${p.load.errorSamples.map((e) => `\`${e.replace(/`/g, "'")}\``).join('; ')}`);
    const c1 = r.claims.find((p) => p.kind === 'claims');
    if (c1) out.push('', `CPU and memory during ${c1.name}:`, '', usageTable(c1.usage));
  }
  if (r.lua) {
    const l = r.lua;
    out.push('', '### The claim script alone', '');
    out.push(
      `\`CouponStore.claim\` (the same Lua script the api runs) from the bench process over one ioredis connection, ${l.inFlight} calls always in flight (so they travel pipelined), each a new customer id on a fresh Redis-only coupon that never runs out: every call takes a unit. No api, no HTTP, no MySQL.`,
      '',
      table(
        ['in flight', 'seconds', 'claims', 'claims/s', 'p50 ms', 'p99 ms', 'not ok', 'redis CPU %', 'bench CPU %'],
        [
          [
            l.inFlight,
            l.seconds,
            l.claims,
            `**${l.claimsPerSec}**`,
            round(l.latencyMs.p50, 2),
            round(l.latencyMs.p99, 2),
            JSON.stringify(l.notOk),
            round(
              cpuOf(l.usage, (n) => n === 'redis-server'),
              0,
            ),
            round(
              cpuOf(l.usage, (n) => n.startsWith('bench')),
              0,
            ),
          ],
        ],
      ),
    );
  }
  if (r.lua) {
    const client = cpuOf(r.lua.usage, (n) => n.startsWith('bench'));
    const redisCpu = cpuOf(r.lua.usage, (n) => n === 'redis-server');
    out.push(
      '',
      client >= 90
        ? `The client is the bound here as much as Redis: the bench process (ioredis) at ${round(client, 0)}% of a core, redis-server at ${round(redisCpu, 0)}%, so the script's own ceiling is above ${r.lua.claimsPerSec}/s — ${round(r.lua.claimsPerSec / Math.max(1, Math.max(0, ...r.claims.filter((p) => p.kind === 'claims').map((p) => p.perSec))), 0)}× the claims the api issues.`
        : `redis-server at ${round(redisCpu, 0)}% of a core, the bench process at ${round(client, 0)}%.`,
    );
  }
  for (const p of r.profiles) out.push('', profileTables(p, `CPU profile: ${p.label}`));
  if (r.claimsLogs.length) out.push('', 'Process logs of (1) and (2) (LOG_LEVEL=warn):', '', logsSection(r.claimsLogs));

  // (3)
  if (r.pipeline.length) {
    out.push('', '## (3) The pipeline: plain orders and coupon + points orders', '');
    out.push(
      `orders.place at ${s.connections} connections (autocannon, closed loop), ${s.warmupSeconds} s warm-up then ${s.seconds} s per phase, ${s.workers} workers (WORKER_CONCURRENCY=${s.workerConcurrency}, MYSQL_POOL_SIZE=${s.workerPoolSize}; api MYSQL_POOL_SIZE=${s.apiPoolSize}). One line of one of ${s.products} products, BALANCE. ` +
        `*plain*: no coupon, no points. *coupon*: the next (customer, coupon) pair not used yet — every customer holds a claim of each of ${s.pipelineCoupons} platform coupons (${s.couponValue} won off, minimum 1,000) — and ${s.pointsPerOrder} points, from granted lots of ${s.pointLots.map((l) => `${l.amount} (${l.days} days)`).join(' and ')}: a customer's first such order spends from one lot, the second from two. ` +
        `*baseline*: plain orders on commit ${r.baseline ? `\`${r.baseline.commit.slice(0, 7)}\` (“${r.baseline.subject.slice(0, 80)}${r.baseline.subject.length > 80 ? '…' : ''}”)` : '(none)'}, the code before the money core, from \`git archive\` into a temporary directory with its own migrations, database and Redis prefix, started the same way and measured in the same run, its phases alternating with today's (odd rounds baseline first, even rounds plain first). ` +
        `PAID/s = the phase's orders settled PAID inside the load window (MySQL's clock). After each phase the queue drains before the next starts; the counters of (4) cover load + drain, so every one of the phase's orders is in them.`,
      '',
    );
    out.push(
      table(
        [
          'round',
          'orders',
          'accepted/s',
          'accept p50 ms',
          'p99 ms',
          'non-200',
          'PAID/s',
          'not PAID',
          'drain s',
          'api CPU %',
          'workers CPU %',
          'mariadbd CPU %',
          'redis CPU %',
          'machine busy %',
          'api RSS max MB',
          'worker RSS max MB',
        ],
        r.pipeline.map((p) => [
          p.round,
          p.kind,
          p.load.acceptedPerSec,
          p.load.latencyMs.p50,
          `**${p.load.latencyMs.p99}**`,
          notOk(p),
          `**${p.paidPerSec}**`,
          Object.values(p.failed).reduce((a, b) => a + b, 0) + p.unsettled,
          p.drainSeconds,
          round(
            cpuOf(p.usage, (n) => isApi(n) && (p.kind === 'baseline') === n.includes('(')),
            0,
          ),
          round(
            cpuOf(p.usage, (n) => isWorker(n) && (p.kind === 'baseline') === n.includes('(')),
            0,
          ),
          round(
            cpuOf(p.usage, (n) => n === 'mariadbd'),
            0,
          ),
          round(
            cpuOf(p.usage, (n) => n === 'redis-server'),
            0,
          ),
          p.usage.machineBusyPct,
          round(Math.max(0, ...p.usage.processes.filter((x) => isApi(x.name) && (p.kind === 'baseline') === x.name.includes('(')).map((x) => x.rssMaxMb)), 0),
          round(
            Math.max(0, ...p.usage.processes.filter((x) => isWorker(x.name) && (p.kind === 'baseline') === x.name.includes('(')).map((x) => x.rssMaxMb)),
            0,
          ),
        ]),
      ),
    );
    out.push('', "**CPU-ms per PAID order** (each process group's CPU over the load window ÷ PAID/s):", '');
    out.push(
      table(
        ['round', 'orders', 'api', 'workers', 'MariaDB', 'Redis', 'load generator'],
        r.pipeline.map((p) => {
          const c = cpuPerOrder(p);
          return [p.round, p.kind, c.api!, c.workers!, c.mariadb!, c.redis!, c['load generator']!];
        }),
      ),
    );
    const ratios = plainRatios(r);
    if (ratios.length) {
      out.push('', 'Plain orders, today vs the baseline, round by round:', '');
      out.push(
        table(
          ['round', 'today PAID/s', 'baseline PAID/s', 'today ÷ baseline', `quiet (other processes < ${NOISY_OTHER_CPU}% of a core on both sides)`],
          ratios.map((x) => [x.round, x.plain, x.baseline, `**${x.pct}%**`, x.quiet ? 'yes' : 'no (left out of the verdict when a quiet round exists)']),
        ),
      );
    }

    const dl = r.pipeline.filter((p) => p.lastDeadlock);
    if (dl.length) {
      const p = dl[dl.length - 1]!;
      out.push(
        '',
        `Deadlocks InnoDB detected: ${r.pipeline.map((x) => `${x.kind} round ${x.round}: ${x.deadlocks ?? 0}`).join(', ')}. The latest (after ${p.kind} round ${p.round}), from SHOW ENGINE INNODB STATUS:`,
        '',
        '```',
        p.lastDeadlock!,
        '```',
      );
    }
    for (const p of r.pipeline)
      if (p.load.errorSamples.length)
        out.push('', `${p.kind} round ${p.round}, other answers: ${p.load.errorSamples.map((e) => `\`${e.replace(/`/g, "'")}\``).join('; ')}`);

    // (4)
    out.push('', '## (4) Statements and round trips per order', '');
    out.push(
      "From the workers' own counters (`bazaar_order_tx_statements_total{kind,step}`, `bazaar_order_tx_round_trips_total{kind}`, scraped from each worker's /metrics before and after each phase, summed over the workers and the rounds) divided by the orders of that kind settled in those phases. Both kinds run the `balance` transaction: the steps an order needs are what differ. The baseline predates the counters.",
      '',
    );
    const ps = statementsPerOrder(r, 'plain');
    const cs = statementsPerOrder(r, 'coupon');
    const steps = [...new Set([...Object.keys(ps?.steps ?? {}), ...Object.keys(cs?.steps ?? {})])];
    out.push(
      table(
        ['per order', 'plain', 'coupon + points'],
        [
          ...steps.map((k) => [`statements: ${k}`, fmt(ps?.steps[k]), fmt(cs?.steps[k])]),
          ['**statements, all steps**', `**${fmt(ps?.total)}**`, `**${fmt(cs?.total)}**`],
          ['**round trips**', `**${fmt(ps?.roundTrips)}**`, `**${fmt(cs?.roundTrips)}**`],
          ['orders counted', fmt(ps?.orders), fmt(cs?.orders)],
        ],
        'lrr',
      ),
    );
    out.push(
      '',
      "MariaDB's own counters (`SHOW GLOBAL STATUS`, deltas from the start of each phase's load to its drained queue, summed over the rounds) per PAID order. They count everything the server ran in that span, the bench's own 4 statements a phase included (under 0.01 an order); a multi-statement batch counts each statement.",
      '',
    );
    const kinds = (['baseline', 'plain', 'coupon'] as const).filter((k) => r.pipeline.some((p) => p.kind === k));
    const coms = kinds.map((k) => comPerOrder(r, k));
    const keys = [
      ...new Set(
        coms.flatMap((c) =>
          Object.entries(c ?? {})
            .filter(([, v]) => v >= 0.05)
            .map(([k]) => k),
        ),
      ),
    ].sort((a, b) => (a === 'Questions' ? -1 : b === 'Questions' ? 1 : a < b ? -1 : 1));
    out.push(
      table(
        ['per PAID order', ...kinds],
        keys.map((k) => [k === 'Questions' ? '**Questions**' : k, ...coms.map((c) => (k === 'Questions' ? `**${fmt(c?.[k])}**` : fmt(c?.[k])))]),
      ),
    );
    for (const p of r.pipeline.filter((x) => x.round === 1)) out.push('', `CPU and memory, ${p.kind} orders, round 1:`, '', usageTable(p.usage));
    const logs = new Map<string, (typeof r.pipeline)[number]['logs'][number]>();
    for (const p of r.pipeline) for (const l of p.logs) logs.set(l.process, l);
    out.push('', 'Process logs of (3) (LOG_LEVEL=warn, at the end of the run):', '', logsSection([...logs.values()]));
  }

  out.push('', '## Notes', '');
  out.push(
    `- Settings: ${Object.entries(s)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(', ')}. Every BENCH_MONEY_* variable is read in \`settings()\` of bench/money.ts.`,
    "- Why a baseline commit rather than the previous pipeline report: plain orders do not run the coupon and point-spend steps, but they do gain the reward lot (2 statements), and a report from another day on this VM drifts by ±30%, more than the 10% the target allows. Measuring the commit before the money core in the same run, alternating with today's code, compares like with like.",
    `- CPU profiles (.cpuprofile, open in Chrome DevTools): ${r.profileDir ?? 'not taken (BENCH_PROFILE=0)'}.`,
    `- Cleanup: ${r.cleanup.length ? r.cleanup.join('; ') : 'databases dropped and Redis keys deleted'}.`,
  );
  return `${out.join('\n')}\n`;
}
