/**
 * `npm run soak`: mixed load for SOAK_MINUTES (30) against a fleet that is hurt on purpose, then the invariants.
 *
 * The fleet runs as production does (compiled, NODE_ENV=production): 2 api processes, 3 workers and the scheduler, on
 * a MariaDB primary + GTID replica and a Redis with AOF (appendfsync everysec) of the soak's own (real servers of this
 * machine in temp dirs, so they can be killed: test/support/mariadb-replication.ts, test/support/redis-server.ts).
 * SOAK_USERS customers (60) each loop over browse (list, detail), cart, orders (wallet and points), partial refunds,
 * coupon claims and chat; a call that fails on the network or with a 5xx is retried with the same idempotency key.
 *
 * Faults: a worker killed (SIGKILL) every SOAK_KILL_EVERY_S (30) and a new one started; Redis killed and restarted
 * on its AOF at 35% of the run; the MariaDB primary killed and restarted at 65%.
 *
 * Then the load stops, the fleet drains, and the report (bench/reports/<date>-soak.md) gives throughput and errors
 * per minute, the fault timeline, and what MySQL holds against what the clients were told: every accepted order
 * settled once, every accepted refund completed once, wallets = ledgers, point lots = movements, stock + sold =
 * seeded, claims within each coupon's quantity, one chat message per client message id.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRPCClientError } from '@trpc/client';
import type mysql from 'mysql2/promise';
import { bazaarClient, type BazaarClient } from '../scripts/lib/client';
import { startReplicatedMariaDb, type ReplicatedMariaDb } from '../test/support/mariadb-replication';
import { startRedisServer, type RedisServer } from '../test/support/redis-server';
import { createBenchDatabase, mysqlConnection, useRunSecrets } from './lib/env';
import { ROOT, running, startProcess, stopAll, type BenchProcess } from './lib/processes';
import { databaseInvariants } from './lib/refunds-checks';
import { table } from './lib/report';
import { envNumber, sleep, summarize } from './lib/stats';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const MINUTES = Number(arg('minutes') ?? envNumber('SOAK_MINUTES', 30));
const USERS = envNumber('SOAK_USERS', 60);
const KILL_EVERY_S = envNumber('SOAK_KILL_EVERY_S', 30);
const WORKERS = 3;
const APIS = 2;
const STORES = 5;
const PRODUCTS_PER_STORE = 4;
/** Enough for 30 minutes of orders (~100 units/s): the run measures the fleet under faults, not a sell-out. */
const STOCK = 100_000;
const COUPON_QUANTITY = 40;
/** Per customer, in charges of 10,000,000 (the largest one charge may be): enough for the whole run. */
const TOP_UP = 50_000_000;
/** A call that has not answered by then counts as hung (the api must answer or fail fast). */
const HANG_MS = 15_000;
const BUCKET_MS = 60_000;
const DELIVERY = {
  type: 'DELIVERY' as const,
  address: { recipient: '홍길동', phone: '010-0000-0000', postalCode: '04524', line1: '서울특별시 중구 세종대로 110' },
};

type Kind = 'browse' | 'cart' | 'order' | 'refund' | 'claim' | 'chat';
const KINDS: Kind[] = ['browse', 'cart', 'order', 'refund', 'claim', 'chat'];

interface Bucket {
  /** At the bucket's last sample: orders accepted so far, and orders in MySQL (the workers' progress). */
  accepted?: number;
  inMysql?: number;
  ok: Record<Kind, number>;
  refused: Record<Kind, number>;
  errors: Map<string, number>;
  latencies: number[];
}
const zero = () => Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;

const t0 = Date.now();
const since = () => ((Date.now() - t0) / 1000).toFixed(0);
const say = (line: string) => process.stdout.write(`[soak ${since()}s] ${line}\n`);

