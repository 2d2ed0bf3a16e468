/**
 * `npm run bench:money` (also the third part of `npm run bench`): coupons and points, in one run.
 *
 *   (1) claim storm: 10,000 coupons.claim due at once over 1,000 sockets from 2,000 customers on a
 *       platform coupon of 100 units; the slowest answer, and exactly 100 issued in MySQL and Redis;
 *   (2) claims/s at 200 connections (autocannon, closed loop) on coupons with units left and on a
 *       sold-out one, each beside a bare Fastify route answering the same bytes, alternated for a few
 *       rounds (this VM's speed drifts); and the claim Lua script's own ceiling over bare ioredis;
 *   (3) the pipeline with 2 workers: plain orders on the commit before the money core (BENCH_MONEY_BASELINE,
 *       from `git archive`, its own database), plain orders and coupon + points orders on today's code,
 *       alternated in rounds: PAID/s, accept latency;
 *   (4) statements and round trips per order of each kind (the workers' counters) and MariaDB's Com_* and
 *       Questions per PAID order.
 *
 * CPU and RSS of every process throughout; a CPU profile of the api during (1) and (2). Own database and
 * Redis prefix (dropped at the end, also on failure or Ctrl-C). Settings: BENCH_MONEY_* (see settings()).
 * Writes bench/reports/<date>-money.md plus the raw JSON; `--render <json>` re-renders a report.
 */
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { redisKeys } from '@bazaar/platform';
import { createOrdersQueue } from '@bazaar/queue';
import { bazaarClient } from '../scripts/lib/client';
import { claimStorm, luaCeiling } from './lib/claims';
import { mainThreadProfile, summarizeProfile } from './lib/cpuprofile';
import { benchEnv, cleanup, dropOrKeep, createBenchDatabase, machineInfo, mysqlConnection, mysqlStatus, redisClient, statusRates, type BenchEnv } from './lib/env';
import { prepareBaseline, migrateBaseline, removeBaseline, startBaselineProcess, type BaselineTree } from './lib/money-baseline';
import * as moneyLoad from './lib/money-load';
import { comDelta, comSnapshot, counterDelta, drive, moneyOrderBody, scrapeCounters } from './lib/money-load';
import { analyzeMoney, renderMoneyReport } from './lib/money-report';
import { createCoupons, seedClaims, seedPoints } from './lib/money-seed';
import type { ClaimPhase, MoneyResult, MoneySettings, PipelinePhase } from './lib/money-types';
import { ROOT, abortStarts, running, startProcess, stopAll, type BenchProcess } from './lib/processes';
import { Sampler, findPid, machineBusyOver } from './lib/sampler';
import { seedAdmin, seedDatabase, seedGate, seedSessionsFor, type Customer, type Seeded } from './lib/seed';
import { envNumber, monoMicros, round, sleep } from './lib/stats';
import type { ProcessLog } from './lib/types';

const num = envNumber;

function settings(): MoneySettings {
  const workerConcurrency = num('BENCH_WORKER_CONCURRENCY', 32);
  return {
    seconds: num('BENCH_MONEY_SECONDS', 15),
    warmupSeconds: num('BENCH_MONEY_WARMUP_SECONDS', 3),
    connections: num('BENCH_MONEY_CONNECTIONS', 200),
    rounds: num('BENCH_MONEY_ROUNDS', 3),
    pipelineRounds: num('BENCH_MONEY_PIPELINE_ROUNDS', 3),
    customers: num('BENCH_MONEY_CUSTOMERS', 10_000),
    products: num('BENCH_MONEY_PRODUCTS', 1_000),
    stormClaims: num('BENCH_MONEY_STORM_CLAIMS', 10_000),
    stormCustomers: num('BENCH_MONEY_STORM_CUSTOMERS', 2_000),
    stormQuantity: num('BENCH_MONEY_STORM_QUANTITY', 100),
    stormSockets: num('BENCH_MONEY_STORM_SOCKETS', 1_000),
    luaInFlight: num('BENCH_MONEY_LUA_IN_FLIGHT', 128),
    luaSeconds: num('BENCH_MONEY_LUA_SECONDS', 5),
    claimCoupons: num('BENCH_MONEY_CLAIM_COUPONS', 20),
    pipelineCoupons: num('BENCH_MONEY_PIPELINE_COUPONS', 3),
    pointsPerOrder: num('BENCH_MONEY_POINTS', 100),
    // The first lot runs out on a customer's second order (that spend takes two lots); both expire before reward lots (365 days).
    pointLots: [
      { amount: 150, days: 30 },
      { amount: 1_000_000, days: 180 },
    ],
    couponValue: 500,
    workers: num('BENCH_MONEY_WORKERS', 2),
    workerConcurrency,
    workerPoolSize: num('BENCH_WORKER_POOL_SIZE', workerConcurrency),
    apiPoolSize: num('BENCH_API_POOL_SIZE', 10),
    drainMaxSeconds: num('BENCH_MONEY_DRAIN_MAX_SECONDS', 30),
    baseline: process.env.BENCH_MONEY_BASELINE || '7029052',
    profile: process.env.BENCH_PROFILE !== '0',
  };
}

