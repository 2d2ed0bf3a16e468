/**
 * `npm run bench:chat` (also part of `npm run bench`): chat fan-out through two api processes.
 *
 *   seed       THREADS threads (a customer each, STORES stores), each with one message, written straight into MySQL;
 *              sessions straight into Redis.
 *   listeners  1,000 SSE subscribers of chat.onMessage: the customer and the seller of every thread, on each of
 *              the two api processes (4 per thread). A subscriber counts as listening once it has the thread's
 *              first message from the backlog (onMessage listens before it reads).
 *   ceiling    just before the phases: the send transaction alone (ChatRepository.send, the api's own code: lock
 *              the thread, insert, advance the thread) over a pool of as many connections as there are senders,
 *              no api, no Redis: the most sends/s MySQL takes here.
 *   closed     SENDERS concurrent senders, each sending the next message as soon as its last is answered
 *              (alternating customer and seller, and the two processes), for PHASE_SECONDS.
 *   open       a fixed offered rate (OPEN_RATE messages/s, not waiting for answers), for PHASE_SECONDS:
 *              latency without a closed loop hiding the queueing.
 *   figures    messages/s sent, deliveries/s (each message reaches its thread's 4 subscribers), delivery latency
 *              from the send's start to each subscriber's receipt (p50/p90/p99/max), every subscriber's ids checked
 *              strictly increasing and complete (no loss, no duplicate), CPU and RSS of every process.
 *
 * Own database and Redis prefix, dropped at the end. Writes bench/reports/<date>-chat.md and the raw JSON.
 */
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { ChatRepository, createDataSource } from '@bazaar/db';
import { benchEnv, cleanup, createBenchDatabase, dropOrKeep, machineInfo, mysqlConnection, redisClient, type BenchEnv, type MachineInfo } from './lib/env';
import { ROOT, startProcess, stopAll, type BenchProcess } from './lib/processes';
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from './lib/cpuprofile';
import { Sampler, findPid, type PhaseUsage } from './lib/sampler';
import { insertBatched, seedSessionsFor } from './lib/seed';
import { Samples, envNumber, monoMicros, round, sleep, summarize, type LatencySummary } from './lib/stats';

const S = {
  threads: envNumber('BENCH_CHAT_THREADS', 250),
  stores: envNumber('BENCH_CHAT_STORES', 25),
  senders: envNumber('BENCH_CHAT_SENDERS', 32),
  openRate: envNumber('BENCH_CHAT_OPEN_RATE', 200),
  phaseSeconds: envNumber('BENCH_CHAT_PHASE_SECONDS', 20),
  ceilingSeconds: envNumber('BENCH_CHAT_CEILING_SECONDS', 8),
  drainSeconds: envNumber('BENCH_CHAT_DRAIN_SECONDS', 15),
  profile: process.env.BENCH_PROFILE !== '0',
};
const APIS = 2;
const PER_THREAD = 4;

const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
const now = () => performance.now();

interface Account {
  userId: number;
  token: string;
}
interface Thread {
  id: number;
  customer: Account;
  seller: Account;
}

/** One SSE subscriber, reading the stream by hand (the bench measures the server, so the client is kept lean). */
class Listener {
  lastId = 0;
  received = 0;
  outOfOrder = 0;
  errors: string[] = [];
  private readonly ac = new AbortController();
  constructor(
    readonly thread: Thread,
    readonly api: number,
    private readonly onMessage: (sentAt: number | null) => void,
  ) {}