class Recorder {
  readonly buckets: Bucket[] = [];
  start = 0;
  maxLatencyMs = 0;
  hung = 0;
  bucket(): Bucket {
    const i = Math.floor((Date.now() - this.start) / BUCKET_MS);
    while (this.buckets.length <= i) this.buckets.push({ ok: zero(), refused: zero(), errors: new Map(), latencies: [] });
    return this.buckets[i]!;
  }
  /** Times one call: ok, a business refusal (a 4xx the contract names), or an error (5xx, network, hung). */
  async time<T>(kind: Kind, fn: () => Promise<T>): Promise<T | undefined> {
    const t = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const hung = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('hung')), HANG_MS);
      });
      const v = await Promise.race([fn(), hung]);
      this.bucket().ok[kind]++;
      return v;
    } catch (err) {
      const code = codeOf(err);
      if (code === 'hung') this.hung++;
      if (isRefusal(code)) this.bucket().refused[kind]++;
      else {
        const b = this.bucket();
        const key = `${kind} ${code}`;
        b.errors.set(key, (b.errors.get(key) ?? 0) + 1);
      }
      throw err;
    } finally {
      clearTimeout(timer);
      const ms = Date.now() - t;
      this.maxLatencyMs = Math.max(this.maxLatencyMs, ms);
      this.bucket().latencies.push(ms);
    }
  }
}

function codeOf(err: unknown): string {
  if (err instanceof TRPCClientError) {
    const data = err.data as { code?: string; reason?: string } | undefined;
    return data?.reason ?? data?.code ?? `network: ${String(err.message).slice(0, 60)}`;
  }
  return err instanceof Error ? (err.message === 'hung' ? 'hung' : `client: ${err.message.slice(0, 60)}`) : 'unknown';
}
/** Answers the contract gives for a request that is fine but refused (sold out, too little money, already claimed …). */
const isRefusal = (code: string) => /^[A-Z_]+$/.test(code) && !['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE', 'TIMEOUT', 'BAD_GATEWAY'].includes(code);
/** Worth trying again with the same idempotency key: the server may or may not have done it. */
const retryable = (err: unknown) => {
  const code = codeOf(err);
  return !isRefusal(code) || code === 'UNAUTHORIZED';
};

interface Customer {
  email: string;
  userId: number;
  client: BazaarClient;
  orders: string[];
}

interface Ledger {
  acceptedOrders: Set<string>;
  acceptedRefunds: Set<string>;
  claims: number;
  messages: number;
}

const PASSWORD = 'soak-password-1234';

async function login(api: string, email: string): Promise<BazaarClient> {
  const { token } = await bazaarClient(api).auth.login.mutate({ email, password: PASSWORD });
  return bazaarClient(api, { token });
}

