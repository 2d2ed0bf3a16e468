/**
 * `npm run bench:waiting-room` (also part of `npm run bench`): the waiting room under a poll storm (issue 12).
 *
 *   seed      a seller with a store and one product (stock 1,000,000: it never sells out), USERS customers by bulk
 *             SQL, every session straight into Redis; the gate's counter as products.create sets it.
 *   processes 2 api processes (RATE_LIMITS=off, a port each, half the generator's connections each) and 1 scheduler
 *             (the admission loop, every WAITING_ROOM_TICK_MS); api-1 writes a CPU profile (BENCH_PROFILE=0: none).
 *   event     waitingRoom.createEvent by the seller through the api: admitPerSecond RATE, tokenTtlSeconds 300,
 *             opensAt OPEN_AFTER seconds on (default USERS / 2,500 entries/s + 10 s: a little after the entries are
 *             done). Not at once: entering 100,000 takes this machine ~40 s, and a room open meanwhile admits the
 *             front of the line while those users cannot poll yet (their polls queue behind the entries, here as
 *             in front of a real server), so after WAITING_ROOM_ABANDON_SECONDS it skips them as abandoned: a
 *             first run that opened as the entries ended lost 5,967 of the first entrants that way. The admission
 *             rate is measured from the later of opensAt and the storm's start to the storm's end.
 *   enter     every user calls waitingRoom.enter at t0, over CONNECTIONS keep-alive connections (the rest wait in
 *             the generator's FIFO): entries/s, latency from t0 and on the wire, every answer's state.
 *   storm     SECONDS of waitingRoom.status: each user polls THINK ms after the last answer (closed loop per user),
 *             the first polls spread over the first THINK ms in the order the users entered; admitted users stop. Latency from the poll's due time (what a user waits) and on the wire; answers
 *             per second; states; the room's admittedTotal (meta hash) each second against the configured rate.
 *   figures   CPU and RSS of both apis, the scheduler, Redis, MariaDB and the generator itself; the machine's busy %;
 *             where api-1 spent its CPU over the storm. Verdicts: status p99 < 50 ms, admission within ±5% of RATE.
 *
 * Own database and Redis prefix, dropped at the end. Writes bench/reports/<date>-waiting-room.md and the raw JSON.
 */
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { redisKeys } from '@bazaar/platform';
import { bazaarClient } from '../scripts/lib/client';
import {
  benchEnv,
  cleanup,
  createBenchDatabase,
  dropOrKeep,
  machineInfo,
  mysqlConnection,
  redisClient,
  redisRates,
  redisSnapshot,
  type BenchEnv,
} from './lib/env';
import { ROOT, startProcess, stopAll, type BenchProcess } from './lib/processes';
import { mainThreadProfile, summarizeProfile } from './lib/cpuprofile';
import { Sampler, findPid, type PhaseUsage } from './lib/sampler';
import { insertBatched, seedGate, seedSessionsFor } from './lib/seed';
import { envNumber, monoMicros, round } from './lib/stats';
import { KeepAlivePool } from './lib/room-http';
import { enterAll, pollStorm, type RoomUser } from './lib/room-load';
import { startScheduler, type SchedulerProcess } from './lib/room-procs';
import { renderRoomReport, type AdmissionResult, type RoomBenchResult } from './lib/room-report';

const S = {
  users: envNumber('BENCH_ROOM_USERS', 100_000),
  rate: envNumber('BENCH_ROOM_RATE', 500),
  seconds: envNumber('BENCH_ROOM_SECONDS', 60),
  thinkMs: envNumber('BENCH_ROOM_THINK_MS', 2000),
  connections: envNumber('BENCH_ROOM_CONNECTIONS', 1000),
  tokenTtlSeconds: envNumber('BENCH_ROOM_TOKEN_TTL_SECONDS', 300),
  apiPoolSize: envNumber('BENCH_ROOM_API_POOL_SIZE', 8),
  /** opensAt this long after the event is created: a little after the entries are done (2,500 entries/s and 10 s of margin, see the header). */
  openAfterSeconds: envNumber('BENCH_ROOM_OPEN_AFTER_SECONDS', Math.ceil(envNumber('BENCH_ROOM_USERS', 100_000) / 2500) + 10),
  profile: process.env.BENCH_PROFILE !== '0',
  /**
   * BENCH_ROOM_POLL=advised: each waiting user polls again when the answer's pollAfterSeconds says (rarely far back,
   * every 2 s near the front), as the api advises clients to; the default, fixed: every THINK ms, the issue's storm.
   */
  followAdvice: process.env.BENCH_ROOM_POLL === 'advised',
};
const APIS = 2;
const STOCK = 1_000_000;

