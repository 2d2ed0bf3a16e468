/**
 * `npm run bench:refunds` (also the last part of `npm run bench`): refunds/s the workers complete, with 1 and 2
 * worker processes, for BALANCE and for CARD orders, each beside the raw refund transaction's own ceiling
 * measured in the same run (this VM's speed drifts by ±30% over minutes, so each figure is a ratio to a ceiling
 * measured just before it), and the statements a refund costs.
 *
 *   seed     paid orders of two lines (3 + 2 units) written straight into MySQL as the order transaction writes
 *            them (bench/lib/refunds-seed.ts), every other one spending points (part from a lot that has expired
 *            since, so a give-back re-issues it), each with its reward lot; CARD orders charged at the fake
 *            gateway (a key minted and confirmed over HTTP). Three PENDING refunds per order (1, then 2, then the
 *            last 2 units: the order ends REFUNDED), inserted as rows — no api — so the drain measures the workers.
 *   phases   BALANCE × 1 worker, CARD × 1 worker, BALANCE × 2 workers, CARD × 2 workers: the phase's jobs are
 *            added to the paused `refunds` queue, which is then resumed; refunds/s = the phase's refunds over the
 *            span from the first to the last completed_at. CPU and RSS of every process, MariaDB's counters and
 *            the workers' bazaar_refund_statements_total{step} over the phase, divided by the refunds.
 *   ceiling  just before each phase: the same SQL a BALANCE refund's final transaction sends, over plain mysql2
 *            connections as many as the phase's workers have in flight, no queue, no Redis, no api
 *            (bench/lib/refunds-ceiling.ts).
 *   checks   after each phase: every refund COMPLETED once, the cash returned = what the orders paid, wallet =
 *            ledger, lots = movements, stock (bench/lib/refunds-checks.ts).
 *
 * A CPU profile of worker-1 over the whole run, summarized for each phase. Own database and Redis prefix
 * (dropped at the end, also on failure or Ctrl-C). Settings: BENCH_REFUNDS_* (see settings()). Writes
 * bench/reports/<date>-refunds.md plus the raw JSON; `--render <json>` re-renders a report.
 */
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { PaymentMethod } from '@bazaar/contracts';
import { redisKeys } from '@bazaar/platform';
import { RefundJobName, createRefundsQueue, refundJobId, type RefundJobData } from '@bazaar/queue';
import { mainThreadProfile, summarizeProfile } from './lib/cpuprofile';
import {
  benchEnv,
  cleanup,
  createBenchDatabase,
  dropOrKeep,
  machineInfo,
  mysqlConnection,
  mysqlStatus,
  redisClient,
  redisSnapshot,
  statusRates,
  type BenchEnv,
  type RedisSnapshot,
} from './lib/env';
import { comDelta, comSnapshot, counterDelta } from './lib/money-load';
import { seedPoints } from './lib/money-seed';
import { ROOT, abortStarts, running, startProcess, stopAll, type BenchProcess } from './lib/processes';
import { refundCeiling } from './lib/refunds-ceiling';
import { checkBatch, databaseInvariants } from './lib/refunds-checks';
import {
  completedOf,
  ctxtPerRefund,
  ctxtSnapshot,
  scrapeRefundCounters,
  startGatewayProcess,
  type CtxtSnapshot,
  type GatewayProcess,
} from './lib/refunds-procs';
import { analyzeRefunds, renderRefundsReport } from './lib/refunds-report';
import { EXPIRED_LOT, LIVE_LOT, REFUND_PLAN, insertRefunds, planRefunds, seedOrders, type RefundBatch, type SeededRefund } from './lib/refunds-seed';
import type { CeilingRun, RefundPhase, RefundsResult, RefundsSettings } from './lib/refunds-types';
import { Sampler, findPid, machineBusyOver, type PhaseUsage } from './lib/sampler';
import { seedAdmin, seedDatabase, seedGate } from './lib/seed';
import { envNumber, monoMicros, nowMs, round, sleep } from './lib/stats';
import type { ProcessLog } from './lib/types';

const num = envNumber;
const SECRET_KEY = 'test_sk_bazaar_bench';