  async run(url: string, token: string): Promise<void> {
    const input = encodeURIComponent(JSON.stringify({ threadId: this.thread.id }));
    try {
      const res = await fetch(`${url}/trpc/chat.onMessage?input=${input}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: this.ac.signal,
      });
      if (!res.ok || !res.body) throw new Error(`onMessage answered ${res.status}`);
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          this.event(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch (err) {
      if (!this.ac.signal.aborted) this.errors.push(String(err));
    }
  }

  private event(block: string): void {
    let id: string | null = null;
    let data: string | null = null;
    let event: string | null = null;
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('data:')) data = line.slice(5).trim();
      else if (line.startsWith('event:')) event = line.slice(6).trim();
    }
    if (event !== null || id === null || data === null) {
      if (event === 'serialized-error') this.errors.push(data ?? 'error');
      return;
    }
    const msg = JSON.parse(data) as { id: number; body: string };
    if (msg.id <= this.lastId || String(msg.id) !== id) this.outOfOrder++;
    this.lastId = msg.id;
    this.received++;
    const m = /^t=([0-9.]+)/.exec(msg.body);
    this.onMessage(m ? Number(m[1]) : null);
  }

  stop(): void {
    this.ac.abort();
  }
}

interface PhaseResult {
  name: string;
  seconds: number;
  sent: number;
  sendErrors: number;
  sentPerSecond: number;
  offeredPerSecond: number | null;
  deliveries: number;
  deliveriesExpected: number;
  deliveriesPerSecond: number;
  latencyMs: LatencySummary;
  sendMs: LatencySummary;
  usage: PhaseUsage;
  window: { fromUs: number; toUs: number };
}

async function seed(c: mysql.Connection, prefix: string): Promise<{ threads: Thread[]; ceilingThreads: Thread[] }> {
  const tag = Date.now().toString(36);
  const users = [
    ...Array.from({ length: S.stores }, (_, i) => [`chat-seller-${tag}-${i}@bench.bazaar`, 'x', 'seller', 'SELLER']),
    ...Array.from({ length: S.threads }, (_, i) => [`chat-customer-${tag}-${i}@bench.bazaar`, 'x', 'customer', 'CUSTOMER']),
  ];
  await insertBatched(c, 'INSERT INTO users (email, password_hash, name, role)', users);
  const [rows] = (await c.query('SELECT id, role FROM users WHERE email LIKE ? ORDER BY id', [`chat-%-${tag}-%`])) as unknown as [
    { id: number; role: string }[],
  ];
  const account = (userId: number): Account => ({ userId, token: randomBytes(32).toString('base64url') });
  const sellers = rows.filter((r) => r.role === 'SELLER').map((r) => account(r.id));
  const customers = rows.filter((r) => r.role === 'CUSTOMER').map((r) => account(r.id));
  await insertBatched(
    c,
    'INSERT INTO stores (seller_id, name)',
    sellers.map((s, i) => [s.userId, `Chat store ${i}`]),
  );
  const [storeRows] = (await c.query('SELECT id, seller_id FROM stores ORDER BY id')) as unknown as [{ id: number; seller_id: number }[]];
  await insertBatched(
    c,
    'INSERT INTO chat_threads (customer_id, store_id)',
    customers.map((cu, i) => [cu.userId, storeRows[i % storeRows.length]!.id]),
  );
  const [threadRows] = (await c.query(
    'SELECT t.id, t.customer_id, s.seller_id FROM chat_threads t JOIN stores s ON s.id = t.store_id ORDER BY t.id',
  )) as unknown as [{ id: number; customer_id: number; seller_id: number }[]];
  // The ceiling's own threads (with a store of their own): nobody listens to them, so its messages stay out of the phases.
  const [store] = (await c.query('INSERT INTO stores (seller_id, name) VALUES (?, ?)', [sellers[0]!.userId, 'Ceiling store'])) as unknown as [
    { insertId: number },
  ];
  await insertBatched(
    c,
    'INSERT INTO chat_threads (customer_id, store_id)',
    customers.map((cu) => [cu.userId, store.insertId]),
  );
  const [ceilingRows] = (await c.query('SELECT id, customer_id FROM chat_threads WHERE store_id = ? ORDER BY id', [store.insertId])) as unknown as [
    { id: number; customer_id: number }[],
  ];
  await insertBatched(
    c,
    'INSERT INTO chat_messages (thread_id, sender_id, body, client_message_id)',
    threadRows.map((t) => [t.id, t.customer_id, 'hello', `seed-message-${t.id}`]),
  );
  await c.query(
    'UPDATE chat_threads t JOIN (SELECT thread_id, MAX(id) AS last FROM chat_messages GROUP BY thread_id) m ON m.thread_id = t.id SET t.last_message_id = m.last',
  );
  const byUser = new Map([...sellers, ...customers].map((a) => [a.userId, a]));
  const redis = redisClient(redisUrl);
  await seedSessionsFor(redis, prefix, [
    ...sellers.map((a) => ({ ...a, role: 'SELLER' as const })),
    ...customers.map((a) => ({ ...a, role: 'CUSTOMER' as const })),
  ]);
  await redis.quit();
  return {
    threads: threadRows.map((t) => ({ id: t.id, customer: byUser.get(t.customer_id)!, seller: byUser.get(t.seller_id)! })),
    ceilingThreads: ceilingRows.map((t) => ({ id: t.id, customer: byUser.get(t.customer_id)!, seller: sellers[0]! })),
  };
}

let redisUrl = '';

/** The send transaction alone (ChatRepository.send, the api's own code), no api, no Redis: the sends/s MySQL allows here. */
async function ceiling(mysqlUrl: string, threads: Thread[]): Promise<{ perSecond: number; latencyMs: LatencySummary; connections: number }> {
  const ds = createDataSource({
    MYSQL_URL: mysqlUrl,
    MYSQL_REPLICA_URLS: [],
    MYSQL_POOL_SIZE: S.senders,
    MYSQL_POOL_QUEUE_LIMIT: 1000,
    MYSQL_CONNECT_TIMEOUT_MS: 5000,
  });
  await ds.initialize();
  const repo = new ChatRepository(ds);
  const lat = new Samples();
  let done = 0;
  let seq = 0;
  const until = Date.now() + S.ceilingSeconds * 1000;
  const started = now();
  await Promise.all(
    Array.from({ length: S.senders }, async () => {
      while (Date.now() < until) {
        const t = threads[Math.floor(Math.random() * threads.length)]!;
        const s = now();
        const r = await repo.send(t.id, t.customer.userId, 'ceiling', `ceiling-${process.pid}-${seq++}`);
        if (r.kind !== 'sent') throw new Error(`ceiling send: ${r.kind}`);
        lat.push(now() - s);
        done++;
      }
    }),
  );
  const seconds = (now() - started) / 1000;
  await ds.destroy();
  return { perSecond: done / seconds, latencyMs: summarize(lat.values()), connections: S.senders };
}

async function main(): Promise<void> {
  const env = benchEnv();
  benchEnvForCleanup = env;
  redisUrl = env.redisUrl;
  const prefix = `${env.prefixBase}c`;
  say(`database ${env.database}, prefix ${prefix}; ${S.threads} threads × ${PER_THREAD} subscribers on ${APIS} api processes`);
  await createBenchDatabase(env);
  const db = await mysqlConnection(env.mysqlUrl);
  const infoRedis = redisClient(env.redisUrl);
  const machine: MachineInfo = await machineInfo(db, infoRedis);
  await infoRedis.quit();
  const { threads, ceilingThreads } = await seed(db, prefix);
  say(`seeded ${threads.length} threads`);

  const apiEnv = {
    MYSQL_URL: env.mysqlUrl,
    REDIS_URL: env.redisUrl,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    MYSQL_POOL_SIZE: '16',
    CHAT_SEND_LIMIT: '100000',
  };
  const apis: BenchProcess[] = [];
  // api-1 writes a CPU profile of the run (summarized per phase in the report).
  const profDir = S.profile ? mkdtempSync(join(tmpdir(), 'bazaar-chat-prof-')) : undefined;
  for (let i = 0; i < APIS; i++) apis.push(await startProcess('api', `api-${i + 1}`, { env: apiEnv, ...(i === 0 && profDir ? { cpuProfDir: profDir } : {}) }));
  const urls = apis.map((a) => `http://127.0.0.1:${a.port}`);
  const sampler = new Sampler(cpus().length);
  for (const a of apis) sampler.track(a.name, a.pid);
  sampler.track('bench (senders and subscribers)', process.pid);
  sampler.track('mariadbd', findPid('mariadbd', 'mysqld'));
  sampler.track('redis-server', findPid('redis-server'));

  // Delivery bookkeeping: the current phase's latencies and counts.
  let phaseLat = new Samples();
  let phaseDeliveries = 0;
  const onMessage = (sentAt: number | null) => {
    if (sentAt === null) return;
    phaseLat.push(now() - sentAt);
    phaseDeliveries++;
  };
  const listeners = threads.flatMap((t) =>
    Array.from({ length: APIS }, (_, api) => [new Listener(t, api, onMessage), new Listener(t, api, onMessage)] as const).flatMap(([a, b]) => {
      void a.run(urls[a.api]!, t.customer.token);
      void b.run(urls[b.api]!, t.seller.token);
      return [a, b];
    }),
  );
  const readyBy = Date.now() + 60_000;
  while (listeners.some((l) => l.received < 1)) {
    if (Date.now() > readyBy) {
      const errors = listeners.flatMap((l) => l.errors).slice(0, 3);
      throw new Error(`${listeners.filter((l) => l.received < 1).length} subscribers not listening after 60 s; errors: ${errors.join('; ') || 'none'}`);
    }
    await sleep(100);
  }
  say(`${listeners.length} subscribers listening`);

  say(`ceiling: the send transaction alone (ChatRepository.send) over a pool of ${S.senders}, ${S.ceilingSeconds} s`);
  const ceil = await ceiling(env.mysqlUrl, ceilingThreads);
  say(`ceiling ${round(ceil.perSecond)} sends/s`);

  let seq = 0;
  const sendOne = async (sendLat: Samples): Promise<boolean> => {
    const n = seq++;
    const t = threads[n % threads.length]!;
    const from = Math.floor(n / threads.length) % 2 === 0 ? t.customer : t.seller;
    const s = now();
    const body = JSON.stringify({ threadId: t.id, body: `t=${s.toFixed(3)}`, clientMessageId: `bench-${n}-${process.pid}` });
    try {
      const res = await fetch(`${urls[n % APIS]}/trpc/chat.send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${from.token}`, 'content-type': 'application/json' },
        body,
      });
      await res.arrayBuffer();
      sendLat.push(now() - s);
      return res.ok;
    } catch {
      return false;
    }
  };

  async function phase(name: string, offered: number | null): Promise<PhaseResult> {
    say(`phase ${name}: ${S.phaseSeconds} s`);
    phaseLat = new Samples();
    phaseDeliveries = 0;
    const sendLat = new Samples();
    let sent = 0;
    let errors = 0;
    const usage = sampler.begin();
    const fromUs = monoMicros();
    const started = now();
    const until = started + S.phaseSeconds * 1000;
    const count = (ok: boolean): void => {
      if (ok) sent++;
      else errors++;
    };
    if (offered === null) {
      await Promise.all(
        Array.from({ length: S.senders }, async () => {
          while (now() < until) count(await sendOne(sendLat));
        }),
      );
    } else {
      const inFlight: Promise<void>[] = [];
      for (let k = 0; ; k++) {
        const at = started + (k * 1000) / offered;
        if (at >= until) break;
        const wait = at - now();
        if (wait > 1) await sleep(wait);
        inFlight.push(sendOne(sendLat).then(count));
      }
      await Promise.all(inFlight);
    }
    const sendSeconds = (now() - started) / 1000;
    const expected = sent * PER_THREAD;
    const drainBy = now() + S.drainSeconds * 1000;
    while (phaseDeliveries < expected && now() < drainBy) await sleep(50);
    const seconds = (now() - started) / 1000;
    const u = usage.end();
    const toUs = monoMicros();
    const r: PhaseResult = {
      name,
      seconds: round(sendSeconds, 2),
      sent,
      sendErrors: errors,
      sentPerSecond: round(sent / sendSeconds),
      offeredPerSecond: offered,
      deliveries: phaseDeliveries,
      deliveriesExpected: expected,
      deliveriesPerSecond: round(phaseDeliveries / seconds),
      latencyMs: summarize(phaseLat.values()),
      sendMs: summarize(sendLat.values()),
      usage: u,
      window: { fromUs, toUs },
    };
    say(
      `  ${r.sentPerSecond} msgs/s sent, ${r.deliveriesPerSecond} deliveries/s, ${r.deliveries}/${r.deliveriesExpected} delivered, ` +
        `latency p50 ${round(r.latencyMs.p50)} ms p99 ${round(r.latencyMs.p99)} ms`,
    );
    return r;
  }

  const phases: PhaseResult[] = [];
  phases.push(await phase('closed loop', null));
  phases.push(await phase(`open loop ${S.openRate}/s`, S.openRate));
  await sleep(500);

  // Every subscriber: ids strictly increasing, and as many as its thread holds.
  const [counts] = (await db.query('SELECT thread_id, COUNT(*) AS n FROM chat_messages GROUP BY thread_id')) as unknown as [{ thread_id: number; n: number }[]];
  const perThread = new Map(counts.map((r) => [Number(r.thread_id), Number(r.n)]));
  const incomplete = listeners.filter((l) => l.received !== perThread.get(l.thread.id)).length;
  const outOfOrder = listeners.reduce((n, l) => n + l.outOfOrder, 0);
  const errors = listeners.flatMap((l) => l.errors);
  for (const l of listeners) l.stop();
  await stopAll();
  await db.end();
  const dropped = await dropOrKeep(env, say);
  const profFile = profDir ? mainThreadProfile(profDir) : null;
  const profiles: ProfileSummary[] = profFile ? phases.map((p) => summarizeProfile(`api-1 during "${p.name}"`, profFile, p.window, 12)) : [];

  const result = {
    date: new Date().toISOString(),
    settings: S,
    machine,
    ceiling: ceil,
    phases,
    profiles,
    subscribers: listeners.length,
    incomplete,
    outOfOrder,
    errors: errors.slice(0, 10),
    dropped,
  };
  const day = result.date.slice(0, 10);
  const dir = join(ROOT, 'bench', 'reports');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${day}-chat.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, `${day}-chat.md`), render(result));
  say(`report: bench/reports/${day}-chat.md`);
}