const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

interface Seeded {
  seller: RoomUser;
  productId: number;
  users: RoomUser[];
}

async function seed(c: mysql.Connection, redis: Redis, prefix: string): Promise<Seeded> {
  const token = () => randomBytes(32).toString('base64url');
  await c.query(`INSERT INTO users (email, password_hash, name, role) VALUES ('room-seller@bench.bazaar', 'x', 'room seller', 'SELLER')`);
  const [[seller]] = (await c.query(`SELECT id FROM users WHERE email = 'room-seller@bench.bazaar'`)) as unknown as [[{ id: number }]];
  const [store] = (await c.query(`INSERT INTO stores (seller_id, name) VALUES (?, 'room store')`, [seller.id])) as unknown as [{ insertId: number }];
  const [product] = (await c.query(`INSERT INTO products (store_id, name, description, price, stock) VALUES (?, 'room drop', '', 9900, ?)`, [
    store.insertId,
    STOCK,
  ])) as unknown as [{ insertId: number }];
  await insertBatched(
    c,
    'INSERT INTO users (email, password_hash, name, role)',
    Array.from({ length: S.users }, (_, i) => [`room-${i}@bench.bazaar`, 'x', `room customer ${i}`, 'CUSTOMER']),
    5000,
  );
  const [ids] = (await c.query(`SELECT id FROM users WHERE role = 'CUSTOMER' ORDER BY id`)) as unknown as [{ id: number }[]];
  const users = ids.map((r) => ({ userId: r.id, token: token() }));
  const sellerAccount = { userId: seller.id, token: token() };
  for (let i = 0; i < users.length; i += 10_000) {
    await seedSessionsFor(
      redis,
      prefix,
      users.slice(i, i + 10_000).map((u) => ({ ...u, role: 'CUSTOMER' as const })),
    );
  }
  await seedSessionsFor(redis, prefix, [{ ...sellerAccount, role: 'SELLER' }]);
  await seedGate(redis, c, prefix, [product.insertId]);
  return { seller: sellerAccount, productId: product.insertId, users };
}

