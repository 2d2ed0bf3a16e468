/**
 * `npm run bench`: the order pipeline's benchmark, in one run.
 *
 *   (a) the raw MariaDB ceiling: the worker's order transaction over plain mysql2;
 *   (b) the pipeline: orders.place → accepted → PAID per second, with 1, 2, 3 workers;
 *   (c) a flash sale: 10,000 orders at once on 100 units.
 *
 * It uses its own database and Redis prefix (dropped at the end, also on
 * failure or Ctrl-C), starts the api and workers as child processes, samples
 * CPU and RSS of every process, profiles the api and a worker during (b),
 * and writes bench/reports/<date>-pipeline.md plus the raw JSON.
 * Settings: BENCH_* variables (see `settings()` below).
 * `npm run bench -- --render bench/reports/<date>-pipeline.json` re-renders a report from its raw JSON.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { redisKeys } from '@bazaar/platform';
import { createOrdersQueue } from '@bazaar/queue';
import { bazaarClient } from '../scripts/lib/client';
import { nodeOptions } from '../scripts/lib/node-options';
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from './lib/cpuprofile';
import {
  benchEnv,
  cleanup,
  createBenchDatabase,
  dropOrKeep,
  machineInfo,
  mysqlConnection,
  mysqlStatus,
  redisClient,
  redisRates,
  redisSnapshot,
  statusRates,
  type BenchEnv,
} from './lib/env';
import { flashSale } from './lib/flash';
import * as load from './lib/load';
import { openLoopOrders } from './lib/open-loop';
import { microBench } from './lib/micro';
import { ROOT, abortStarts, running, startProcess, stopAll, type BenchProcess } from './lib/processes';
import { analyze, renderReport } from './lib/report';
import { Sampler, findPid, machineBusyOver } from './lib/sampler';
import { seedDatabase, seedGate, seedSessions, type Product, type Seeded } from './lib/seed';
import { envNumber, monoMicros, round, sleep, summarize } from './lib/stats';
import type { BenchResult, FlashRun, HotFlashRun, MicroRun, OpenLoopRun, PipelineRun, ProcessLog, Settings } from './lib/types';

const num = envNumber;
const list = (name: string, dflt: number[]) =>
  process.env[name] === undefined
    ? dflt
    : process.env[name]
        .split(',')
        .map(Number)
        .filter((n) => n > 0);

function settings(): Settings {
  const workerConcurrency = num('BENCH_WORKER_CONCURRENCY', 32);
  return {
    loadSeconds: num('BENCH_LOAD_SECONDS', 60),
    warmupSeconds: num('BENCH_WARMUP_SECONDS', 3),
    drainSeconds: num('BENCH_DRAIN_SECONDS', 10),
    connections: num('BENCH_CONNECTIONS', 200),
    workerCounts: list('BENCH_WORKERS', [1, 2, 3]),
    batchSizes: list('BENCH_BATCH', [16, 1]),
    openRates: list('BENCH_OPEN_RATES', [500, 1000]),
    openWorkers: num('BENCH_OPEN_WORKERS', 2),
    openNice: process.env.BENCH_OPEN_NICE === undefined ? [0, 10] : process.env.BENCH_OPEN_NICE.split(',').map(Number).filter((n) => n >= 0 && n <= 19),
    hotNice: num('BENCH_HOT_NICE', 10),
    openSeconds: num('BENCH_OPEN_SECONDS', 30),
    otherNode: otherNode(),
    workerConcurrency,
    workerPoolSize: num('BENCH_WORKER_POOL_SIZE', workerConcurrency),
    apiPoolSize: num('BENCH_API_POOL_SIZE', 10),
    microConnections: list('BENCH_MICRO_CONNS', [16, 32, 64]),
    microSeconds: num('BENCH_MICRO_SECONDS', 10),
    customers: num('BENCH_CUSTOMERS', 10_000),
    products: num('BENCH_PRODUCTS', 1_000),
    flashOrders: num('BENCH_FLASH_ORDERS', 10_000),
    flashStock: num('BENCH_FLASH_STOCK', 100),
    flashInFlight: num('BENCH_FLASH_IN_FLIGHT', 1_000),
    flashWorkers: num('BENCH_FLASH_WORKERS', 2),
    flashApis: num('BENCH_FLASH_APIS', 2),
    hotProducts: num('BENCH_HOT_PRODUCTS', 10),
    hotStock: num('BENCH_HOT_STOCK', 1_000),
    hotOrders: num('BENCH_HOT_ORDERS', 100_000),
    hotSeconds: num('BENCH_HOT_SECONDS', 60),
    hotWorkers: num('BENCH_HOT_WORKERS', 2),
    profile: process.env.BENCH_PROFILE !== '0',
    profileSeconds: num('BENCH_PROFILE_SECONDS', 20),
    nodeOptions: [nodeOptions(), process.env.BENCH_NODE_ARGS ?? ''].join(' ').trim(),
  };
}

/** The machine's own Node (BENCH_OTHER_NODE, default /usr/bin/node) when it is another version than the project's. */
function otherNode(): Settings['otherNode'] {
  const path = process.env.BENCH_OTHER_NODE ?? '/usr/bin/node';
  if (path === '' || !existsSync(path)) return null;
  const r = spawnSync(path, ['-v'], { encoding: 'utf8' });
  const version = r.stdout.trim();
  return r.status === 0 && version !== process.version ? { path, version } : null;
}