async function seed(api: string, tag: string) {
  const anon = bazaarClient(api);
  const productIds: number[] = [];
  const storeIds: number[] = [];
  const couponIds: number[] = [];
  for (let s = 0; s < STORES; s++) {
    const email = `seller${s}-${tag}@soak.bazaar`;
    await anon.auth.signup.mutate({ email, password: PASSWORD, name: `seller ${s}`, role: 'SELLER' });
    const seller = await login(api, email);
    const store = await seller.stores.create.mutate({ name: `Soak store ${s}` });
    storeIds.push(store.id);
    for (let p = 0; p < PRODUCTS_PER_STORE; p++) {
      const product = await seller.products.create.mutate({
        storeId: store.id,
        name: `soak ${s}-${p}`,
        description: 'soak',
        price: 1_000 * (p + 1),
        stock: STOCK,
      });
      productIds.push(product.id);
    }
    const now = Date.now();
    const coupon = await seller.coupons.create.mutate({
      storeId: store.id,
      name: `soak ${s}`,
      kind: 'FIXED',
      value: 500,
      minOrderAmount: 0,
      quantity: COUPON_QUANTITY,
      validFrom: new Date(now - 60_000).toISOString(),
      validUntil: new Date(now + 6 * 3600_000).toISOString(),
    });
    couponIds.push(coupon.couponId);
  }
  const customers: Customer[] = [];
  for (let i = 0; i < USERS; i++) {
    const email = `customer${i}-${tag}@soak.bazaar`;
    const user = await anon.auth.signup.mutate({ email, password: PASSWORD, name: `customer ${i}`, role: 'CUSTOMER' });
    const client = await login(api, email);
    for (let k = 0; k < TOP_UP / 10_000_000; k++) await client.wallet.charge.mutate({ amount: 10_000_000, idempotencyKey: `soak-topup-${i}-${k}` });
    customers.push({ email, userId: user.id, client, orders: [] });
  }
  return { productIds, storeIds, couponIds, customers };
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** One customer's loop until `stop()`. */
async function customerLoop(
  api: () => string,
  c: Customer,
  world: { productIds: number[]; storeIds: number[]; couponIds: number[] },
  rec: Recorder,
  ledger: Ledger,
  stop: () => boolean,
): Promise<void> {
  let seq = 0;
  /** Calls with retries on a 5xx, the network or a lost session (signing in again), same input each time. */
  const call = async <T>(kind: Kind, fn: (client: BazaarClient) => Promise<T>): Promise<T | undefined> => {
    for (let attempt = 0; attempt < 6; attempt++) {
      try {
        return await rec.time(kind, () => fn(c.client));
      } catch (err) {
        if (!retryable(err) || stop()) return undefined;
        if (codeOf(err) === 'UNAUTHORIZED') c.client = await login(api(), c.email).catch(() => c.client);
        await sleep(250 * 2 ** attempt);
      }
    }
    return undefined;
  };
  while (!stop()) {
    const r = Math.random();
    const id = `${c.userId}-${seq++}`;
    if (r < 0.35) {
      await call('browse', (k) => k.products.list.query({ limit: 20 }));
      await call('browse', (k) => k.products.get.query({ productId: pick(world.productIds) }));
    } else if (r < 0.45) {
      const productId = pick(world.productIds);
      await call('cart', (k) => k.cart.add.mutate({ productId, quantity: 1 }));
      await call('cart', (k) => k.cart.remove.mutate({ productId }));
    } else if (r < 0.75) {
      const usePoints = Math.random() < 0.3;
      const placed = await call('order', (k) =>
        k.orders.place.mutate({
          idempotencyKey: `soak-order-${id}`,
          items: [{ productId: pick(world.productIds), quantity: 1 + Math.floor(Math.random() * 3) }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
          ...(usePoints ? { points: 10 } : {}),
        }),
      );
      if (placed) {
        ledger.acceptedOrders.add(placed.orderId);
        c.orders.push(placed.orderId);
      }
    } else if (r < 0.85) {
      const orderId = c.orders.length ? pick(c.orders) : null;
      if (!orderId) continue;
      const order = await call('refund', (k) => k.orders.get.query({ orderId }));
      const line = order?.items.find((l) => l.orderItemId !== null && l.refundedQuantity < l.quantity);
      if (!order || !line || !['PAID', 'PARTIALLY_REFUNDED'].includes(order.status)) continue;
      const refund = await call('refund', (k) =>
        k.refunds.request.mutate({ orderId, idempotencyKey: `soak-refund-${id}`, items: [{ orderItemId: line.orderItemId!, quantity: 1 }] }),
      );
      if (refund) ledger.acceptedRefunds.add(refund.refundId);
    } else if (r < 0.92) {
      const couponId = pick(world.couponIds);
      if (await call('claim', (k) => k.coupons.claim.mutate({ couponId }))) ledger.claims++;
    } else {
      const thread = await call('chat', (k) => k.chat.open.mutate({ storeId: pick(world.storeIds) }));
      if (thread && (await call('chat', (k) => k.chat.send.mutate({ threadId: thread.threadId, body: `soak ${id}`, clientMessageId: `soak-${id}` }))))
        ledger.messages++;
    }
  }
}

type Row = Record<string, unknown>;
async function rows(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [r] = (await c.query(sql, params)) as unknown as [Row[]];
  return r;
}
const num = (v: unknown) => Number(v ?? 0);

async function main(): Promise<void> {
  useRunSecrets();
  say(
    `starting: ${MINUTES} min, ${USERS} customers, ${APIS} api, ${WORKERS} workers (one killed every ${KILL_EVERY_S} s), Redis with AOF, MariaDB primary + replica`,
  );
  const db: ReplicatedMariaDb = await startReplicatedMariaDb();
  const redis: RedisServer = await startRedisServer({ aof: true });
  const events: { at: number; what: string }[] = [];
  const event = (what: string) => {
    events.push({ at: Date.now(), what });
    say(what);
  };
  let report = '';
  try {
    const mysqlUrl = db.primary.url();
    await createBenchDatabase({ mysqlUrl, redisUrl: redis.url, database: 'bazaar', prefixBase: 'soak' });
    const env = {
      MYSQL_URL: mysqlUrl,
      MYSQL_REPLICA_URLS: db.replica.url(),
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'soak',
      LOG_LEVEL: 'warn',
      RECONCILE_CRON: '*/2 * * * * *',
      RECONCILE_AFTER_SECONDS: '10',
      WORKER_CONCURRENCY: '8',
    };
    const apis: BenchProcess[] = [];
    for (let i = 0; i < APIS; i++) apis.push(await startProcess('api', `api-${i + 1}`, { env }));
    const workers: BenchProcess[] = [];
    for (let i = 0; i < WORKERS; i++) workers.push(await startProcess('worker', `worker-${i + 1}`, { env }));
    const scheduler = await startProcess('scheduler', 'scheduler', { env });
    const urls = apis.map((a) => `http://127.0.0.1:${a.port}`);
    let rr = 0;
    const api = () => urls[rr++ % urls.length]!;

    const world = await seed(urls[0]!, Date.now().toString(36));
    // Customers alternate between the two api processes.
    for (const [i, c] of world.customers.entries()) if (i % 2) c.client = await login(urls[1]!, c.email);
    const stockSeeded = world.productIds.length * STOCK;
    say(`seeded ${STORES} stores, ${world.productIds.length} products (${stockSeeded} units), ${world.couponIds.length} coupons, ${USERS} customers`);

    const rec = new Recorder();
    rec.start = Date.now();
    const ledger: Ledger = { acceptedOrders: new Set(), acceptedRefunds: new Set(), claims: 0, messages: 0 };
    const endAt = rec.start + MINUTES * 60_000;
    const stop = () => Date.now() >= endAt;
    const loops = world.customers.map((c) => customerLoop(api, c, world, rec, ledger, stop));
    // Orders the workers have written to MySQL, sampled every 10 s (the apply rate, and the backlog behind the api).
    const sampler = await mysqlConnection(mysqlUrl);
    sampler.on('error', () => undefined);
    let sampling: mysql.Connection | null = sampler;
    const sampling$ = (async () => {
      while (!stop()) {
        await sleep(10_000);
        try {
          sampling ??= await mysqlConnection(mysqlUrl);
          const [x] = await rows(sampling, `SELECT COUNT(*) AS n FROM orders`);
          rec.bucket().inMysql = num(x?.n);
          rec.bucket().accepted = ledger.acceptedOrders.size;
        } catch {
          await sampling?.end().catch(() => undefined);
          sampling = null; // the primary is down: next time, a new connection
        }
      }
      await sampling?.end().catch(() => undefined);
    })();

    // The faults.
    let killed = 0;
    let workerSeq = WORKERS;
    const chaos = (async () => {
      let redisDone = false;
      let mysqlDone = false;
      while (!stop()) {
        await sleep(KILL_EVERY_S * 1000);
        if (stop()) break;
        const victim = workers.splice(Math.floor(Math.random() * workers.length), 1)[0]!;
        victim.child.kill('SIGKILL');
        running.delete(victim);
        killed++;
        event(`killed ${victim.name} (SIGKILL)`);
        workers.push(await startProcess('worker', `worker-${++workerSeq}`, { env }));
        const done = (Date.now() - rec.start) / (endAt - rec.start);
        if (!redisDone && done >= 0.35) {
          redisDone = true;
          event('Redis: SIGKILL');
          await redis.kill();
          await sleep(3_000);
          await redis.start();
          event('Redis: started again on its AOF');
        }
        if (!mysqlDone && done >= 0.65) {
          mysqlDone = true;
          event('MariaDB primary: SIGKILL');
          await db.primary.kill();
          await sleep(3_000);
          await db.primary.start();
          event('MariaDB primary: started again');
        }
      }
    })();
    await Promise.all([...loops, chaos, sampling$]);
    event(`load stopped: ${ledger.acceptedOrders.size} orders and ${ledger.acceptedRefunds.size} refunds accepted; draining`);

    // Drain: every accepted order and refund settled in MySQL.
    const c = await mysqlConnection(mysqlUrl);
    const accepted = [...ledger.acceptedOrders];
    // The workers may trail the api (a backlog on the queue): drain while it shrinks, give up after 2 minutes without progress.
    const drainStart = Date.now();
    let lastProgress = Date.now();
    let lastLeft = Infinity;
    let pending = { orders: -1, missing: -1, refunds: -1 };
    for (;;) {
      const [o] = await rows(c, `SELECT SUM(status = 'PENDING') AS pending FROM orders`);
      const [r] = await rows(c, `SELECT SUM(status = 'PENDING') AS pending FROM refunds`);
      let present = 0;
      for (let i = 0; i < accepted.length; i += 1000) {
        const [x] = await rows(c, `SELECT COUNT(*) AS n FROM orders WHERE id IN (?)`, [accepted.slice(i, i + 1000)]);
        present += num(x?.n);
      }
      pending = { orders: num(o?.pending), missing: accepted.length - present, refunds: num(r?.pending) };
      if (pending.orders === 0 && pending.missing === 0 && pending.refunds === 0) break;
      const left = pending.orders + pending.missing + pending.refunds;
      if (left < lastLeft) {
        lastLeft = left;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > 120_000) break;
      await sleep(5_000);
    }
    event(`drained in ${((Date.now() - drainStart) / 1000).toFixed(0)} s: ${JSON.stringify(pending)}`);

    // The invariants.
    const problems: string[] = [];
    if (pending.missing) problems.push(`${pending.missing} accepted orders not in MySQL`);
    if (pending.orders) problems.push(`${pending.orders} orders still PENDING`);
    if (pending.refunds) problems.push(`${pending.refunds} refunds still PENDING`);
    const statuses = await rows(c, `SELECT status, COUNT(*) AS n FROM orders GROUP BY status`);
    const refundStatuses = await rows(c, `SELECT status, COUNT(*) AS n FROM refunds GROUP BY status`);
    const acceptedRefunds = [...ledger.acceptedRefunds];
    let refundsPresent = 0;
    for (let i = 0; i < acceptedRefunds.length; i += 1000) {
      const [x] = await rows(c, `SELECT COUNT(*) AS n FROM refunds WHERE id IN (?)`, [acceptedRefunds.slice(i, i + 1000)]);
      refundsPresent += num(x?.n);
    }
    if (refundsPresent !== acceptedRefunds.length) problems.push(`${acceptedRefunds.length - refundsPresent} accepted refunds not in MySQL`);
    const [unknownOrders] = await rows(c, `SELECT COUNT(*) AS n FROM orders`);
    const doubles = await rows(c, `SELECT kind, ref, COUNT(*) AS n FROM wallet_entries GROUP BY user_id, kind, ref HAVING COUNT(*) > 1 LIMIT 5`);
    if (doubles.length) problems.push(`wallet effects applied twice: ${JSON.stringify(doubles)}`);
    const [overClaimed] = await rows(
      c,
      `SELECT COUNT(*) AS n FROM coupons c WHERE c.claimed > c.quantity OR c.claimed <> (SELECT COUNT(*) FROM coupon_claims k WHERE k.coupon_id = c.id)`,
    );
    if (num(overClaimed?.n)) problems.push(`${num(overClaimed?.n)} coupons claimed past their quantity or off their claim rows`);
    const [claims] = await rows(c, `SELECT COUNT(*) AS n FROM coupon_claims`);
    const [messages] = await rows(c, `SELECT COUNT(*) AS n FROM chat_messages`);
    const [refundsOff] = await rows(
      c,
      `SELECT COUNT(*) AS n FROM order_items i WHERE i.refunded_quantity > i.quantity OR i.refunded_quantity <> COALESCE((SELECT SUM(ri.quantity) FROM refund_items ri JOIN refunds r ON r.id = ri.refund_id WHERE ri.order_item_id = i.id AND r.status = 'COMPLETED'), 0)`,
    ).catch(() => [{ n: -1 }]);
    if (num(refundsOff?.n) > 0) problems.push(`${num(refundsOff?.n)} order lines whose refunded quantity differs from their completed refunds`);
    const inv = await databaseInvariants(c, stockSeeded);
    problems.push(...inv.problems);
    await c.end();

    const procs = [...apis, ...workers, scheduler];
    report = renderSoak({
      minutes: MINUTES,
      rec,
      events,
      ledger,
      killed,
      statuses,
      refundStatuses,
      ordersInMysql: num(unknownOrders?.n),
      claimsInMysql: num(claims?.n),
      messagesInMysql: num(messages?.n),
      refundsLinesCheck: num(refundsOff?.n),
      inv,
      pending,
      problems,
      logs: procs.map((p) => ({ name: p.name, warn: p.tally.warn, error: p.tally.error, top: [...p.tally.messages].slice(0, 4) })),
    });
  } finally {
    await stopAll(5_000);
    await redis.close().catch(() => undefined);
    await db.close().catch(() => undefined);
  }
  const dir = join(ROOT, 'bench', 'reports');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().slice(0, 10)}-soak${MINUTES < 30 ? `-${MINUTES}min` : ''}.md`);
  writeFileSync(file, report);
  say(`report: ${file}`);
}

function renderSoak(r: {
  minutes: number;
  rec: Recorder;
  events: { at: number; what: string }[];
  ledger: Ledger;
  killed: number;
  statuses: Row[];
  refundStatuses: Row[];
  ordersInMysql: number;
  claimsInMysql: number;
  messagesInMysql: number;
  refundsLinesCheck: number;
  inv: Awaited<ReturnType<typeof databaseInvariants>>;
  pending: { orders: number; missing: number; refunds: number };
  problems: string[];
  logs: { name: string; warn: number; error: number; top: [string, number][] }[];
}): string {
  const { rec } = r;
  const minuteOf = (at: number) => ((at - rec.start) / 60_000).toFixed(1);
  const prevInMysql = (i: number) => {
    for (let j = i - 1; j >= 0; j--) if (rec.buckets[j]!.inMysql !== undefined) return rec.buckets[j]!.inMysql!;
    return 0;
  };
  const perMinute = rec.buckets.map((b, i) => {
    const ops = KINDS.reduce((s, k) => s + b.ok[k] + b.refused[k], 0);
    const errs = [...b.errors.values()].reduce((s, n) => s + n, 0);
    const lat = summarize(b.latencies);
    const faults = r.events.filter((e) => Math.floor((e.at - rec.start) / BUCKET_MS) === i && !e.what.startsWith('killed')).map((e) => e.what);
    const kills = r.events.filter((e) => Math.floor((e.at - rec.start) / BUCKET_MS) === i && e.what.startsWith('killed')).length;
    return [
      i + 1,
      (ops / (BUCKET_MS / 1000)).toFixed(1),
      b.inMysql === undefined ? '—' : ((b.inMysql - prevInMysql(i)) / (BUCKET_MS / 1000)).toFixed(1),
      b.inMysql === undefined || b.accepted === undefined ? '—' : b.accepted - b.inMysql,
      ...KINDS.map((k) => b.ok[k]),
      KINDS.reduce((s, k) => s + b.refused[k], 0),
      errs,
      lat.p50.toFixed(0),
      lat.p99.toFixed(0),
      lat.max.toFixed(0),
      [kills ? `${kills} worker kill${kills > 1 ? 's' : ''}` : '', ...faults].filter(Boolean).join('; '),
    ];
  });
  const errorTotals = new Map<string, number>();
  for (const b of rec.buckets) for (const [k, n] of b.errors) errorTotals.set(k, (errorTotals.get(k) ?? 0) + n);
  const okTotal = rec.buckets.reduce((s, b) => s + KINDS.reduce((t, k) => t + b.ok[k], 0), 0);
  const refusedTotal = rec.buckets.reduce((s, b) => s + KINDS.reduce((t, k) => t + b.refused[k], 0), 0);
  const errTotal = [...errorTotals.values()].reduce((s, n) => s + n, 0);
  const lines = [
    `# Soak: ${r.minutes} minutes of mixed load with faults`,
    '',
    `Run ${new Date(rec.start).toISOString()}, \`npm run soak\` (SOAK_MINUTES=${r.minutes}, SOAK_USERS=${USERS}). Fleet: ${APIS} api processes, ${WORKERS} workers, 1 scheduler, compiled, NODE_ENV=production; ` +
      `MariaDB 10.11 primary + GTID replica (reads that may lag), Redis 7 with AOF (appendfsync everysec), all of the soak's own. ` +
      `${USERS} customers loop over browse 35% (list + detail), cart 10% (add + remove), orders 30% (wallet, 30% with points), ` +
      `partial refunds 10%, coupon claims 7%, chat 8%; a call failing with a 5xx, the network or a lost session is retried with the same idempotency key (up to 6 times).`,
    '',
    `**Verdict: ${r.problems.length === 0 ? 'every invariant holds' : `${r.problems.length} invariant(s) broken`}.** ` +
      `${okTotal.toLocaleString('en')} calls answered, ${refusedTotal.toLocaleString('en')} refused by the contract (sold out, already claimed, too little money …), ` +
      `${errTotal.toLocaleString('en')} errors (5xx or network, then retried), ${rec.hung} hung past ${HANG_MS / 1000} s; slowest answer ${rec.maxLatencyMs} ms. ` +
      `${r.killed} workers killed, Redis and MariaDB each killed and restarted once.`,
    '',
    '## Faults',
    '',
    table(
      ['minute', 'what'],
      r.events.filter((e) => !e.what.startsWith('killed')).map((e) => [minuteOf(e.at), e.what]),
    ),
    '',
    `Besides: a worker killed with SIGKILL every ${KILL_EVERY_S} s (${r.killed} in all), a new one started each time.`,
    '',
    '## Throughput over time',
    '',
    "Per minute: calls per second (answered + refused); orders the workers wrote to MySQL per second, and the backlog (accepted, not yet in MySQL) at the minute's last sample; answered calls by kind, refusals, errors, latency of every call (ms), faults in that minute.",
    '',
    table(['min', 'calls/s', 'applied/s', 'backlog', ...KINDS, 'refused', 'errors', 'p50', 'p99', 'max', 'faults'], perMinute),
    '',
    '## Errors',
    '',
    errorTotals.size
      ? table(
          ['call and error', 'count'],
          [...errorTotals].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, n]),
        )
      : 'None.',
    '',
    '## Invariants at the end',
    '',
    table(
      ['check', 'result'],
      [
        ['orders accepted (orders.place answered)', r.ledger.acceptedOrders.size],
        ['orders in MySQL (all of them, by status)', `${r.ordersInMysql}: ${r.statuses.map((s) => `${String(s.status)} ${num(s.n)}`).join(', ')}`],
        ['accepted orders missing from MySQL', r.pending.missing],
        ['orders still PENDING after the drain', r.pending.orders],
        ['refunds accepted', r.ledger.acceptedRefunds.size],
        ['refunds in MySQL, by status', r.refundStatuses.map((s) => `${String(s.status)} ${num(s.n)}`).join(', ') || '—'],
        ['refunds still PENDING', r.pending.refunds],
        ['order lines whose refunded quantity ≠ their completed refunds', r.refundsLinesCheck < 0 ? 'not checked' : r.refundsLinesCheck],
        ['wallets ≠ their ledger', r.inv.wallets],
        ['point lots ≠ their movements', r.inv.lots],
        ['stock + units sold − seeded stock', r.inv.stock],
        ['coupon claims answered / rows in MySQL', `${r.ledger.claims} / ${r.claimsInMysql}`],
        ['chat messages answered / rows in MySQL', `${r.ledger.messages} / ${r.messagesInMysql}`],
      ],
    ),
    '',
    r.problems.length ? `Problems:\n\n${r.problems.map((p) => `- ${p}`).join('\n')}` : 'No problem found.',
    '',
    '## Process logs (warn / error lines)',
    '',
    table(
      ['process', 'warn', 'error', 'most frequent'],
      r.logs.map((l) => [l.name, l.warn, l.error, l.top.map(([m, n]) => `${m.replace(/\|/g, '/')} ×${n}`).join('; ')]),
    ),
    '',
  ];
  return lines.join('\n');
}

main().catch(async (err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopAll(2_000);
  process.exit(1);
});