/** What bounds the closed loop, read off the same run: the machine's CPU, and where api-1 spent it. */
function bound(phases: PhaseResult[], profiles: ProfileSummary[]): string[] {
  const closed = phases.find((p) => p.offeredPerSecond === null);
  if (!closed) return [];
  const prof = profiles.find((p) => p.label.includes(closed.name));
  const owners = prof ? prof.byOwner.slice(0, 4).map((o) => `${o.name} ${round(o.pct)}%`) : [];
  const apiCpu = closed.usage.processes.filter((u) => u.name.startsWith('api-')).reduce((n, u) => n + u.cpuPct, 0);
  const perMessageMs = closed.sentPerSecond > 0 ? (apiCpu / 100 / closed.sentPerSecond) * 1000 : 0;
  return [
    '## What bounds it',
    '',
    `The closed loop is bound by CPU: the machine was ${round(closed.usage.machineBusyPct)}% busy over its ${closed.usage.cores} cores, ` +
      `the two api processes together spent ${round(perMessageMs, 2)} CPU-ms per message sent (its send, and its delivery to the thread's 2 subscribers on each process)` +
      (owners.length ? `, api-1's busy time going to ${owners.join(', ')}.` : '.') +
      ' MySQL is not the limit: the send transaction alone commits at the ceiling above.',
    '',
  ];
}