function settings(): RefundsSettings {
  const workerConcurrency = num('BENCH_REFUNDS_WORKER_CONCURRENCY', 16);
  return {
    refundsPerPhase: num('BENCH_REFUNDS_PER_PHASE', 3000),
    warmupRefunds: num('BENCH_REFUNDS_WARMUP', 300),
    workerConcurrency,
    workerPoolSize: num('BENCH_REFUNDS_WORKER_POOL_SIZE', workerConcurrency),
    ceilingSeconds: num('BENCH_REFUNDS_CEILING_SECONDS', 5),
    ceilingRefunds: num('BENCH_REFUNDS_CEILING_REFUNDS', 3600),
    drainMaxSeconds: num('BENCH_REFUNDS_DRAIN_MAX_SECONDS', 120),
    products: num('BENCH_REFUNDS_PRODUCTS', 1000),
    seedChunk: num('BENCH_REFUNDS_SEED_CHUNK', 100),
    profile: process.env.BENCH_PROFILE !== '0',
    quietWaitSeconds: num('BENCH_QUIET_WAIT_SECONDS', 45),
  };
}

const PHASES = [
  { name: 'BALANCE, 1 worker', method: PaymentMethod.BALANCE, workers: 1, tag: 'p1b', ceiling: 'k1' },
  { name: 'CARD, 1 worker', method: PaymentMethod.CARD, workers: 1, tag: 'p1c', ceiling: 'k2' },
  { name: 'BALANCE, 2 workers', method: PaymentMethod.BALANCE, workers: 2, tag: 'p2b', ceiling: 'k3' },
  { name: 'CARD, 2 workers', method: PaymentMethod.CARD, workers: 2, tag: 'p2c', ceiling: 'k4' },
] as const;
const WARMUPS = { 1: ['w1b', 'w1c'], 2: ['w2b', 'w2c'] } as const;
const STOCK = 1_000_000;

const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

function processLogs(procs: { name: string; tally?: BenchProcess['tally']; child: BenchProcess['child'] }[]): ProcessLog[] {
  return procs.map((p) => ({
    process: p.name,
    warn: p.tally?.warn ?? 0,
    error: p.tally?.error ?? 0,
    messages: [...(p.tally?.messages.entries() ?? [])].map(([message, count]) => ({ message, count })),
    exitCode: p.child.exitCode,
  }));
}

interface Ctx {
  env: BenchEnv;
  s: RefundsSettings;
  db: mysql.Connection;
  redis: Redis;
  queue: Queue<RefundJobData>;
  sampler: Sampler;
  /** Processes whose context switches are counted (workers join as they start). */
  pids: { name: string; pid: number | null }[];
  gateway: GatewayProcess;
  workers: BenchProcess[];
  batches: Map<string, RefundBatch>;
  stockSeeded: number;
  result: RefundsResult;
}

async function backlog(queue: Queue<RefundJobData>): Promise<number> {
  const q = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  return Object.values(q).reduce((a, b) => a + (b ?? 0), 0);
}

/**
 * Adds the refunds' jobs to the paused queue and resumes it; returns once the workers' counters have counted every
 * one completed (or drainMaxSeconds passed), then waits for the queue to be empty.
 */
async function drain(
  ctx: Ctx,
  refunds: SeededRefund[],
): Promise<{ fromUs: number; toUs: number; wallSeconds: number; timedOut: boolean; usage: PhaseUsage; ctxt: [CtxtSnapshot, CtxtSnapshot] }> {
  const ports = ctx.workers.map((w) => w.port);
  const before = completedOf(await scrapeRefundCounters(ports));
  await ctx.queue.pause();
  for (let i = 0; i < refunds.length; i += 1000) {
    await ctx.queue.addBulk(
      refunds.slice(i, i + 1000).map((r) => ({
        name: RefundJobName.APPLY,
        data: { refundId: r.refundId, orderId: r.orderId, userId: r.userId, requestId: `bench-${r.refundId}` },
        opts: { jobId: refundJobId(r.refundId) },
      })),
    );
  }
  const window = ctx.sampler.begin();
  const ctxtBefore = ctxtSnapshot(ctx.pids);
  const fromUs = monoMicros();
  const started = nowMs();
  await ctx.queue.resume();
  let timedOut = false;
  for (;;) {
    await sleep(100);
    if (completedOf(await scrapeRefundCounters(ports)) - before >= refunds.length) break;
    if (nowMs() - started > ctx.s.drainMaxSeconds * 1000) {
      timedOut = true;
      break;
    }
  }
  const toUs = monoMicros();
  const ctxtAfter = ctxtSnapshot(ctx.pids);
  const wallSeconds = round((nowMs() - started) / 1000, 2);
  const usage = window.end();
  const until = Date.now() + 10_000;
  while ((await backlog(ctx.queue)) > 0 && Date.now() < until) await sleep(100);
  return { fromUs, toUs, wallSeconds, timedOut, usage, ctxt: [ctxtBefore, ctxtAfter] };
}