const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

const processEnv = (env: { mysqlUrl: string; redisUrl: string }, prefix: string, extra: Record<string, string> = {}) => ({
  MYSQL_URL: env.mysqlUrl,
  REDIS_URL: env.redisUrl,
  REDIS_PREFIX: prefix,
  LOG_LEVEL: 'warn',
  ...extra,
});

function processLogs(procs: BenchProcess[]): ProcessLog[] {
  return procs.map((p) => ({
    process: p.name,
    warn: p.tally.warn,
    error: p.tally.error,
    messages: [...p.tally.messages.entries()].map(([message, count]) => ({ message, count })),
    exitCode: p.child.exitCode,
  }));
}

async function scalar(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<number> {
  const [rows] = (await c.query(sql, params)) as unknown as [Record<string, unknown>[]];
  const first = rows[0];
  return first ? Number(Object.values(first)[0] ?? 0) : 0;
}

/** InnoDB's own account of the latest deadlock (SHOW ENGINE INNODB STATUS), trimmed. */
async function latestDeadlock(c: mysql.Connection): Promise<string | null> {
  const [[row]] = (await c.query('SHOW ENGINE INNODB STATUS')) as unknown as [[{ Status: string }]];
  const m = /LATEST DETECTED DEADLOCK\n-+\n([\s\S]*?)\n-{10,}\nTRANSACTIONS/.exec(row.Status);
  return m ? m[1]!.slice(0, 4000) : null;
}

async function mysqlNow(c: mysql.Connection): Promise<string> {
  const [[r]] = (await c.query(`SELECT DATE_FORMAT(NOW(3), '%Y-%m-%d %H:%i:%s.%f') AS t`)) as unknown as [[{ t: string }]];
  return r.t;
}

const nonOk = (d: { statusCounts: Record<string, number>; errors: number }) =>
  Object.entries(d.statusCounts).reduce((n, [code, x]) => (code === '200' ? n : n + x), 0) + d.errors;

const withRole = (list: Customer[], role: 'CUSTOMER' | 'SELLER' | 'ADMIN') => list.map((c) => ({ ...c, role }));

interface Ctx {
  env: BenchEnv;
  s: MoneySettings;
  db: mysql.Connection;
  redis: Redis;
  seeded: Seeded;
  admin: Customer;
  sampler: Sampler;
  profileDir: string | null;
  result: MoneyResult;
}

// ---------------------------------------------------------------- (1) and (2)

async function phaseClaims(ctx: Ctx): Promise<void> {
  const { env, s, db, redis, seeded, admin, sampler, result } = ctx;
  const prefix = `${env.prefixBase}c`;
  const keys = redisKeys(prefix);
  await seedSessionsFor(redis, prefix, [...withRole(seeded.customers, 'CUSTOMER'), { ...admin, role: 'ADMIN' }]);
  say(`(1, 2) claims: starting the api (prefix ${prefix})`);
  const apiProfDir = ctx.profileDir ? join(ctx.profileDir, 'claims-api') : null;
  const api = await startProcess('api', 'api', {
    env: processEnv(env, prefix, { MYSQL_POOL_SIZE: String(s.apiPoolSize) }),
    ...(apiProfDir ? { cpuProfDir: apiProfDir } : {}),
  });
  sampler.track('api', api.pid);
  const adminClient = bazaarClient(`http://127.0.0.1:${api.port}`, { token: admin.token, batch: false });
  const [stormId, warmId, soldOutId, ...poolIds] = await createCoupons(adminClient, [
    { name: 'storm', quantity: s.stormQuantity },
    { name: 'warm-up', quantity: 1_000_000 },
    { name: 'sold out', quantity: 1 },
    ...Array.from({ length: s.claimCoupons }, (_, i) => ({ name: `closed loop ${i + 1}`, quantity: 1_000_000 })),
  ]);
  say(`    coupons: storm ${stormId} (${s.stormQuantity} units), warm-up ${warmId}, sold out ${soldOutId}, ${poolIds.length} for the closed loop`);

  // The bytes the bare route answers: a real yes, and a real sold-out refusal.
  const claimOnce = async (token: string, couponId: number) => {
    const r = await fetch(`http://127.0.0.1:${api.port}/trpc/coupons.claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ couponId }),
    });
    return { status: r.status, body: await r.text() };
  };
  const customers = seeded.customers;
  const last = customers[customers.length - 1]!;
  const yes = await claimOnce(last.token, warmId!);
  await claimOnce(last.token, soldOutId!);
  const refused = await claimOnce(customers[customers.length - 2]!.token, soldOutId!);
  if (yes.status !== 200 || refused.status !== 412) throw new Error(`claim answers to copy: ${yes.status} ${yes.body} / ${refused.status} ${refused.body}`);
  const bodyDir = mkdtempSync(join(tmpdir(), 'bazaar-bare-'));
  writeFileSync(join(bodyDir, 'ok.json'), yes.body);
  writeFileSync(join(bodyDir, 'refused.json'), refused.body);
  const bare = await startProcess('bare', 'bare fastify', {
    env: { BARE_POST_FILES: `ok:200:${join(bodyDir, 'ok.json')},refused:412:${join(bodyDir, 'refused.json')}` },
  });
  sampler.track('bare fastify', bare.pid);
  const procs = [api, bare];
  const windows: [string, { fromUs: number; toUs: number }][] = [];
  try {
    // Warm the api up (JIT, pools) on its own coupon: every customer once.
    say(`    warm-up: ${Math.max(2, s.warmupSeconds)} s of claims on the warm-up coupon at 50 connections`);
    const auth = customers.map((c) => `Bearer ${c.token}`);
    await drive({
      port: api.port,
      path: '/trpc/coupons.claim',
      connections: 50,
      seconds: Math.max(2, s.warmupSeconds),
      request: (i) => ({ auth: auth[i % auth.length]!, body: JSON.stringify({ couponId: warmId }) }),
      next: { i: 0 },
    });

    // (1) the storm
    const stormCustomers = customers.slice(0, s.stormCustomers);
    await sleep(1000);
    say(`(1) claim storm: ${s.stormClaims} claims at once over ${s.stormSockets} sockets from ${stormCustomers.length} customers on ${s.stormQuantity} units`);
    const before = await mysqlStatus(db);
    const usage = sampler.begin();
    const fromUs = monoMicros();
    const answers = await claimStorm({ port: api.port, couponId: stormId!, customers: stormCustomers, requests: s.stormClaims, sockets: s.stormSockets });
    const toUs = monoMicros();
    const u = usage.end();
    const after = await mysqlStatus(db);
    const mysqlClaims = await scalar(db, 'SELECT COUNT(*) FROM coupon_claims WHERE coupon_id = ?', [stormId]);
    const mysqlClaimed = await scalar(db, 'SELECT claimed FROM coupons WHERE id = ?', [stormId]);
    const [claimRows] = (await db.query('SELECT user_id FROM coupon_claims WHERE coupon_id = ? ORDER BY user_id', [stormId])) as unknown as [
      { user_id: number }[],
    ];
    const remaining = await redis.hget(keys.couponMeta(stormId!), 'remaining');
    const holders = await redis.hlen(keys.couponHolders(stormId!));
    const heard = [...answers.issuedTo].sort((a, b) => a - b);
    const inMysql = claimRows.map((r) => Number(r.user_id));
    const { issuedTo: _issued, ...rest } = answers;
    result.storm = {
      couponId: stormId!,
      answers: rest,
      mysqlClaims,
      mysqlClaimed,
      redisRemaining: remaining === null ? null : Number(remaining),
      redisHolders: holders,
      sameCustomers: heard.length === inMysql.length && heard.every((x, i) => x === inMysql[i]),
      usage: u,
      mysql: statusRates(before, after),
    };
    windows.push(['storm', { fromUs, toUs }]);
    say(
      `    all answered in ${answers.wallMs} ms: ${answers.issued} issued, ${answers.soldOut} SOLD_OUT, ${answers.already} ALREADY_CLAIMED, other ${JSON.stringify(answers.otherStatus)}, network errors ${answers.networkErrors}; slowest ${round(answers.answerMs.max, 0)} ms from t0`,
    );
    say(
      `    MySQL: ${mysqlClaims} claim rows, coupons.claimed ${mysqlClaimed}; Redis: remaining ${remaining}, ${holders} holders; same customers: ${result.storm.sameCustomers}`,
    );

    // (2) closed loop, alternating the bare route and the claims
    const pool = { i: 0 };
    const C = customers.length - 2; // the last two hold the sold-out coupon's unit and its refusal
    const poolRequest = (i: number) => ({ auth: auth[i % C]!, body: JSON.stringify({ couponId: poolIds[Math.floor(i / C) % poolIds.length] }) });
    const soldOutRequest = (i: number) => ({ auth: auth[i % C]!, body: JSON.stringify({ couponId: soldOutId }) });
    const phase = async (
      p: Pick<ClaimPhase, 'name' | 'what' | 'round' | 'kind'>,
      port: number,
      path: string,
      request: (i: number) => { auth: string; body: string },
      next: { i: number },
    ) => {
      const busy = await machineBusyOver(500);
      say(`(2) ${p.name}: ${p.what} — ${s.connections} connections, ${s.warmupSeconds} s warm-up + ${s.seconds} s (machine ${busy}% busy before)`);
      if (s.warmupSeconds > 0) await drive({ port, path, connections: s.connections, seconds: s.warmupSeconds, request, next });
      const before = await mysqlStatus(db);
      const usage = sampler.begin();
      const fromUs = monoMicros();
      const load = await drive({ port, path, connections: s.connections, seconds: s.seconds, request, next });
      const toUs = monoMicros();
      const u = usage.end();
      const after = await mysqlStatus(db);
      const perSec =
        p.kind === 'claims' ? load.acceptedPerSec : p.kind === 'sold-out' ? Math.round((load.reasons.COUPON_SOLD_OUT ?? 0) / load.seconds) : load.answersPerSec;
      const done: ClaimPhase = { ...p, load, perSec, pctOfBare: null, usage: u, mysql: statusRates(before, after), window: { fromUs, toUs } };
      result.claims.push(done);
      const cpu = (n: string) => u.processes.find((x) => x.name === n);
      say(
        `    ${perSec}/s (all answers ${load.answersPerSec}/s: ${JSON.stringify(load.statusCounts)} ${JSON.stringify(load.reasons)}), p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms; ` +
          `api CPU ${cpu('api')?.cpuPct}%, bare ${cpu('bare fastify')?.cpuPct}%, mariadbd ${cpu('mariadbd')?.cpuPct}%, redis ${cpu('redis-server')?.cpuPct}%`,
      );
      if (load.errorSamples.length) say(`    other answers: ${load.errorSamples.join(' | ')}`);
      return done;
    };
    const bareReq = (i: number) => ({ auth: auth[i % C]!, body: JSON.stringify({ couponId: poolIds[0] }) });
    for (let r = 1; r <= s.rounds; r++) {
      const b = await phase(
        { name: `bare (round ${r})`, what: 'bare Fastify route, the bytes of a claim that is issued', round: r, kind: 'bare-ok' },
        bare.port,
        '/bare/ok',
        bareReq,
        { i: 0 },
      );
      const c = await phase(
        { name: `claims (round ${r})`, what: 'coupons.claim, units left: Redis, then MySQL', round: r, kind: 'claims' },
        api.port,
        '/trpc/coupons.claim',
        poolRequest,
        pool,
      );
      c.pctOfBare = b.perSec ? round((100 * c.perSec) / b.perSec, 1) : null;
    }
    const bRefused = await phase(
      { name: 'bare (refused)', what: 'bare Fastify route, the bytes of a sold-out refusal (412)', round: s.rounds, kind: 'bare-refused' },
      bare.port,
      '/bare/refused',
      bareReq,
      { i: 0 },
    );
    const so = await phase(
      { name: 'sold out', what: 'coupons.claim on a sold-out coupon: refused by the Redis script', round: s.rounds, kind: 'sold-out' },
      api.port,
      '/trpc/coupons.claim',
      soldOutRequest,
      { i: 0 },
    );
    so.pctOfBare = bRefused.perSec ? round((100 * so.perSec) / bRefused.perSec, 1) : null;

    // The Lua script's own ceiling: no api, ioredis straight to Redis.
    say(`(2) the claim script alone: CouponStore.claim over one ioredis connection, ${s.luaInFlight} in flight, ${s.luaSeconds} s`);
    const luaRedis = redisClient(env.redisUrl);
    try {
      const lu = sampler.begin();
      const lua = await luaCeiling({ redis: luaRedis, prefix, couponId: 900_000_001, inFlight: s.luaInFlight, seconds: s.luaSeconds });
      result.lua = { ...lua, usage: lu.end() };
      say(
        `    ${lua.claimsPerSec} claims/s (p50 ${round(lua.latencyMs.p50, 2)} ms, p99 ${round(lua.latencyMs.p99, 2)} ms), not ok ${JSON.stringify(lua.notOk)}; redis CPU ${result.lua.usage.processes.find((x) => x.name === 'redis-server')?.cpuPct}%`,
      );
    } finally {
      luaRedis.disconnect();
    }
  } finally {
    for (const p of procs) sampler.untrack(p.pid);
    await Promise.allSettled(procs.map((p) => p.stop()));
    result.claimsLogs = processLogs(procs);
  }
  // The api wrote its profile on exit: summarize the storm, the first claims round and the sold-out run.
  const file = apiProfDir ? mainThreadProfile(apiProfDir) : null;
  if (apiProfDir && !file) say('    (no profile written for the claims api)');
  const claims1 = result.claims.find((p) => p.kind === 'claims');
  const soldOut = result.claims.find((p) => p.kind === 'sold-out');
  if (claims1) windows.push([claims1.name, claims1.window]);
  if (soldOut) windows.push([soldOut.name, soldOut.window]);
  if (file) for (const [label, w] of windows) result.profiles.push(summarizeProfile(`api during "${label}"`, file, w, 12));
}

// ---------------------------------------------------------------- (3) and (4)

interface ProcSet {
  label: string;
  api: BenchProcess;
  workers: BenchProcess[];
  db: mysql.Connection;
  prefix: string;
  seeded: Seeded;
  counters: boolean;
}

async function queueBacklog(redis: Redis, prefix: string): Promise<number> {
  const queue = createOrdersQueue(redis, redisKeys(prefix), 10);
  try {
    const q = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return (q.waiting ?? 0) + (q.active ?? 0) + (q.delayed ?? 0) + (q.prioritized ?? 0);
  } finally {
    await queue.close();
  }
}

/** Waits (Redis only: MariaDB's counters stay the workers') until the set's queue is empty; seconds waited. */
async function drain(ctx: Ctx, set: ProcSet): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ctx.s.drainMaxSeconds * 1000) {
    if ((await queueBacklog(ctx.redis, set.prefix)) === 0) break;
    await sleep(250);
  }
  return round((Date.now() - started) / 1000, 1);
}

async function pipelinePhase(
  ctx: Ctx,
  set: ProcSet,
  kind: PipelinePhase['kind'],
  r: number,
  coupons: { ids: number[]; next: { i: number } },
): Promise<PipelinePhase> {
  const { s, sampler } = ctx;
  const { customers, products } = set.seeded;
  const C = customers.length;
  const auth = customers.map((c) => `Bearer ${c.token}`);
  const salt = Math.random().toString(36).slice(2, 8);
  const tag = `${kind}${r}`;
  const productOf = (i: number) => products[(i * 7919 + Math.floor(Math.random() * 13)) % products.length]!.id;
  // Plain: the next customer round robin. Coupon: the next unused (customer, claimed coupon) pair, across every phase of the run.
  const mk = (phase: 'w' | 'm') =>
    kind === 'coupon'
      ? {
          next: coupons.next,
          request: (p: number) => ({
            auth: auth[p % C]!,
            body: moneyOrderBody(`${tag}-${phase}-${salt}-${p.toString(36)}`, productOf(p), {
              couponId: coupons.ids[Math.floor(p / C) % coupons.ids.length]!,
              points: s.pointsPerOrder,
            }),
          }),
        }
      : { next: { i: 0 }, request: (i: number) => ({ auth: auth[i % C]!, body: moneyOrderBody(`${tag}-${phase}-${salt}-${i.toString(36)}`, productOf(i)) }) };
  const what = {
    baseline: `plain orders, commit ${ctx.result.baseline?.commit.slice(0, 7)} (before the change)`,
    plain: 'plain orders, today',
    coupon: 'coupon + points orders, today',
  }[kind];
  const busy = await machineBusyOver(500);
  say(`(3) round ${r}, ${what}: ${s.connections} connections, ${s.warmupSeconds} s warm-up + ${s.seconds} s (machine ${busy}% busy before)`);
  if (s.warmupSeconds > 0) {
    const w = mk('w');
    await drive({ port: set.api.port, path: '/trpc/orders.place', connections: s.connections, seconds: s.warmupSeconds, ...w });
  }
  await drain(ctx, set);

  const workerPorts = set.workers.map((w) => w.port);
  const countersBefore = set.counters ? await scrapeCounters(workerPorts) : new Map<string, number>();
  const comBefore = await comSnapshot(set.db);
  const ratesBefore = await mysqlStatus(set.db);
  const startSql = await mysqlNow(set.db);
  const usage = sampler.begin();
  const m = mk('m');
  const load = await drive({ port: set.api.port, path: '/trpc/orders.place', connections: s.connections, seconds: s.seconds, ...m });
  const endSql = await mysqlNow(set.db);
  const u = usage.end();
  const ratesAfter = await mysqlStatus(set.db);
  const drainSeconds = await drain(ctx, set);
  const comAfter = await comSnapshot(set.db);
  const deadlocks = (comAfter.Innodb_deadlocks ?? 0) - (comBefore.Innodb_deadlocks ?? 0);
  const lastDeadlock = deadlocks > 0 ? await latestDeadlock(set.db) : null;
  const countersAfter = set.counters ? await scrapeCounters(workerPorts) : new Map<string, number>();

  const like = `${tag}-m-%`;
  const paid = await scalar(set.db, `SELECT COUNT(*) FROM orders WHERE status = 'PAID' AND settled_at >= ? AND settled_at < ? AND idempotency_key LIKE ?`, [
    startSql,
    endSql,
    like,
  ]);
  const [byStatus] = (await set.db.query(
    `SELECT status, failure_reason AS reason, COUNT(*) AS n FROM orders WHERE idempotency_key LIKE ? GROUP BY status, failure_reason`,
    [like],
  )) as unknown as [{ status: string; reason: string | null; n: number }[]];
  const failed: Record<string, number> = {};
  let settled = 0;
  let paidSettled = 0;
  for (const row of byStatus) {
    if (row.status === 'PENDING') continue;
    settled += Number(row.n);
    if (row.status === 'PAID') paidSettled += Number(row.n);
    else failed[`${row.status} ${row.reason ?? ''}`.trim()] = Number(row.n);
  }
  const phase: PipelinePhase = {
    kind,
    round: r,
    load,
    paid,
    paidPerSec: Math.round(paid / load.seconds),
    failed,
    settled,
    paidSettled,
    unsettled: Math.max(0, load.ok - settled),
    drainSeconds,
    usage: u,
    mysqlRates: statusRates(ratesBefore, ratesAfter),
    com: comDelta(comBefore, comAfter),
    counters: counterDelta(countersBefore, countersAfter),
    logs: processLogs([set.api, ...set.workers]),
    deadlocks,
    lastDeadlock,
  };
  const cpu = (n: string) =>
    round(
      u.processes.filter((x) => x.name === n || x.name.startsWith(`${n} `) || x.name.startsWith(`${n}-`)).reduce((a, x) => a + x.cpuPct, 0),
      0,
    );
  say(
    `    accepted ${load.acceptedPerSec}/s (p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms, non-200 ${nonOk(load)}), PAID ${phase.paidPerSec}/s; ` +
      `drained in ${drainSeconds} s, ${settled} settled (${paidSettled} PAID${Object.keys(failed).length ? `, ${JSON.stringify(failed)}` : ''}), ` +
      `${round((phase.com.Questions ?? 0) / Math.max(1, paidSettled), 1)} Questions per PAID; machine ${u.machineBusyPct}% busy, mariadbd ${cpu('mariadbd')}%`,
  );
  if (load.errorSamples.length || Object.keys(load.reasons).length) say(`    other answers: ${JSON.stringify(load.reasons)} ${load.errorSamples.join(' | ')}`);
  return phase;
}

async function phasePipeline(ctx: Ctx): Promise<void> {
  const { env, s, db, redis, seeded, admin, sampler, result } = ctx;
  const procs: BenchProcess[] = [];
  let tree: BaselineTree | null = null;
  let baseDb: mysql.Connection | null = null;
  const baseDbName = `${env.database}_base`;
  const baseUrl = (() => {
    const u = new URL(env.mysqlUrl);
    u.pathname = `/${baseDbName}`;
    return u.toString();
  })();
  try {
    const sets: ProcSet[] = [];
    const workerEnv = { WORKER_CONCURRENCY: String(s.workerConcurrency), MYSQL_POOL_SIZE: String(s.workerPoolSize) };
    const apiEnv = { MYSQL_POOL_SIZE: String(s.apiPoolSize) };

    // Baseline: the commit before the money core, its own tree, database and prefix.
    if (s.baseline !== 'none') {
      say(`(3) baseline: commit ${s.baseline} from git archive, its own migrations on ${baseDbName}`);
      tree = prepareBaseline(s.baseline);
      baselineTree = tree;
      result.baseline = { commit: tree.commit, subject: tree.subject, database: baseDbName };
      migrateBaseline(tree, baseUrl, env.redisUrl);
      baseDb = await mysqlConnection(baseUrl);
      const baseSeeded = await seedDatabase(baseDb, { customers: s.customers, products: s.products, balance: 1_000_000_000, stock: 1_000_000 });
      const basePrefix = `${env.prefixBase}b`;
      await seedSessionsFor(redis, basePrefix, withRole(baseSeeded.customers, 'CUSTOMER'));
      await seedGate(
        redis,
        baseDb,
        basePrefix,
        baseSeeded.products.map((p) => p.id),
      );
      const e = { mysqlUrl: baseUrl, redisUrl: env.redisUrl };
      const short = tree.commit.slice(0, 7);
      const api = await startBaselineProcess(tree, 'api', `api (${short})`, processEnv(e, basePrefix, apiEnv));
      procs.push(api);
      const workers = await Promise.all(
        Array.from({ length: s.workers }, (_, i) => startBaselineProcess(tree!, 'worker', `worker-${i + 1} (${short})`, processEnv(e, basePrefix, workerEnv))),
      );
      procs.push(...workers);
      sets.push({ label: 'baseline', api, workers, db: baseDb, prefix: basePrefix, seeded: baseSeeded, counters: false });
    }

    // Today's code: customers holding claimed coupons and granted points.
    const prefix = `${env.prefixBase}p`;
    await seedSessionsFor(redis, prefix, [...withRole(seeded.customers, 'CUSTOMER'), { ...admin, role: 'ADMIN' }]);
    await seedGate(
      redis,
      db,
      prefix,
      seeded.products.map((p) => p.id),
    );
    say(`(3) today's code: api and ${s.workers} workers (prefix ${prefix})`);
    const api = await startProcess('api', 'api', { env: processEnv(env, prefix, apiEnv) });
    procs.push(api);
    const workers = await Promise.all(
      Array.from({ length: s.workers }, (_, i) => startProcess('worker', `worker-${i + 1}`, { env: processEnv(env, prefix, workerEnv) })),
    );
    procs.push(...workers);
    const adminClient = bazaarClient(`http://127.0.0.1:${api.port}`, { token: admin.token, batch: false });
    const couponIds = await createCoupons(
      adminClient,
      Array.from({ length: s.pipelineCoupons }, (_, i) => ({
        name: `order coupon ${i + 1}`,
        quantity: s.customers,
        value: s.couponValue,
        minOrderAmount: 1000,
      })),
    );
    say(
      `    seeding: every customer claims coupons ${couponIds.join(', ')} (SQL, Redis copy rebuilt) and is granted ${s.pointLots.map((l) => `${l.amount} points (${l.days} days)`).join(' + ')}`,
    );
    await seedClaims(db, redis, prefix, couponIds, seeded.customers);
    const balance = await seedPoints(db, admin.userId, seeded.customers, s.pointLots);
    const probe = bazaarClient(`http://127.0.0.1:${api.port}`, { token: seeded.customers[0]!.token, batch: false });
    const seen = await probe.points.balance.query();
    const mine = await probe.coupons.mine.query({ limit: 20 });
    if (seen.balance !== balance || mine.items.filter((c) => couponIds.includes(c.couponId) && c.state === 'AVAILABLE').length !== couponIds.length) {
      throw new Error(
        `seeded money not what the api sees: balance ${seen.balance} (seeded ${balance}), coupons ${JSON.stringify(mine.items.map((c) => c.state))}`,
      );
    }
    sets.push({ label: 'today', api, workers, db, prefix, seeded, counters: true });
    for (const p of procs) sampler.track(p.name, p.pid);

    const baseline = sets.find((x) => x.label === 'baseline');
    const today = sets.find((x) => x.label === 'today')!;
    const coupons = { ids: couponIds, next: { i: 0 } };
    for (let r = 1; r <= s.pipelineRounds; r++) {
      // Alternate which plain run goes first, so a drift over the run does not favour one side.
      const order: PipelinePhase['kind'][] = r % 2 === 1 ? ['baseline', 'plain', 'coupon'] : ['plain', 'baseline', 'coupon'];
      for (const kind of order) {
        if (kind === 'baseline' && !baseline) continue;
        result.pipeline.push(await pipelinePhase(ctx, kind === 'baseline' ? baseline! : today, kind, r, coupons));
      }
    }
    say(`    ${coupons.next.i} coupon orders placed over the run (${couponIds.length * seeded.customers.length} claims seeded)`);
  } finally {
    for (const p of procs) sampler.untrack(p.pid);
    await Promise.allSettled(procs.map((p) => p.stop(10_000)));
    await baseDb?.end().catch(() => undefined);
    removeBaseline(tree);
    if (tree && !process.env.BENCH_KEEP) {
      const c = await mysqlConnection(env.mysqlUrl, false);
      await c.query(`DROP DATABASE IF EXISTS \`${baseDbName}\``).catch((err: unknown) => result.cleanup.push(`dropping ${baseDbName}: ${String(err)}`));
      await c.end();
    }
  }
}

// ---------------------------------------------------------------- main

let shuttingDown = false;
/** The baseline's temporary tree, removed on Ctrl-C too. */
let baselineTree: BaselineTree | null = null;

async function main(): Promise<void> {
  const s = settings();
  const env = benchEnv();
  const result: MoneyResult = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    totalSeconds: 0,
    database: env.database,
    redisPrefix: env.prefixBase,
    settings: s,
    machine: undefined as unknown as MoneyResult['machine'],
    busyBefore: 0,
    baseline: null,
    storm: null,
    claims: [],
    lua: null,
    claimsLogs: [],
    profiles: [],
    pipeline: [],
    targets: [],
    findings: [],
    profileDir: null,
    cleanup: [],
    error: null,
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  function onSignal(signal: string) {
    if (shuttingDown) return;
    shuttingDown = true;
    say(`${signal}: stopping every process the bench started and cleaning up`);
    abortStarts();
    moneyLoad.current?.stop();
    void (async () => {
      await stopAll(5000);
      removeBaseline(baselineTree);
      if (!process.env.BENCH_KEEP) {
        for (const p of await cleanup(env)) say(`    cleanup: ${p}`);
        const c = await mysqlConnection(env.mysqlUrl, false).catch(() => null);
        await c?.query(`DROP DATABASE IF EXISTS \`${env.database}_base\``).catch(() => undefined);
        await c?.end();
      }
      say(`stopped; ${env.database} dropped and ${env.prefixBase}* keys deleted`);
      process.exit(130);
    })();
  }

  const sampler = new Sampler(cpus().length);
  let db: mysql.Connection | null = null;
  let redis: Redis | null = null;
  try {
    say(`database ${env.database}, Redis prefix ${env.prefixBase}*`);
    await createBenchDatabase(env);
    db = await mysqlConnection(env.mysqlUrl);
    redis = redisClient(env.redisUrl);
    result.machine = await machineInfo(db, redis);
    say(`machine: ${result.machine.cores} cores, Node ${result.machine.node}, MariaDB ${result.machine.mysqlVersion}, Redis ${result.machine.redisVersion}`);
    const quietUntil = Date.now() + num('BENCH_QUIET_WAIT_SECONDS', 45) * 1000;
    result.busyBefore = await machineBusyOver(3000);
    while (result.busyBefore > 15 && Date.now() < quietUntil) {
      say(`machine ${result.busyBefore}% busy with other work; waiting for a quieter moment`);
      result.busyBefore = await machineBusyOver(3000);
    }
    say(`machine ${result.busyBefore}% busy before the bench starts anything`);
    sampler.track('bench (load generator)', process.pid);
    sampler.track('mariadbd', findPid('mariadbd', 'mysqld'));
    sampler.track('redis-server', findPid('redis-server'));

    say(`seeding ${s.customers} customers, ${s.products} products and an admin`);
    const seeded = await seedDatabase(db, { customers: s.customers, products: s.products, balance: 1_000_000_000, stock: 1_000_000 });
    const admin = await seedAdmin(db);
    const profileDir = s.profile ? mkdtempSync(join(tmpdir(), 'bazaar-money-prof-')) : null;
    result.profileDir = profileDir;
    const ctx: Ctx = { env, s, db, redis, seeded, admin, sampler, profileDir, result };
    await phaseClaims(ctx);
    await phasePipeline(ctx);
  } catch (err) {
    result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
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
    if (!shuttingDown) result.cleanup.push(...(await dropOrKeep(env, say)));
  }
  if (shuttingDown) return;
  result.finishedAt = new Date().toISOString();
  result.totalSeconds = Math.round((Date.now() - t0) / 1000);
  if (result.machine) {
    const { targets, findings } = analyzeMoney(result);
    result.targets = targets;
    result.findings = findings;
    const dir = join(ROOT, 'bench', 'reports');
    mkdirSync(dir, { recursive: true });
    const base = join(dir, `${result.startedAt.slice(0, 10)}-money`);
    writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${base}.md`, renderMoneyReport(result));
    say(`report: ${base}.md (raw: ${base}.json), ${result.totalSeconds} s in all`);
    for (const t of targets) say(`    ${t.pass ? 'PASS' : 'MISS'}  ${t.phase} ${t.what}: ${t.measured} (target ${t.target})${t.pass ? '' : `, ${t.gap}`}`);
  }
}

function renderOnly(file: string): void {
  const result = JSON.parse(readFileSync(file, 'utf8')) as MoneyResult;
  const { targets, findings } = analyzeMoney(result);
  result.targets = targets;
  result.findings = findings;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(file.replace(/\.json$/, '.md'), renderMoneyReport(result));
  process.stdout.write(`report: ${file.replace(/\.json$/, '.md')}\n`);
}

const renderArg = process.argv.indexOf('--render');
if (renderArg >= 0) renderOnly(process.argv[renderArg + 1] ?? join(ROOT, 'bench', 'reports', `${new Date().toISOString().slice(0, 10)}-money.json`));
else
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