async function main(): Promise<void> {
  const env = benchEnv();
  benchEnvForCleanup = env;
  const prefix = `${env.prefixBase}w`;
  say(`database ${env.database}, prefix ${prefix}; ${S.users} users, admission ${S.rate}/s, storm ${S.seconds} s`);
  await createBenchDatabase(env);
  const db = await mysqlConnection(env.mysqlUrl);
  const redis = redisClient(env.redisUrl);
  const machine = await machineInfo(db, redis);
  const seeded = await seed(db, redis, prefix);
  say(`seeded ${seeded.users.length} customers and their sessions; product ${seeded.productId} (stock ${STOCK})`);

  const procEnv = {
    MYSQL_URL: env.mysqlUrl,
    REDIS_URL: env.redisUrl,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    MYSQL_POOL_SIZE: String(S.apiPoolSize),
    RATE_LIMITS: 'off',
  };
  const profDir = S.profile ? mkdtempSync(join(tmpdir(), 'bazaar-room-prof-')) : undefined;
  const apis: BenchProcess[] = [];
  for (let i = 0; i < APIS; i++) apis.push(await startProcess('api', `api-${i + 1}`, { env: procEnv, ...(i === 0 && profDir ? { cpuProfDir: profDir } : {}) }));
  schedulerForCleanup = await startScheduler('scheduler', { ...procEnv, MYSQL_POOL_SIZE: '4' });
  const scheduler = schedulerForCleanup;
  const ports = apis.map((a) => a.port);
  say(`started ${APIS} api processes (ports ${ports.join(', ')}) and the scheduler`);

  const sampler = new Sampler(cpus().length);
  for (const a of apis) sampler.track(a.name, a.pid);
  sampler.track('scheduler', scheduler.pid);
  sampler.track('bench (load generator)', process.pid);
  sampler.track('redis-server', findPid('redis-server'));
  sampler.track('mariadbd', findPid('mariadbd', 'mysqld'));

  // The event, as its seller creates it, opening at once.
  const seller = bazaarClient(`http://127.0.0.1:${ports[0]}`, { token: seeded.seller.token, batch: false });
  const opensAt = new Date(Date.now() + S.openAfterSeconds * 1000);
  const created = await seller.waitingRoom.createEvent.mutate({
    productIds: [seeded.productId],
    opensAt: opensAt.toISOString(),
    closesAt: new Date(opensAt.getTime() + 3_600_000).toISOString(),
    admitPerSecond: S.rate,
    tokenTtlSeconds: S.tokenTtlSeconds,
  });
  const eventId = created.eventId;
  const metaKey = redisKeys(prefix).roomMeta(eventId);
  say(`event ${eventId}: opens in ${S.openAfterSeconds} s, ${S.rate}/s, maxActive ${created.event.maxActive}, tokens ${S.tokenTtlSeconds} s`);

  const pool = new KeepAlivePool('127.0.0.1', ports, S.connections);
  await pool.open();
  say(`${S.connections} keep-alive connections open (${pool.opened} opened)`);

  say(`enter: ${S.users} users at once`);
  const enterUsage = sampler.begin();
  const { result: enter, order } = await enterAll(pool, seeded.users, eventId, S.connections);
  const enterCpu = enterUsage.end();
  say(
    `  ${round(enter.entriesPerSecond)} entries/s over ${round(enter.wallMs / 1000, 1)} s; from t0 p50 ${round(enter.fromStartMs.p50)} ms, max ${round(enter.fromStartMs.max)} ms; ` +
      `on the wire p99 ${round(enter.onWireMs.p99)} ms; states ${JSON.stringify(enter.states)}${Object.keys(enter.failures).length ? `; failures ${JSON.stringify(enter.failures)}` : ''}`,
  );

  const admittedTotal = async () => Number((await redis.hget(metaKey, 'admittedTotal')) ?? 0);
  say(`storm: ${S.seconds} s of status polls, ${S.followAdvice ? "when each answer's pollAfterSeconds says" : `${S.thinkMs} ms after each answer`}`);
  const series: { atMs: number; total: number }[] = [];
  const stormUsage = sampler.begin();
  const redisBefore = await redisSnapshot(redis);
  const fromUs = monoMicros();
  const a0 = { atMs: Date.now(), total: await admittedTotal() };
  let a1 = a0;
  let toUs = fromUs;
  let redisAfter = redisBefore;
  let stormCpu: PhaseUsage | null = null;
  const storm = await pollStorm(pool, seeded.users, eventId, order, {
    seconds: S.seconds,
    thinkMs: S.thinkMs,
    connections: S.connections,
    drainMs: 15_000,
    followAdvice: S.followAdvice,
    // Advised, the first polls are spread over the longest advice (a third of the abandon time), as the enter
    // answers' pollAfterSeconds spread them; fixed, over THINK ms.
    ...(S.followAdvice ? { firstSpreadMs: Math.floor(envNumber('WAITING_ROOM_ABANDON_SECONDS', 60) / 3) * 1000 } : {}),
    onSecond: (sec) => {
      void admittedTotal().then((total) => series.push({ atMs: Date.now(), total }));
      if (sec > 0 && sec % 10 === 0)
        say(`  ${sec} s: ${pool.inFlight} in flight, ${pool.waiting} waiting for a connection, ${series.at(-1)?.total ?? 0} admitted`);
    },
    // The window's end, before the drain of polls still queued or in flight.
    onWindowEnd: async () => {
      a1 = { atMs: Date.now(), total: await admittedTotal() };
      toUs = monoMicros();
      stormCpu = stormUsage.end();
      redisAfter = await redisSnapshot(redis);
    },
  });
  sampler.stop();
  if (!stormCpu) throw new Error('the storm ended without its window closing');
  say(
    `  ${round(storm.answersPerSecond)} answers/s (${round((100 * storm.answers) / Math.max(1, storm.idealAnswers))}% of the closed loop's zero-latency rate); ` +
      `from due p50 ${round(storm.fromDueMs.p50, 1)} ms p99 ${round(storm.fromDueMs.p99, 1)} ms max ${round(storm.fromDueMs.max)} ms; ` +
      `on the wire p99 ${round(storm.onWireMs.p99, 1)} ms; users ${JSON.stringify(storm.userStates)}`,
  );

  // From the later of the storm's start and the opening: before it the room admits nobody by design.
  const opensAtMs = opensAt.getTime();
  const from = a0.atMs >= opensAtMs ? a0 : { atMs: opensAtMs, total: 0 };
  const perSecond: number[] = [];
  series.sort((x, y) => x.atMs - y.atMs);
  for (let i = 1; i < series.length; i++) {
    if (series[i - 1]!.atMs < opensAtMs) continue;
    const dt = (series[i]!.atMs - series[i - 1]!.atMs) / 1000;
    if (dt > 0.2) perSecond.push((series[i]!.total - series[i - 1]!.total) / dt);
  }
  const room = await redis.multi().zcard(redisKeys(prefix).roomLine(eventId)).zcard(redisKeys(prefix).roomAdmitted(eventId)).exec();
  const admission: AdmissionResult = {
    configured: S.rate,
    atStart: from.total,
    atEnd: a1.total,
    fromOpening: from !== a0,
    seconds: (a1.atMs - from.atMs) / 1000,
    achievedPerSecond: (a1.total - from.total) / ((a1.atMs - from.atMs) / 1000),
    perSecond,
    waitingAtEnd: Number(room?.[0]?.[1] ?? 0),
    activeAtEnd: Number(room?.[1]?.[1] ?? 0),
  };
  say(`  admission ${round(admission.achievedPerSecond)}/s over the storm (configured ${S.rate}/s); ${admission.atEnd} admitted in all`);

  pool.close();
  const logs = [
    ...apis.map((a) => ({ name: a.name, warn: a.tally.warn, error: a.tally.error, messages: [...a.tally.messages].map(([m, n]) => `${n}× ${m}`) })),
  ];
  await scheduler.stop();
  schedulerForCleanup = null;
  await stopAll();
  await redis.quit();
  await db.end();
  const dropped = await dropOrKeep(env, say);
  const profFile = profDir ? mainThreadProfile(profDir) : null;
  const profile = profFile ? summarizeProfile('api-1 during the storm', profFile, { fromUs, toUs }, 15) : null;

  const result: RoomBenchResult = {
    date: new Date().toISOString(),
    settings: S,
    machine,
    eventId,
    maxActive: created.event.maxActive,
    enter,
    enterCpu,
    storm,
    stormCpu,
    admission,
    redis: redisRates(redisBefore, redisAfter),
    profile,
    logs: [...logs, { name: 'scheduler', warn: scheduler.warnings, error: 0, messages: scheduler.logs.filter((l) => /"level":(4|5)\d/.test(l)).slice(0, 5) }],
    poolConnectionsOpened: pool.opened,
    dropped,
  };
  const day = result.date.slice(0, 10);
  const dir = join(ROOT, 'bench', 'reports');
  mkdirSync(dir, { recursive: true });
  const name = `${day}-waiting-room${S.followAdvice ? '-advised' : ''}`;
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, `${name}.md`), renderRoomReport(result));
  say(`report: bench/reports/${name}.md`);
}

let benchEnvForCleanup: BenchEnv | null = null;
let schedulerForCleanup: SchedulerProcess | null = null;
main().catch(async (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await schedulerForCleanup?.stop(2000);
  await stopAll(2000);
  if (benchEnvForCleanup) await cleanup(benchEnvForCleanup);
  process.exit(1);
});