function render(r: {
  date: string;
  settings: typeof S;
  machine: MachineInfo;
  ceiling: { perSecond: number; latencyMs: LatencySummary; connections: number };
  phases: PhaseResult[];
  subscribers: number;
  incomplete: number;
  outOfOrder: number;
  errors: string[];
  profiles: ProfileSummary[];
}): string {
  const ms = (v: number) => round(v, 1);
  const lines = [
    `# Chat fan-out — ${r.date.slice(0, 10)}`,
    '',
    `${r.subscribers} SSE subscribers of chat.onMessage on 2 api processes: ${r.settings.threads} threads, each heard by its customer and its seller on both processes (4 per thread).`,
    'Latency is from the start of the send (chat.send over HTTP) to each subscriber reading the message off its stream, all in the bench process (one clock).',
    `Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), Node ${r.machine.node}, MariaDB ${r.machine.mysqlVersion}, Redis ${r.machine.redisVersion}.`,
    '',
    '## Throughput and latency',
    '',
    '| phase | msgs/s sent | vs ceiling | deliveries/s | delivered | send p50 / p99 ms | delivery p50 / p90 / p99 / max ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.phases.map(
      (p) =>
        `| ${p.name} | ${p.sentPerSecond}${p.sendErrors ? ` (${p.sendErrors} errors)` : ''} | ${round((100 * p.sentPerSecond) / r.ceiling.perSecond)}% | ${p.deliveriesPerSecond} | ${p.deliveries} / ${p.deliveriesExpected} | ${ms(p.sendMs.p50)} / ${ms(p.sendMs.p99)} | ${ms(p.latencyMs.p50)} / ${ms(p.latencyMs.p90)} / ${ms(p.latencyMs.p99)} / ${ms(p.latencyMs.max)} |`,
    ),
    '',
    `Ceiling, measured in the same run just before: the send transaction alone (ChatRepository.send over a pool of ${r.ceiling.connections} connections, no api, no Redis) committed **${round(r.ceiling.perSecond)} sends/s** (p50 ${ms(r.ceiling.latencyMs.p50)} ms, p99 ${ms(r.ceiling.latencyMs.p99)} ms).`,
    '',
    `Exactly once and in order: ${r.outOfOrder} out-of-order or repeated events across all subscribers; ${r.incomplete} of ${r.subscribers} subscribers ended without every message of their thread; ${r.errors.length} stream errors${r.errors.length ? `: ${r.errors.join('; ')}` : ''}.`,
    '',
    ...bound(r.phases, r.profiles),
    '## CPU and memory per phase',
    '',
    '| phase | process | CPU % of a core (avg / peak) | RSS MB (avg / max) |',
    '|---|---|---:|---:|',
    ...r.phases.flatMap((p) =>
      p.usage.processes.map((u) => `| ${p.name} | ${u.name} | ${round(u.cpuPct)} / ${round(u.cpuPeakPct)} | ${round(u.rssAvgMb)} / ${round(u.rssMaxMb)} |`),
    ),
    '',
    ...r.phases.map(
      (p) =>
        `- ${p.name}: the machine ${round(p.usage.machineBusyPct)}% busy over ${p.usage.cores} cores; other processes ${round(p.usage.otherCpuPct)}% of a core.`,
    ),
    '',
    ...r.profiles.flatMap((p) => [
      `## Where ${p.label} spent its CPU (${round(p.busyPct)}% of a core busy over ${round(p.windowMs / 1000)} s)`,
      '',
      '| owner (package whose code is on the stack) | share of busy samples |',
      '|---|---:|',
      ...p.byOwner.slice(0, 10).map((o) => `| ${o.name} | ${round(o.pct)}% |`),
      '',
      '| function | where | share |',
      '|---|---|---:|',
      ...p.topFunctions.slice(0, 10).map((f) => `| \`${f.name}\` | ${f.where} | ${round(f.pct)}% |`),
      '',
    ]),
    `Settings: ${Object.entries(r.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')} (BENCH_CHAT_*).`,
    '',
  ];
  return lines.join('\n');
}

let benchEnvForCleanup: BenchEnv | null = null;
main().catch(async (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopAll(2000);
  if (benchEnvForCleanup) await cleanup(benchEnvForCleanup);
  process.exit(1);
});