async function warmup(ctx: Ctx, tags: readonly string[]): Promise<void> {
  const batches = tags.map((t) => ctx.batches.get(t)!);
  const refunds = batches.flatMap((b) => b.refunds);
  if (!refunds.length) return;
  say(`    warm-up: ${refunds.length} refunds (${tags.join(' + ')}) over ${ctx.workers.length} worker(s), not measured`);
  const d = await drain(ctx, refunds);
  let ok = !d.timedOut;
  for (const b of batches) {
    const check = await checkBatch(ctx.db, b, { stockSeeded: ctx.stockSeeded, gatewayUrl: ctx.gateway.url });
    if (!check.ok) {
      ok = false;
      say(`    warm-up ${b.tag} checks failed: ${check.problems.join('; ')}`);
    }
  }
  ctx.result.warmups.push({ name: tags.join('+'), refunds: refunds.length, seconds: d.wallSeconds, ok });
}

async function ceiling(ctx: Ctx, tag: string, connections: number, before: string): Promise<CeilingRun> {
  const { s, sampler, db } = ctx;
  const batch = ctx.batches.get(tag)!;
  const [busy, backgroundQuestionsPerSec] = await Promise.all([machineBusyOver(1000), backgroundQuestions(db)]);
  say(
    `    ceiling: the raw BALANCE refund transaction over ${connections} mysql2 connections, up to ${s.ceilingSeconds} s (before: machine ${busy}% busy, ${backgroundQuestionsPerSec} Questions/s from others)`,
  );
  const comBefore = await comSnapshot(db);
  const usage = sampler.begin();
  const ctxtBefore = ctxtSnapshot(ctx.pids);
  const r = await refundCeiling({ mysqlUrl: ctx.env.mysqlUrl, refunds: batch.refunds, connections, seconds: s.ceilingSeconds });
  const ctxtAfter = ctxtSnapshot(ctx.pids);
  const u = usage.end();
  const com = comDelta(comBefore, await comSnapshot(db));
  const { done: _done, ...rest } = r;
  const [[row]] = (await db.query(`SELECT COUNT(*) AS n FROM refunds WHERE idempotency_key LIKE ? AND status = 'COMPLETED'`, [`${tag}-%`])) as unknown as [
    [{ n: number }],
  ];
  const run: CeilingRun = {
    ...rest,
    before,
    usage: u,
    com,
    backgroundQuestionsPerSec,
    completedInMysql: Number(row.n),
    ctxt: ctxtPerRefund(ctxtBefore, ctxtAfter, r.refunds),
  };
  if (run.completedInMysql !== r.refunds) say(`    ceiling: MySQL has ${run.completedInMysql} of its refunds COMPLETED, it applied ${r.refunds}`);
  ctx.result.ceilings.push(run);
  const cpu = (n: string) =>
    round(
      u.processes.filter((p) => p.name === n).reduce((a, p) => a + p.cpuPct, 0),
      0,
    );
  say(
    `    ceiling: ${r.perSec} refunds/s (${r.refunds} in ${r.seconds} s, p50 ${round(r.latencyMs.p50, 1)} ms, p99 ${round(r.latencyMs.p99, 1)} ms, ${r.retries} retries); ` +
      `${round((com.Questions ?? 0) / Math.max(1, r.refunds), 1)} Questions a refund; mariadbd ${cpu('mariadbd')}%, bench ${cpu('bench (load generator)')}%, machine ${u.machineBusyPct}% busy`,
  );
  return run;
}