const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

/** MySQL's own clock, as a string it can compare settled_at with. */
async function mysqlNow(c: mysql.Connection): Promise<string> {
  const [[r]] = (await c.query(`SELECT DATE_FORMAT(NOW(3), '%Y-%m-%d %H:%i:%s.%f') AS t`)) as unknown as [[{ t: string }]];
  return r.t;
}

async function scalar(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<number> {
  const [rows] = (await c.query(sql, params)) as unknown as [Record<string, unknown>[]];
  const first = rows[0];
  return first ? Number(Object.values(first)[0] ?? 0) : 0;
}

function processLogs(procs: BenchProcess[]): ProcessLog[] {
  return procs.map((p) => ({
    process: p.name,
    warn: p.tally.warn,
    error: p.tally.error,
    messages: [...p.tally.messages.entries()].map(([message, count]) => ({ message, count })),
    exitCode: p.child.exitCode,
  }));
}

function processEnv(env: BenchEnv, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return { MYSQL_URL: env.mysqlUrl, REDIS_URL: env.redisUrl, REDIS_PREFIX: prefix, LOG_LEVEL: 'warn', ...extra };
}

async function queueCounts(redis: Redis, prefix: string): Promise<Record<string, number>> {
  const queue = createOrdersQueue(redis, redisKeys(prefix), 10);
  try {
    return await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  } finally {
    await queue.close();
  }
}

const backlogOf = (q: Record<string, number>) => (q.waiting ?? 0) + (q.active ?? 0) + (q.delayed ?? 0) + (q.prioritized ?? 0);

interface Ctx {
  env: BenchEnv;
  s: Settings;
  db: mysql.Connection;
  redis: Redis;
  seeded: Seeded;
  sampler: Sampler;
  profileDir: string | null;
}

// ---------------------------------------------------------------- (a)

async function phaseMicro(ctx: Ctx): Promise<MicroRun[]> {
  const runs: MicroRun[] = [];
  const customers = ctx.seeded.customers.map((c) => c.userId);
  for (const shape of ['statements', 'batched'] as const) {
    for (const connections of ctx.s.microConnections) {
      say(
        `(a) mysql2 micro-benchmark: the worker's BALANCE transaction, ${shape === 'batched' ? 'batched in 3 round trips' : 'one round trip a statement'}, ${connections} connections × ${ctx.s.microSeconds} s`,
      );
      const before = await mysqlStatus(ctx.db);
      const usage = ctx.sampler.begin();
      const r = await microBench({
        connect: () => mysqlConnection(ctx.env.mysqlUrl, true, shape === 'batched'),
        shape,
        connections,
        seconds: ctx.s.microSeconds,
        customers,
        products: ctx.seeded.products,
        fulfillment: load.FULFILLMENT,
        tag: `m${shape[0]}${connections}`,
      });
      const u = usage.end();
      const after = await mysqlStatus(ctx.db);
      runs.push({ ...r, usage: u, mysql: statusRates(before, after) });
      say(`    ${r.txPerSec} tx/s, p50 ${round(r.latencyMs.p50)} ms, p99 ${round(r.latencyMs.p99)} ms (retries ${r.retries}, errors ${r.errors.length})`);
      if (r.errors.length) say(`    errors: ${r.errors.join(' | ')}`);
    }
  }
  return runs;
}

/** A phase's fresh Redis prefix gets the seeded customers' sessions and the products' gate counters. */
async function seedPrefix(ctx: Ctx, prefix: string): Promise<void> {
  await seedSessions(ctx.redis, prefix, ctx.seeded);
  await seedGate(
    ctx.redis,
    ctx.db,
    prefix,
    ctx.seeded.products.map((p) => p.id),
  );
}

// ---------------------------------------------------------------- (b)

/**
 * One (b) run. The measured runs run without the profiler (it costs CPU and holds its samples in memory, which
 * showed as RSS); `profile` runs the same shape again with the api and worker-1 under --cpu-prof, for where the
 * CPU goes.
 */
async function phasePipeline(
  ctx: Ctx,
  k: number,
  batchSize: number,
  runtime: { path: string; version: string } | null = null,
  opts: { profile?: boolean; seconds?: number } = {},
): Promise<PipelineRun> {
  const { env, s, db, redis, seeded } = ctx;
  const loadSeconds = opts.seconds ?? s.loadSeconds;
  const tag = `${k}b${batchSize}${runtime ? 'n' : ''}${opts.profile ? 'p' : ''}`;
  const prefix = `${env.prefixBase}k${tag}`;
  const keyPrefix = `b${tag}`;
  const node = runtime?.version ?? process.version;
  const nodePath = runtime ? { nodePath: runtime.path } : {};
  await seedPrefix(ctx, prefix);
  say(
    `(b) pipeline with ${k} worker${k > 1 ? 's' : ''}, batching ${batchSize > 1 ? `on (${batchSize})` : 'off'}, Node ${node}${opts.profile ? ', profiled' : ''}: starting the api and workers (prefix ${prefix})`,
  );
  const profiled = Boolean(opts.profile && ctx.profileDir && !runtime);
  const prof = (name: string) => (profiled && ctx.profileDir ? { cpuProfDir: join(ctx.profileDir, name), name } : null);
  const apiProf = prof(`k${tag}-api`);
  const api = await startProcess('api', apiProf?.name ?? 'api', {
    env: processEnv(env, prefix, { MYSQL_POOL_SIZE: String(s.apiPoolSize) }),
    ...(apiProf ? { cpuProfDir: apiProf.cpuProfDir } : {}),
    ...nodePath,
  });
  const workers = await Promise.all(
    Array.from({ length: k }, (_, i) => {
      const wp = i === 0 ? prof(`k${tag}-worker-1`) : null;
      return startProcess('worker', wp?.name ?? `k${tag}-worker-${i + 1}`, {
        env: processEnv(env, prefix, {
          WORKER_CONCURRENCY: String(s.workerConcurrency),
          MYSQL_POOL_SIZE: String(s.workerPoolSize),
          WORKER_BATCH_SIZE: String(batchSize),
        }),
        ...(wp ? { cpuProfDir: wp.cpuProfDir } : {}),
        ...nodePath,
      });
    }),
  );
  const procs = [api, ...workers];
  ctx.sampler.track('api', api.pid);
  workers.forEach((w, i) => ctx.sampler.track(`worker-${i + 1}`, w.pid));

  try {
    let warmAccepted = 0;
    if (s.warmupSeconds > 0) {
      say(`    warm-up ${s.warmupSeconds} s at ${s.connections} connections (not measured)`);
      warmAccepted = (
        await load.driveOrders({
          port: api.port,
          connections: s.connections,
          seconds: s.warmupSeconds,
          customers: seeded.customers,
          products: seeded.products,
          keyPrefix: `${keyPrefix}-w`,
        })
      ).ok;
    }

    say(`    load: orders.place at ${s.connections} connections for ${loadSeconds} s`);
    const mysqlBefore = await mysqlStatus(db);
    const redisBefore = await redisSnapshot(redis);
    const startSql = await mysqlNow(db);
    const fromUs = monoMicros();
    const usage = ctx.sampler.begin();
    const ticks: number[] = [0];
    const startedAt = Date.now();
    const result = await load.driveOrders({
      port: api.port,
      connections: s.connections,
      seconds: loadSeconds,
      customers: seeded.customers,
      products: seeded.products,
      keyPrefix: `${keyPrefix}-m`,
      onTick: (ok, other) => {
        ticks.push(ok);
        const sec = Math.round((Date.now() - startedAt) / 1000);
        if (ticks.length % 2 === 1) say(`    ${sec} s: ${ok} accepted (${Math.round(ok / sec)}/s), ${other} other answers`);
      },
    });
    const toUs = monoMicros();
    const endSql = await mysqlNow(db);
    const u = usage.end();
    const mysqlAfter = await mysqlStatus(db);
    const redisAfter = await redisSnapshot(redis);
    ticks.push(result.ok);

    const [paidRows] = (await db.query(
      `SELECT FLOOR(TIMESTAMPDIFF(MICROSECOND, ?, settled_at) / 5000000) AS b, status, failure_reason AS reason, COUNT(*) AS n
       FROM orders WHERE settled_at >= ? AND settled_at < ? AND idempotency_key LIKE ? GROUP BY b, status, failure_reason`,
      [startSql, startSql, endSql, `${keyPrefix}-%`],
    )) as unknown as [{ b: number; status: string; reason: string | null; n: number }[]];
    let paid = 0;
    const failed: Record<string, number> = {};
    const buckets = new Map<number, number>();
    for (const r of paidRows) {
      if (r.status === 'PAID') {
        paid += Number(r.n);
        buckets.set(Number(r.b), (buckets.get(Number(r.b)) ?? 0) + Number(r.n));
      } else failed[`${r.status} ${r.reason ?? ''}`.trim()] = (failed[`${r.status} ${r.reason ?? ''}`.trim()] ?? 0) + Number(r.n);
    }
    const windowSec = result.seconds;
    // 5 s buckets; the last one takes the window's few extra milliseconds.
    const nBuckets = Math.max(1, Math.round(windowSec / 5));
    const timeline = Array.from({ length: nBuckets }, (_, i) => {
      const last = i === nBuckets - 1;
      let paidIn = buckets.get(i) ?? 0;
      if (last) for (const [b, n] of buckets) if (b > i) paidIn += n;
      return { fromSec: i * 5, accepted: (last ? result.ok : (ticks[i + 1] ?? result.ok)) - (ticks[i] ?? 0), paid: paidIn };
    });

    const queueAtEnd = await queueCounts(redis, prefix);
    const settledAll = await scalar(db, 'SELECT COUNT(*) FROM orders WHERE idempotency_key LIKE ?', [`${keyPrefix}-%`]);
    const backlog = backlogOf(queueAtEnd);
    const paidPerSec = Math.round(paid / windowSec);
    say(
      `    accepted ${result.acceptedPerSec}/s (p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms), PAID ${paidPerSec}/s, backlog ${backlog} jobs`,
    );

    // Drain: no more load; the workers alone, for a few seconds.
    let drain: PipelineRun['drain'] = { seconds: 0, paid: 0, paidPerSec: 0, usage: u, backlogAfter: backlog };
    if (s.drainSeconds > 0 && backlog > 0 && !profiled) {
      const dStart = await mysqlNow(db);
      const du = ctx.sampler.begin();
      await sleep(s.drainSeconds * 1000);
      const dEnd = await mysqlNow(db);
      const dUsage = du.end();
      const dPaid = await scalar(db, `SELECT COUNT(*) FROM orders WHERE status = 'PAID' AND settled_at >= ? AND settled_at < ? AND idempotency_key LIKE ?`, [
        dStart,
        dEnd,
        `${keyPrefix}-%`,
      ]);
      drain = {
        seconds: dUsage.seconds,
        paid: dPaid,
        paidPerSec: Math.round(dPaid / dUsage.seconds),
        usage: dUsage,
        backlogAfter: backlogOf(await queueCounts(redis, prefix)),
      };
      say(`    drain ${s.drainSeconds} s without load: PAID ${drain.paidPerSec}/s`);
    }

    say('    stopping the api and workers');
    for (const p of procs) ctx.sampler.untrack(p.pid);
    await Promise.all(procs.map((p) => p.stop()));
    const profiles: ProfileSummary[] = [];
    if (profiled && ctx.profileDir) {
      for (const [label, name] of [
        ['api', `k${tag}-api`],
        ['worker-1', `k${tag}-worker-1`],
      ] as const) {
        const file = mainThreadProfile(join(ctx.profileDir, name));
        if (file) profiles.push(summarizeProfile(label, file, { fromUs, toUs }));
        else say(`    (no profile written for ${name})`);
      }
    }
    return {
      workers: k,
      batchSize,
      node,
      load: result,
      paid,
      paidPerSec,
      failed,
      timeline,
      backlogAtEnd: { queue: queueAtEnd, acceptedNotSettled: Math.max(0, warmAccepted + result.ok - settledAll) },
      drain,
      usage: u,
      mysql: statusRates(mysqlBefore, mysqlAfter),
      redis: redisRates(redisBefore, redisAfter),
      logs: processLogs(procs),
      profiles,
      profiled,
    };
  } finally {
    for (const p of procs) ctx.sampler.untrack(p.pid);
    await Promise.allSettled(procs.map((p) => p.stop(5000)));
  }
}

// ---------------------------------------------------------------- (c)

/** The time a ULID was made (its first 10 characters, Crockford base32 milliseconds). */
function ulidTime(id: string): number {
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + A.indexOf(ch);
  return t;
}

/**
 * (d) Open loop: orders.place offered at a fixed rate (not a closed loop of connections), with `openWorkers`
 * workers batching: accept latency from each request's due time, accepted → PAID from the order id's time to
 * settled_at, and whether the backlog stays bounded.
 */
async function phaseOpenLoop(ctx: Ctx, rate: number, nice: number): Promise<OpenLoopRun> {
  const { env, s, db, seeded } = ctx;
  const prefix = `${env.prefixBase}o${rate}n${nice}`;
  const keyPrefix = `o${rate}n${nice}`;
  const batchSize = s.batchSizes[0] ?? 16;
  await seedPrefix(ctx, prefix);
  say(`(d) open loop at ${rate} orders/s, ${s.openWorkers} workers batching ${batchSize > 1 ? `on (${batchSize})` : 'off'}, WORKER_NICE=${nice}`);
  const api = await startProcess('api', 'api', { env: processEnv(env, prefix, { MYSQL_POOL_SIZE: String(s.apiPoolSize) }) });
  const workers = await Promise.all(
    Array.from({ length: s.openWorkers }, (_, i) =>
      startProcess('worker', `o${rate}-worker-${i + 1}`, {
        env: processEnv(env, prefix, {
          WORKER_CONCURRENCY: String(s.workerConcurrency),
          MYSQL_POOL_SIZE: String(s.workerPoolSize),
          WORKER_BATCH_SIZE: String(batchSize),
          WORKER_NICE: String(nice),
        }),
      }),
    ),
  );
  const procs = [api, ...workers];
  ctx.sampler.track('api', api.pid);
  workers.forEach((w, i) => ctx.sampler.track(`worker-${i + 1}`, w.pid));
  try {
    if (s.warmupSeconds > 0) {
      await openLoopOrders({ port: api.port, rate, seconds: s.warmupSeconds, customers: seeded.customers, products: seeded.products, keyPrefix: `${keyPrefix}-w` });
      await sleep(1000);
    }
    const usage = ctx.sampler.begin();
    const r = await openLoopOrders({ port: api.port, rate, seconds: s.openSeconds, customers: seeded.customers, products: seeded.products, keyPrefix: `${keyPrefix}-m` });
    const u = usage.end();
    const windowEnd = Date.now();
    const settledBy = async (ids: string[]) => {
      const rows: { id: string; status: string; settled: number | null }[] = [];
      for (let i = 0; i < ids.length; i += 1000) {
        const chunk = ids.slice(i, i + 1000);
        const [part] = (await db.query(
          `SELECT id, status, UNIX_TIMESTAMP(settled_at) * 1000 AS settled FROM orders WHERE id IN (${chunk.map(() => '?').join(',')})`,
          chunk,
        )) as unknown as [{ id: string; status: string; settled: number | string | null }[]];
        rows.push(...part.map((x) => ({ id: x.id, status: x.status, settled: x.settled === null ? null : Number(x.settled) })));
      }
      return rows;
    };
    const atEnd = await settledBy(r.accepted);
    const backlogAtEnd = r.accepted.length - atEnd.filter((x) => x.settled !== null).length;
    let after = atEnd;
    for (let waited = 0; waited < s.drainSeconds * 1000 && after.filter((x) => x.settled !== null).length < r.accepted.length; waited += 500) {
      await sleep(500);
      after = await settledBy(r.accepted);
    }
    const paid = after.filter((x) => x.status === 'PAID' && x.settled !== null);
    const toPaid = summarize(paid.map((x) => x.settled! - ulidTime(x.id)));
    const paidInWindow = paid.filter((x) => x.settled! <= windowEnd).length;
    const run: OpenLoopRun = {
      rate,
      workers: s.openWorkers,
      workerNice: nice,
      batchSize,
      seconds: s.openSeconds,
      sent: r.sent,
      ok: r.ok,
      other: r.other,
      errors: r.errors,
      acceptMs: { p50: round(r.latencyMs.p50, 2), p90: round(r.latencyMs.p90, 2), p99: round(r.latencyMs.p99, 2), p999: round(r.latencyMs.p999, 2), max: round(r.latencyMs.max, 1) },
      maxSendLagMs: round(r.maxSendLagMs, 1),
      toPaidMs: { p50: round(toPaid.p50, 1), p99: round(toPaid.p99, 1), max: round(toPaid.max, 1), count: toPaid.count },
      backlogAtEnd,
      unsettledAfterDrain: r.accepted.length - after.filter((x) => x.settled !== null).length,
      paidPerSec: round(paidInWindow / s.openSeconds, 1),
      usage: u,
      errorSamples: r.errorSamples,
    };
    say(
      `    accept p50 ${run.acceptMs.p50} ms, p99 ${run.acceptMs.p99} ms, p99.9 ${run.acceptMs.p999} ms; accepted → PAID p99 ${run.toPaidMs.p99} ms; ` +
        `backlog at the end ${backlogAtEnd}; PAID ${run.paidPerSec}/s`,
    );
    return run;
  } finally {
    for (const p of procs) ctx.sampler.untrack(p.pid);
    await Promise.all(procs.map((p) => p.stop()));
  }
}

/**
 * `n` api processes on one port (API_REUSE_PORT: the kernel spreads connections over them, one process per
 * core without a balancer); the first is profiled when the bench profiles, as `profName`.
 */
async function startApis(ctx: Ctx, prefix: string, n: number, profName: string | null): Promise<{ api: BenchProcess; apis: BenchProcess[] }> {
  const shared: Record<string, string> = n > 1 ? { API_REUSE_PORT: 'true' } : {};
  const env = processEnv(ctx.env, prefix, { MYSQL_POOL_SIZE: String(ctx.s.apiPoolSize), ...shared });
  const api = await startProcess('api', profName ?? 'api', { env, ...(ctx.profileDir && profName ? { cpuProfDir: join(ctx.profileDir, profName) } : {}) });
  const apis = [api];
  for (let i = 1; i < n; i++) apis.push(await startProcess('api', `${profName ?? 'api'}-${i + 1}`, { env, port: api.port }));
  return { api, apis };
}

async function phaseFlash(ctx: Ctx): Promise<FlashRun> {
  const { env, s, db, redis, seeded } = ctx;
  const prefix = `${env.prefixBase}fs`;
  const keys = redisKeys(prefix);
  await seedPrefix(ctx, prefix);
  say(`(c) flash sale: starting ${s.flashApis} api process${s.flashApis > 1 ? 'es on one port' : ''} and ${s.flashWorkers} workers (prefix ${prefix})`);
  const { api, apis } = await startApis(ctx, prefix, s.flashApis, 'fs-api');
  const workers = await Promise.all(
    Array.from({ length: s.flashWorkers }, (_, i) =>
      startProcess('worker', `fs-worker-${i + 1}`, {
        env: processEnv(env, prefix, { WORKER_CONCURRENCY: String(s.workerConcurrency), MYSQL_POOL_SIZE: String(s.workerPoolSize) }),
      }),
    ),
  );
  const procs = [...apis, ...workers];
  apis.forEach((a, i) => ctx.sampler.track(i === 0 ? 'api' : `api-${i + 1}`, a.pid));
  workers.forEach((w, i) => ctx.sampler.track(`worker-${i + 1}`, w.pid));
  try {
    // The sale's product, created the way a seller does (products.create sets the gate counter and the price snapshot).
    const seller = bazaarClient(`http://127.0.0.1:${api.port}`, { token: seeded.seller.token, batch: false });
    const product = await seller.products.create.mutate({
      storeId: seeded.storeId,
      name: 'flash sale item',
      description: 'bench',
      price: 990,
      stock: s.flashStock,
    });
    say(`    product ${product.id} with ${product.stock} units; warming the api up on other products`);
    await load.driveOrders({ port: api.port, connections: 20, seconds: 2, customers: seeded.customers, products: seeded.products, keyPrefix: 'fsw' });
    for (let i = 0; i < 60 && backlogOf(await queueCounts(redis, prefix)) > 0; i++) await sleep(500);

    const buyers = seeded.customers.slice(0, s.flashOrders);
    if (buyers.length < s.flashOrders) say(`    only ${buyers.length} customers: one order each`);
    say(`    ${buyers.length} orders at once (${s.flashInFlight} in flight)`);
    const usage = ctx.sampler.begin();
    const started = Date.now();
    const fromUs = monoMicros();
    const answers = await flashSale({ port: api.port, customers: buyers, productId: product.id, inFlight: s.flashInFlight, keyPrefix: 'fs' });
    const toUs = monoMicros();
    say(
      `    answered in ${answers.wallMs} ms: ${answers.accepted} accepted, ${answers.outOfStock} OUT_OF_STOCK, other ${JSON.stringify(answers.otherStatus)}, network errors ${answers.networkErrors}; max ${round(answers.answerMs.max)} ms from t0`,
    );
    let settledMs: number | null = null;
    const ids = answers.acceptedOrderIds;
    for (let i = 0; i < 240; i++) {
      const settled =
        ids.length === 0 ? 0 : await scalar(db, `SELECT COUNT(*) FROM orders WHERE id IN (${ids.map(() => '?').join(',')}) AND status <> 'PENDING'`, ids);
      if (settled >= ids.length) {
        settledMs = Date.now() - started;
        break;
      }
      await sleep(250);
    }
    const u = usage.end();
    const [counts] = (await db.query(
      `SELECT o.status, COUNT(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = ? GROUP BY o.status`,
      [product.id],
    )) as unknown as [{ status: string; n: number }[]];
    const byStatus = Object.fromEntries(counts.map((r) => [r.status, Number(r.n)]));
    const stockAfter = await scalar(db, 'SELECT stock FROM products WHERE id = ?', [product.id]);
    const gate = await redis.get(keys.gateAvailable(product.id));
    const reservationsLeft = await redis.hlen(keys.gateReservations(product.id));
    const { acceptedOrderIds: _ids, ...rest } = answers;
    say(
      `    settled after ${settledMs ?? 'timeout'} ms: PAID ${byStatus.PAID ?? 0}, FAILED ${byStatus.FAILED ?? 0}, stock ${stockAfter}, gate counter ${gate}`,
    );
    say('    stopping the api and workers');
    for (const p of procs) ctx.sampler.untrack(p.pid);
    await Promise.all(procs.map((p) => p.stop()));
    const profFile = ctx.profileDir ? mainThreadProfile(join(ctx.profileDir, 'fs-api')) : null;
    return {
      productId: product.id,
      apis: apis.length,
      profile: profFile ? summarizeProfile('api', profFile, { fromUs, toUs }) : null,
      answers: rest,
      settledMs,
      paid: byStatus.PAID ?? 0,
      failed: byStatus.FAILED ?? 0,
      stockAfter,
      gateAfter: gate === null ? null : Number(gate),
      reservationsLeft,
      usage: u,
      logs: processLogs(procs),
    };
  } finally {
    for (const p of procs) ctx.sampler.untrack(p.pid);
    await Promise.allSettled(procs.map((p) => p.stop(5000)));
  }
}

/**
 * (e) A long flash sale: `hotOrders` orders offered over `hotSeconds` at a fixed rate on `hotProducts` products
 * of `hotStock` units each. Every answer counts from its due time (open loop); exactly hotProducts × hotStock must
 * be sold, the rest refused OUT_OF_STOCK by the gate.
 */
async function phaseHotFlash(ctx: Ctx): Promise<HotFlashRun> {
  const { env, s, db, redis, seeded } = ctx;
  const prefix = `${env.prefixBase}hf`;
  const keys = redisKeys(prefix);
  const rate = Math.round(s.hotOrders / s.hotSeconds);
  await seedPrefix(ctx, prefix);
  say(`(e) long flash sale: ${s.hotOrders} orders over ${s.hotSeconds} s (${rate}/s) on ${s.hotProducts} products × ${s.hotStock} units; ${s.flashApis} api processes, ${s.hotWorkers} workers (WORKER_NICE=${s.hotNice})`);
  const { api, apis } = await startApis(ctx, prefix, s.flashApis, null);
  const workers = await Promise.all(
    Array.from({ length: s.hotWorkers }, (_, i) =>
      startProcess('worker', `hf-worker-${i + 1}`, {
        env: processEnv(env, prefix, { WORKER_CONCURRENCY: String(s.workerConcurrency), MYSQL_POOL_SIZE: String(s.workerPoolSize), WORKER_NICE: String(s.hotNice) }),
      }),
    ),
  );
  const procs = [...apis, ...workers];
  apis.forEach((a, i) => ctx.sampler.track(i === 0 ? 'api' : `api-${i + 1}`, a.pid));
  workers.forEach((w, i) => ctx.sampler.track(`worker-${i + 1}`, w.pid));
  try {
    const seller = bazaarClient(`http://127.0.0.1:${api.port}`, { token: seeded.seller.token, batch: false });
    const hot: Product[] = [];
    for (let i = 0; i < s.hotProducts; i++) {
      const p = await seller.products.create.mutate({ storeId: seeded.storeId, name: `hot item ${i + 1}`, description: 'bench', price: 1_990, stock: s.hotStock });
      hot.push({ id: p.id, storeId: p.storeId, name: p.name, price: p.price });
    }
    await load.driveOrders({ port: api.port, connections: 20, seconds: 2, customers: seeded.customers, products: seeded.products, keyPrefix: 'hfw' });
    for (let i = 0; i < 60 && backlogOf(await queueCounts(redis, prefix)) > 0; i++) await sleep(500);

    const usage = ctx.sampler.begin();
    const started = Date.now();
    const r = await openLoopOrders({ port: api.port, rate, seconds: s.hotSeconds, customers: seeded.customers, products: hot, keyPrefix: 'hf' });
    const u = usage.end();
    const lastAccepted = r.accepted.length ? Math.max(...r.accepted.map(ulidTime)) : null;
    say(
      `    ${r.sent} sent: ${r.ok} accepted, ${r.other.OUT_OF_STOCK ?? 0} OUT_OF_STOCK, other ${JSON.stringify(Object.fromEntries(Object.entries(r.other).filter(([k]) => k !== 'OUT_OF_STOCK')))}, errors ${r.errors}; ` +
        `answer p50 ${round(r.latencyMs.p50, 1)} ms, p99 ${round(r.latencyMs.p99, 1)} ms, max ${round(r.latencyMs.max, 0)} ms; ${r.connectionsOpened} connections opened`,
    );
    const ids = hot.map((p) => p.id);
    const unsettled = () =>
      scalar(
        db,
        `SELECT COUNT(*) FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id IN (${ids.map(() => '?').join(',')}) AND o.status = 'PENDING'`,
        ids,
      );
    for (let i = 0; i < 480 && (await unsettled()) > 0; i++) await sleep(250);
    const [counts] = (await db.query(
      `SELECT o.status, COUNT(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id IN (${ids.map(() => '?').join(',')}) GROUP BY o.status`,
      ids,
    )) as unknown as [{ status: string; n: number }[]];
    const byStatus = Object.fromEntries(counts.map((x) => [x.status, Number(x.n)]));
    const stockAfter = await Promise.all(ids.map((id) => scalar(db, 'SELECT stock FROM products WHERE id = ?', [id])));
    const gateAfter = await Promise.all(ids.map(async (id) => (await redis.get(keys.gateAvailable(id))) ?? null));
    say(`    settled: PAID ${byStatus.PAID ?? 0}, FAILED ${byStatus.FAILED ?? 0}; stock ${[...new Set(stockAfter)].join('/')}; gate ${[...new Set(gateAfter)].join('/')}`);
    say('    stopping the api and workers');
    for (const p of procs) ctx.sampler.untrack(p.pid);
    await Promise.all(procs.map((p) => p.stop()));
    const { OUT_OF_STOCK: outOfStock = 0, ...other } = r.other;
    return {
      products: ids,
      stockEach: s.hotStock,
      apis: apis.length,
      workers: workers.length,
      workerNice: s.hotNice,
      rate,
      seconds: s.hotSeconds,
      sent: r.sent,
      accepted: r.ok,
      outOfStock,
      other,
      errors: r.errors,
      answerMs: { p50: round(r.latencyMs.p50, 2), p90: round(r.latencyMs.p90, 2), p99: round(r.latencyMs.p99, 2), p999: round(r.latencyMs.p999, 2), max: round(r.latencyMs.max, 1) },
      maxSendLagMs: round(r.maxSendLagMs, 1),
      soldOutAfterMs: lastAccepted === null ? null : lastAccepted - started,
      paid: byStatus.PAID ?? 0,
      failed: byStatus.FAILED ?? 0,
      stockAfter,
      gateAfter: gateAfter.map((g) => (g === null ? null : Number(g))),
      usage: u,
      errorSamples: r.errorSamples,
      logs: processLogs(procs),
    };
  } finally {
    for (const p of procs) ctx.sampler.untrack(p.pid);
    await Promise.allSettled(procs.map((p) => p.stop(5000)));
  }
}

// ---------------------------------------------------------------- main

let shuttingDown: Promise<void> | null = null;
let cleanupDone = false;

async function main(): Promise<void> {
  const s = settings();
  const env = benchEnv();
  const result: BenchResult = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    totalSeconds: 0,
    database: env.database,
    redisPrefix: env.prefixBase,
    settings: s,
    machine: undefined as unknown as BenchResult['machine'],
    busyBefore: 0,
    micro: [],
    pipeline: [],
    flash: null,
    targets: [],
    findings: [],
    profileDir: null,
    cleanup: [],
    error: null,
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) return;
    say(`${signal}: stopping every process the bench started and cleaning up`);
    abortStarts();
    load.current?.stop();
    shuttingDown = (async () => {
      await stopAll(5000);
      if (!cleanupDone && !process.env.BENCH_KEEP) {
        cleanupDone = true;
        for (const p of await cleanup(env)) say(`    cleanup: ${p}`);
      }
      say(`stopped; ${env.database} dropped and ${env.prefixBase}* keys deleted`);
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const sampler = new Sampler(cpus().length);
  let db: mysql.Connection | null = null;
  let redis: Redis | null = null;
  try {
    say(`database ${env.database}, Redis prefix ${env.prefixBase}*`);
    await createBenchDatabase(env);
    db = await mysqlConnection(env.mysqlUrl);
    redis = redisClient(env.redisUrl);
    result.machine = await machineInfo(db, redis);
    say(
      `machine: ${result.machine.cores} cores, ${result.machine.memoryGb} GB, Node ${result.machine.node}, MariaDB ${result.machine.mysqlVersion}, Redis ${result.machine.redisVersion}`,
    );
    // Others share this machine (test runs): wait a little for a quiet moment, then go anyway.
    const quietUntil = Date.now() + num('BENCH_QUIET_WAIT_SECONDS', 45) * 1000;
    result.busyBefore = await machineBusyOver(3000);
    while (result.busyBefore > 15 && Date.now() < quietUntil) {
      say(`machine ${result.busyBefore}% busy with other work; waiting for a quieter moment`);
      result.busyBefore = await machineBusyOver(3000);
    }
    say(
      `machine ${result.busyBefore}% busy before the bench starts anything${result.busyBefore > 15 ? ' — other work is running; figures will be lower than on a quiet machine' : ''}`,
    );
    sampler.track('bench (load generator)', process.pid);
    sampler.track('mariadbd', findPid('mariadbd', 'mysqld'));
    sampler.track('redis-server', findPid('redis-server'));

    say(`seeding ${s.customers} customers and ${s.products} products`);
    const seeded = await seedDatabase(db, { customers: s.customers, products: s.products, balance: 1_000_000_000, stock: 1_000_000 });
    const profileDir = s.profile ? mkdtempSync(join(tmpdir(), 'bazaar-bench-prof-')) : null;
    result.profileDir = profileDir;
    const ctx: Ctx = { env, s, db, redis, seeded, sampler, profileDir };

    result.micro = await phaseMicro(ctx);
    for (const batch of s.batchSizes) for (const k of s.workerCounts) result.pipeline.push(await phasePipeline(ctx, k, batch));
    // The machine's own Node beside the project's: the same run as the best one so far, on the other runtime.
    if (s.otherNode && result.pipeline.length > 0) {
      const best = result.pipeline.reduce((a, b) => (b.paidPerSec > a.paidPerSec ? b : a));
      try {
        result.pipeline.push(await phasePipeline(ctx, best.workers, best.batchSize, s.otherNode));
      } catch (err) {
        // The other runtime is for comparison only: its failure (a native module built for another Node) is reported, not fatal.
        if (shuttingDown) throw err;
        result.otherNodeError = err instanceof Error ? err.message.split('\n').slice(0, 6).join(' | ') : String(err);
        say(`    ${s.otherNode.version} run failed: ${result.otherNodeError}`);
      }
    }
    // Where the CPU goes: the best shape again, profiled (a shorter run; its own figures are not the measured ones).
    if (ctx.profileDir && result.pipeline.length > 0) {
      const best = result.pipeline.filter((p) => p.node === process.version).reduce((a, b) => (b.paidPerSec > a.paidPerSec ? b : a));
      result.profileRun = await phasePipeline(ctx, best.workers, best.batchSize, null, { profile: true, seconds: s.profileSeconds });
    }
    result.openLoop = [];
    for (const rate of s.openRates) for (const nice of s.openNice) result.openLoop.push(await phaseOpenLoop(ctx, rate, nice));
    if (s.flashOrders > 0) result.flash = await phaseFlash(ctx);
    if (s.hotOrders > 0) result.hotFlash = await phaseHotFlash(ctx);
  } catch (err) {
    result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    // After Ctrl-C the run breaks off on purpose (its database is gone): nothing to report.
    if (!shuttingDown) {
      say(`FAILED: ${result.error}`);
      for (const p of running) say(`    ${p.name} last lines:\n${p.logs.slice(-10).join('\n')}`);
      process.exitCode = 1;
    }
  } finally {
    sampler.stop();
    await stopAll(10_000);
    await db?.end().catch(() => undefined);
    redis?.disconnect();
    if (!shuttingDown && !cleanupDone) {
      cleanupDone = true;
      result.cleanup = await dropOrKeep(env, say);
    }
  }
  if (shuttingDown) return;

  result.finishedAt = new Date().toISOString();
  result.totalSeconds = Math.round((Date.now() - t0) / 1000);
  if (result.machine) {
    const { targets, findings } = analyze(result);
    result.targets = targets;
    result.findings = findings;
    const dir = join(ROOT, 'bench', 'reports');
    mkdirSync(dir, { recursive: true });
    const base = join(dir, `${result.startedAt.slice(0, 10)}-pipeline`);
    writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${base}.md`, renderReport(result));
    say(`report: ${base}.md (raw: ${base}.json)`);
    for (const t of targets) say(`    ${t.pass ? 'PASS' : 'MISS'}  ${t.phase} ${t.what}: ${t.measured} (target ${t.target})${t.pass ? '' : `, ${t.gap}`}`);
  }
}

/** `tsx bench/run.ts --render <raw.json>`: write the markdown report again from a run's raw JSON (after changing the report's wording). */
function renderOnly(file: string): void {
  const result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  const { targets, findings } = analyze(result);
  result.targets = targets;
  result.findings = findings;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(file.replace(/\.json$/, '.md'), renderReport(result));
  process.stdout.write(`report: ${file.replace(/\.json$/, '.md')}\n`);
}

const renderArg = process.argv.indexOf('--render');
if (renderArg >= 0) renderOnly(process.argv[renderArg + 1] ?? join(ROOT, 'bench', 'reports', `${new Date().toISOString().slice(0, 10)}-pipeline.json`));
else
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