async function phase(ctx: Ctx, p: (typeof PHASES)[number], ceilingRun: CeilingRun): Promise<RefundPhase> {
  const { db } = ctx;
  const batch = ctx.batches.get(p.tag)!;
  const ports = ctx.workers.map((w) => w.port);
  const [busy, backgroundQuestionsPerSec] = await Promise.all([machineBusyOver(1000), backgroundQuestions(db)]);
  say(
    `(${p.name}) ${batch.refunds.length} refunds of ${batch.orders.length} orders (before: machine ${busy}% busy, ${backgroundQuestionsPerSec} Questions/s from others)`,
  );
  const countersBefore = await scrapeRefundCounters(ports);
  const perWorkerBefore = await Promise.all(ports.map(async (port) => completedOf(await scrapeRefundCounters([port]))));
  const errorsBefore = await jobErrors(ports);
  const comBefore = await comSnapshot(db);
  const ratesBefore = await mysqlStatus(db);
  const redisBefore = await redisSnapshot(ctx.redis);
  const d = await drain(ctx, batch.refunds);
  const u = d.usage;
  const redisAfter = await redisSnapshot(ctx.redis);
  const ratesAfter = await mysqlStatus(db);
  const comAfter = await comSnapshot(db);
  const countersAfter = await scrapeRefundCounters(ports);
  const perWorkerAfter = await Promise.all(ports.map(async (port) => completedOf(await scrapeRefundCounters([port]))));
  const failedAttempts = (await jobErrors(ports)) - errorsBefore;
  const [[span]] = (await db.query(
    `SELECT COUNT(*) AS n, DATE_FORMAT(MIN(completed_at), '%Y-%m-%d %H:%i:%s.%f') AS a, DATE_FORMAT(MAX(completed_at), '%Y-%m-%d %H:%i:%s.%f') AS b,
       TIMESTAMPDIFF(MICROSECOND, MIN(completed_at), MAX(completed_at)) AS us
     FROM refunds WHERE idempotency_key LIKE ? AND status = 'COMPLETED'`,
    [`${batch.tag}-%`],
  )) as unknown as [[{ n: number; a: string | null; b: string | null; us: number | null }]];
  const spanSeconds = Number(span.us ?? 0) / 1e6;
  const completed = Number(span.n);
  const perSec = spanSeconds > 0 ? Math.round(completed / spanSeconds) : 0;
  const check = await checkBatch(db, batch, { stockSeeded: ctx.stockSeeded, gatewayUrl: ctx.gateway.url });
  const com = comDelta(comBefore, comAfter);
  const result: RefundPhase = {
    name: p.name,
    method: p.method,
    workers: p.workers,
    refunds: batch.refunds.length,
    perSec,
    firstCompleted: span.a,
    lastCompleted: span.b,
    spanSeconds: round(spanSeconds, 2),
    wallSeconds: d.wallSeconds,
    wallPerSec: Math.round(completed / Math.max(0.001, d.wallSeconds)),
    timedOut: d.timedOut,
    ceiling: ceilingRun,
    ratio: ceilingRun.perSec > 0 ? round(perSec / ceilingRun.perSec, 3) : 0,
    usage: u,
    mysqlRates: statusRates(ratesBefore, ratesAfter),
    com,
    counters: counterDelta(countersBefore, countersAfter),
    failedAttempts,
    deadlocks: com.Innodb_deadlocks ?? 0,
    backgroundQuestionsPerSec,
    redis: redisPerRefund(redisBefore, redisAfter, completed),
    ctxt: ctxtPerRefund(d.ctxt[0], d.ctxt[1], completed),
    completedByWorker: Object.fromEntries(ctx.workers.map((w, i) => [w.name, perWorkerAfter[i]! - perWorkerBefore[i]!])),
    check,
    logs: processLogs(ctx.workers),
    window: { fromUs: d.fromUs, toUs: d.toUs },
  };
  const cpu = (match: (n: string) => boolean) =>
    round(
      u.processes.filter((x) => match(x.name)).reduce((a, x) => a + x.cpuPct, 0),
      0,
    );
  say(
    `    ${perSec} refunds/s = ${round(result.ratio * 100, 1)}% of the ceiling (${completed} completed over ${result.spanSeconds} s; wall ${d.wallSeconds} s${d.timedOut ? ', TIMED OUT' : ''}); ` +
      `${round((com.Questions ?? 0) / Math.max(1, completed), 1)} Questions, ${round((com.Com_commit ?? 0) / Math.max(1, completed), 2)} commits a refund; ` +
      `workers ${cpu((n) => n.startsWith('worker-'))}%, mariadbd ${cpu((n) => n === 'mariadbd')}%, redis ${cpu((n) => n === 'redis-server')}%, gateway ${cpu((n) => n === 'fake-gateway')}%, machine ${u.machineBusyPct}% busy; ` +
      `${failedAttempts} failed attempts; checks ${check.ok ? 'ok' : `FAILED: ${check.problems.join('; ')}`}`,
  );
  return result;
}

/** Redis commands per refund between two snapshots (INFO commandstats; the server is shared, the bench itself sends next to nothing meanwhile). */
function redisPerRefund(a: RedisSnapshot, b: RedisSnapshot, refunds: number): RefundPhase['redis'] {
  const per = (x: number) => round(x / Math.max(1, refunds), 2);
  const commands = Object.entries(b.commands)
    .map(([command, v]) => ({ command, calls: v.calls - (a.commands[command]?.calls ?? 0), usec: v.usec - (a.commands[command]?.usec ?? 0) }))
    .filter((x) => x.calls > 0)
    .sort((x, y) => y.calls - x.calls);
  return {
    commandsPerRefund: per(b.totalCommands - a.totalCommands),
    usecPerRefund: per(commands.reduce((s, x) => s + x.usec, 0)),
    top: commands.slice(0, 10).map((x) => ({ command: x.command, perRefund: per(x.calls), usecPerCall: round(x.usec / x.calls, 1) })),
  };
}

/** Questions/s MariaDB answers over a second while the bench and its workers send nothing (other tenants); our two SHOW STATUS left out. */
async function backgroundQuestions(db: mysql.Connection): Promise<number> {
  const a = await comSnapshot(db);
  const t = nowMs();
  await sleep(1000);
  const b = await comSnapshot(db);
  return Math.max(0, Math.round(((b.Questions ?? 0) - (a.Questions ?? 0) - 1) / ((nowMs() - t) / 1000)));
}

/** Job attempts that threw (the processor's outcome="error"), summed over the workers. */
async function jobErrors(ports: number[]): Promise<number> {
  let sum = 0;
  for (const port of ports) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    for (const m of text.matchAll(/^bazaar_job_duration_seconds_count\{([^}]*)\} (\S+)$/gm)) {
      if (m[1]!.includes('queue="refunds"') && m[1]!.includes('outcome="error"')) sum += Number(m[2]);
    }
  }
  return sum;
}

// ---------------------------------------------------------------- seeding

async function seed(ctx: Omit<Ctx, 'queue' | 'workers' | 'batches' | 'stockSeeded'>, prefix: string): Promise<Map<string, RefundBatch>> {
  const { s, db, redis, result } = ctx;
  const started = Date.now();
  const per = REFUND_PLAN.length;
  const ordersFor = (refunds: number) => Math.max(1, Math.ceil(refunds / per));
  const specs: { tag: string; method: PaymentMethod; orders: number }[] = [
    ...Object.values(WARMUPS).flatMap((tags) =>
      tags.map((tag) => ({ tag, method: tag.endsWith('c') ? PaymentMethod.CARD : PaymentMethod.BALANCE, orders: ordersFor(s.warmupRefunds) })),
    ),
    ...PHASES.map((p) => ({ tag: p.tag, method: p.method, orders: ordersFor(s.refundsPerPhase) })),
    ...PHASES.map((p) => ({ tag: p.ceiling, method: PaymentMethod.BALANCE, orders: ordersFor(s.ceilingRefunds) })),
  ];
  const total = specs.reduce((a, x) => a + x.orders, 0);
  say(`seeding ${total} customers (one order each), ${s.products} products; granted points: ${EXPIRED_LOT} (expired since) + ${LIVE_LOT}`);
  const seeded = await seedDatabase(db, { customers: total, products: s.products, balance: 1_000_000_000, stock: STOCK });
  const admin = await seedAdmin(db);
  await seedPoints(db, admin.userId, seeded.customers, [
    { amount: EXPIRED_LOT, days: -1 / 24 },
    { amount: LIVE_LOT, days: 180 },
  ]);
  const batches = new Map<string, RefundBatch>();
  let at = 0;
  for (const [i, spec] of specs.entries()) {
    const customers = seeded.customers.slice(at, at + spec.orders);
    at += spec.orders;
    const orders = await seedOrders(db, {
      tag: spec.tag,
      method: spec.method,
      customers,
      products: seeded.products,
      gateway: spec.method === PaymentMethod.CARD ? { url: ctx.gateway.url, secretKey: SECRET_KEY } : null,
      chunk: s.seedChunk,
      salt: i * 13,
    });
    batches.set(spec.tag, { tag: spec.tag, method: spec.method, orders, refunds: planRefunds(orders) });
  }
  say(`    ${total} paid orders in ${round((Date.now() - started) / 1000, 1)} s; inserting their refunds`);
  await insertRefunds(db, [...batches.values()]);
  await seedGate(
    redis,
    db,
    prefix,
    seeded.products.map((p) => p.id),
  );
  const refunds = [...batches.values()].reduce((a, b) => a + b.refunds.length, 0);
  result.seed = {
    orders: total,
    refunds,
    customers: total,
    seconds: round((Date.now() - started) / 1000, 1),
    gatewayPayments: [...batches.values()].filter((b) => b.method === PaymentMethod.CARD).reduce((a, b) => a + b.orders.length, 0),
  };
  say(`    seeded ${total} orders and ${refunds} PENDING refunds in ${result.seed.seconds} s`);
  return batches;
}

// ---------------------------------------------------------------- main

let shuttingDown = false;

async function main(): Promise<void> {
  const s = settings();
  const env = benchEnv();
  const result: RefundsResult = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    totalSeconds: 0,
    database: env.database,
    redisPrefix: env.prefixBase,
    settings: s,
    machine: undefined as unknown as RefundsResult['machine'],
    loadavgBefore: readFileSync('/proc/loadavg', 'utf8').trim(),
    busyBefore: 0,
    seed: { orders: 0, refunds: 0, customers: 0, seconds: 0, gatewayPayments: 0 },
    warmups: [],
    ceilings: [],
    phases: [],
    finalInvariants: null,
    profiles: [],
    findings: [],
    profileDir: null,
    cleanup: [],
    error: null,
  };
  let gateway: GatewayProcess | null = null;
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  function onSignal(signal: string) {
    if (shuttingDown) return;
    shuttingDown = true;
    say(`${signal}: stopping every process the bench started and cleaning up`);
    abortStarts();
    void (async () => {
      await stopAll(5000);
      await gateway?.stop(2000);
      if (!process.env.BENCH_KEEP) for (const p of await cleanup(env)) say(`    cleanup: ${p}`);
      say(`stopped; ${env.database} dropped and ${env.prefixBase}* keys deleted`);
      process.exit(130);
    })();
  }

  const sampler = new Sampler(cpus().length);
  let db: mysql.Connection | null = null;
  let redis: Redis | null = null;
  let queue: Queue<RefundJobData> | null = null;
  const workers: BenchProcess[] = [];
  const windows: { label: string; window: { fromUs: number; toUs: number } }[] = [];
  let profDir: string | null = null;
  try {
    say(`database ${env.database}, Redis prefix ${env.prefixBase}*; load average ${result.loadavgBefore}`);
    await createBenchDatabase(env);
    db = await mysqlConnection(env.mysqlUrl, true, true);
    redis = redisClient(env.redisUrl);
    result.machine = await machineInfo(db, redis);
    say(`machine: ${result.machine.cores} cores, Node ${result.machine.node}, MariaDB ${result.machine.mysqlVersion}, Redis ${result.machine.redisVersion}`);
    const quietUntil = Date.now() + s.quietWaitSeconds * 1000;
    result.busyBefore = await machineBusyOver(3000);
    while (result.busyBefore > 15 && Date.now() < quietUntil) {
      say(`machine ${result.busyBefore}% busy with other work; waiting for a quieter moment`);
      result.busyBefore = await machineBusyOver(3000);
    }
    say(`machine ${result.busyBefore}% busy before the bench starts anything`);
    const pids: Ctx['pids'] = [
      { name: 'bench (load generator)', pid: process.pid },
      { name: 'mariadbd', pid: findPid('mariadbd', 'mysqld') },
      { name: 'redis-server', pid: findPid('redis-server') },
    ];
    for (const p of pids) sampler.track(p.name, p.pid);

    gateway = await startGatewayProcess(SECRET_KEY);
    sampler.track(gateway.name, gateway.pid);
    pids.push({ name: gateway.name, pid: gateway.pid });
    const prefix = `${env.prefixBase}r`;
    const base = { env, s, db, redis, sampler, pids, gateway, result };
    const batches = await seed(base, prefix);
    queue = createRefundsQueue(redis, redisKeys(prefix), 10);
    const ctx: Ctx = { ...base, queue, workers, batches, stockSeeded: s.products * STOCK };

    profDir = s.profile ? mkdtempSync(join(tmpdir(), 'bazaar-refunds-prof-')) : null;
    result.profileDir = profDir;
    const workerEnv = {
      MYSQL_URL: env.mysqlUrl,
      REDIS_URL: env.redisUrl,
      REDIS_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      WORKER_CONCURRENCY: String(s.workerConcurrency),
      MYSQL_POOL_SIZE: String(s.workerPoolSize),
      PAYMENT_GATEWAY_URL: gateway.url,
      PAYMENT_SECRET_KEY: SECRET_KEY,
    };
    const startWorker = async (n: number) => {
      say(`starting worker-${n} (WORKER_CONCURRENCY=${s.workerConcurrency}, MYSQL_POOL_SIZE=${s.workerPoolSize}${n === 1 && profDir ? ', CPU profile' : ''})`);
      const w = await startProcess('worker', `worker-${n}`, { env: workerEnv, ...(n === 1 && profDir ? { cpuProfDir: profDir } : {}) });
      workers.push(w);
      sampler.track(w.name, w.pid);
      pids.push({ name: w.name, pid: w.pid });
    };
    const inFlight = Math.min(s.workerConcurrency, s.workerPoolSize);
    for (const p of PHASES) {
      while (workers.length < p.workers) {
        await startWorker(workers.length + 1);
        await warmup(ctx, WARMUPS[workers.length as 1 | 2]);
      }
      const c = await ceiling(ctx, p.ceiling, p.workers * inFlight, p.name);
      const r = await phase(ctx, p, c);
      result.phases.push(r);
      windows.push({ label: p.name, window: r.window });
    }
    result.finalInvariants = await databaseInvariants(db, ctx.stockSeeded);
    if (result.finalInvariants.problems.length) say(`final invariants: ${result.finalInvariants.problems.join('; ')}`);
  } catch (err) {
    result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    if (!shuttingDown) {
      say(`FAILED: ${result.error}`);
      for (const p of running) say(`    ${p.name} last lines:\n${p.logs.slice(-10).join('\n')}`);
      process.exitCode = 1;
    }
  } finally {
    for (const w of workers) sampler.untrack(w.pid);
    sampler.stop();
    await Promise.allSettled(workers.map((w) => w.stop(15_000)));
    await stopAll(10_000);
    await gateway?.stop(5000);
    await queue?.close().catch(() => undefined);
    await db?.end().catch(() => undefined);
    redis?.disconnect();
    if (!shuttingDown) result.cleanup.push(...(await dropOrKeep(env, say)));
  }
  if (shuttingDown) return;
  // worker-1 wrote its profile on exit: every phase (in the 2-worker ones it has about half the refunds).
  const file = profDir ? mainThreadProfile(profDir) : null;
  if (profDir && !file) say('    (no profile written for worker-1)');
  if (file) for (const w of windows) result.profiles.push(summarizeProfile(`worker-1 during "${w.label}"`, file, w.window, 12));
  result.finishedAt = new Date().toISOString();
  result.totalSeconds = Math.round((Date.now() - t0) / 1000);
  if (result.machine) {
    result.findings = analyzeRefunds(result);
    const dir = join(ROOT, 'bench', 'reports');
    mkdirSync(dir, { recursive: true });
    const out = join(dir, `${result.startedAt.slice(0, 10)}-refunds`);
    writeFileSync(`${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${out}.md`, renderRefundsReport(result));
    say(`report: ${out}.md (raw: ${out}.json), ${result.totalSeconds} s in all`);
    for (const f of result.findings) say(`    ${f.slice(0, 400)}`);
  }
}

function renderOnly(file: string): void {
  const result = JSON.parse(readFileSync(file, 'utf8')) as RefundsResult;
  result.findings = analyzeRefunds(result);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(file.replace(/\.json$/, '.md'), renderRefundsReport(result));
  process.stdout.write(`report: ${file.replace(/\.json$/, '.md')}\n`);
}

const renderArg = process.argv.indexOf('--render');
if (renderArg >= 0) renderOnly(process.argv[renderArg + 1] ?? join(ROOT, 'bench', 'reports', `${new Date().toISOString().slice(0, 10)}-refunds.json`));
else
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
