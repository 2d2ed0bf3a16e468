import { OrderStatus, RefundStatus, WalletEntryKind } from '@bazaar/contracts';
import { createDataSource, ensureDatabase, selectRows } from '@bazaar/db';
import { loadConfig } from '@bazaar/platform';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { DELIVERY, eventually, startTestApi, type TestApi } from '../support/api-harness';
import { startMariaDb, type SingleMariaDb } from '../support/mariadb-replication';
import { balanceFromLedger, ledgerProblems, moneyFixtures } from '../support/money-fixtures';
import { startProcess, type RunningProcess } from '../support/processes';
import { startRedisServer, type RedisServer } from '../support/redis-server';

const DAY = 86_400_000;
const CUSTOMERS = 48;
const LOOPS = 16;
const WALLET = 300_000;
const SMALL_WALLET = 8_000;
const GRANT = 5_000;
const STOCK = [2_000, 2_000, 2_000, 2_000, 2_000, 30]; // the last one sells out: refusals at the gate, and OUT_OF_STOCK in the worker
/**
 * Every call answers within this, outages included: success, or a clear error (never a hang). What bounds it: a
 * Redis command waits for a reconnect at most once (maxRetriesPerRequest 1) and 5 s in all (commandTimeout, which
 * also bounds an enqueue on the queue connection); MySQL refuses at once while it is down (connect timeout 5 s).
 * Measured on the 2-core dev machine: 1.8–3.7 s at most, during the Redis crash.
 */
const ANSWER_WITHIN_MS = 8_000;
/** A call still unanswered after this is recorded as hung (and fails the spec). */
const HUNG_MS = 30_000;

type Call = { op: 'place' | 'refund' | 'get'; via: number; at: number; ms: number; code: string };
type Customer = { id: number; wallet: number; clients: BazaarClient[]; points: boolean; couponId: number | null; couponUsed: boolean };
type Accepted = { orderId: string; key: string; customer: Customer; refundable: boolean };

/** The answer's code: `ok`, a tRPC code (with the business reason when there is one), NETWORK (no HTTP answer), HUNG. */
function codeOf(err: unknown): string {
  const data = (err as { data?: { code?: string; reason?: string } } | null)?.data;
  if (data?.code) return data.reason ? `${data.code}:${data.reason}` : data.code;
  return err instanceof Error && err.message === 'HUNG' ? 'HUNG' : 'NETWORK';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Restarts under load (issue 13, part 3): the fleet (two api processes, three workers, a scheduler reconciling
 * every second) on a MariaDB and a Redis of its own (test/support/mariadb-replication.ts's startMariaDb,
 * test/support/redis-server.ts with AOF, appendfsync everysec), while 48 customers order in parallel (wallet,
 * points, coupons; a product that sells out) and ask for refunds. Redis is SIGKILLed and started again on its
 * AOF, then stopped cleanly (SIGTERM) and started; MariaDB is SIGKILLed and started (InnoDB recovers), then
 * stopped cleanly and started. Every call made meanwhile answers within ANSWER_WITHIN_MS, with success or a
 * clear error (INTERNAL_SERVER_ERROR while Redis is down; refunds and reads of settled orders while MySQL is
 * down, when orders are still accepted); a client retries an order that failed with the same idempotency key, as
 * a real one would. Afterwards every accepted order is settled exactly once in MySQL and the books agree:
 * wallets = ledgers, points ledger, stock + sold = initial, the gate = stock, one coupon use per order that holds
 * one, every refund settled once.
 *
 * A SIGKILL loses nothing Redis had written to its AOF (the file is in the page cache; everysec's fsync matters
 * for a machine that dies, not a process), so every order answered before the crash must settle. Redis delays
 * that write by up to 2 s only while an fsync stalls ("Asynchronous AOF fsync is taking too long" in its log,
 * shown below if orders go missing). Each run prints its figures to stderr: on the dev machine ~1,150–1,950
 * orders accepted of ~1,700–2,900 sent, 57–82 refunds, outages of 2.1–7.9 s, ~70 s for the file.
 */
describe('restarting Redis and MariaDB under load', () => {
  jest.setTimeout(240_000);
  let db: SingleMariaDb;
  let redis: RedisServer;
  let api: TestApi;
  const apis: RunningProcess[] = [];
  const workers: RunningProcess[] = [];
  let scheduler: RunningProcess;
  let env: Record<string, string>;
  const fx = moneyFixtures(() => api);

  beforeAll(async () => {
    [db, redis] = await Promise.all([startMariaDb(), startRedisServer({ aof: true })]);
    env = { MYSQL_URL: db.url('bazaar_restarts'), MYSQL_REPLICA_URLS: '', REDIS_URL: redis.url, REDIS_PREFIX: 'bzr' };
    await ensureDatabase(env.MYSQL_URL!);
    const ds = createDataSource(loadConfig({ ...env }));
    await ds.initialize();
    await ds.runMigrations({ transaction: 'each' });
    await ds.destroy();
    const workerEnv = { ...env, LOG_LEVEL: 'warn', WORKER_CONCURRENCY: '8', WORKER_LOCK_MS: '3000', CUSTOMER_LOCK_MS: '2000' };
    // Kept as each starts, so afterAll stops them all even when one of them fails to start.
    const keep = (list: RunningProcess[]) => (p: RunningProcess) => (list.push(p), p);
    const started = await Promise.allSettled([
      startTestApi(env).then((a) => (api = a)),
      ...[0, 1].map(() => startProcess('api', { ...env, LOG_LEVEL: 'warn' }).then(keep(apis))),
      ...[0, 1, 2].map(() => startProcess('worker', workerEnv).then(keep(workers))),
      startProcess('scheduler', { ...env, LOG_LEVEL: 'warn', RECONCILE_CRON: '* * * * * *', RECONCILE_AFTER_SECONDS: '3' }).then((p) => (scheduler = p)),
    ]);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  afterAll(async () => {
    await Promise.all([...apis, ...workers, scheduler].filter(Boolean).map((p) => p.stop()));
    await api?.close();
    await Promise.all([redis?.close(), db?.close()]);
  });

  it('answers or fails fast through every restart, and settles every accepted order once', async () => {
    const ds = api.deps.ds;
    const { seller, store, products } = await fx.store(STOCK.map((stock, k) => ({ name: `restart item ${k}`, price: 1_000 + k * 350, stock })));
    const { couponId } = await seller.client.coupons.create.mutate({
      storeId: store.id,
      name: '500 off',
      kind: 'FIXED',
      value: 500,
      minOrderAmount: 0,
      quantity: 1_000,
      validFrom: new Date().toISOString(),
      validUntil: new Date(Date.now() + 30 * DAY).toISOString(),
    });
    const admin = await fx.admin();
    const customers: Customer[] = await Promise.all(
      Array.from({ length: CUSTOMERS }, async (_, n): Promise<Customer> => {
        // Every eighth customer has little money: orders FAILED with INSUFFICIENT_BALANCE, refunded nothing.
        const c = await fx.customer(n % 8 === 7 ? SMALL_WALLET : WALLET);
        const points = n % 3 === 0;
        if (points)
          await admin.client.points.grant.mutate({ userId: c.id, amount: GRANT, expiresAt: new Date(Date.now() + 30 * DAY).toISOString(), reason: 'restarts' });
        const coupon = n % 2 === 0;
        if (coupon) await c.client.coupons.claim.mutate({ couponId });
        const clients = apis.map((p) => bazaarClient(`http://127.0.0.1:${p.port}`, { token: c.token, batch: false }));
        return { id: c.id, wallet: n % 8 === 7 ? SMALL_WALLET : WALLET, clients, points, couponId: coupon ? couponId : null, couponUsed: false };
      }),
    );

    // Every call is timed and its answer kept.
    const calls: Call[] = [];
    const t0 = Date.now();
    async function call<T>(op: Call['op'], via: number, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
      const at = Date.now();
      let hang: NodeJS.Timeout | undefined;
      try {
        const value = await Promise.race([fn(), new Promise<never>((_, reject) => (hang = setTimeout(() => reject(new Error('HUNG')), HUNG_MS)))]);
        calls.push({ op, via, at: at - t0, ms: Date.now() - at, code: 'ok' });
        return { ok: true, value };
      } catch (err) {
        const code = codeOf(err);
        calls.push({ op, via, at: at - t0, ms: Date.now() - at, code });
        return { ok: false, code };
      } finally {
        clearTimeout(hang);
      }
    }

    const accepted: Accepted[] = [];
    const refused: string[] = [];
    const givenUp: string[] = [];
    let running = true;
    let sent = 0;

    // An order: retried with the same key after a failure that is not a business refusal, until it is answered.
    async function order(c: Customer, n: number, loop: number) {
      const key = `restart-${c.id}-${n}`;
      const lines = [products[n % products.length]!, products[(n * 5 + 1) % products.length]!].filter((p, i, a) => a.findIndex((q) => q.id === p.id) === i);
      const items = lines.map((p, i) => ({ productId: p.id, quantity: 1 + ((n + i) % 2) }));
      const useCoupon = c.couponId !== null && !c.couponUsed;
      const input = {
        idempotencyKey: key,
        items,
        paymentMethod: 'BALANCE' as const,
        fulfillment: DELIVERY,
        ...(useCoupon ? { couponId: c.couponId! } : {}),
        ...(c.points && n % 2 === 0 ? { points: 300 } : {}),
      };
      sent++;
      for (let attempt = 0; ; attempt++) {
        const via = (loop + attempt) % c.clients.length;
        const r = await call('place', via, () => c.clients[via]!.orders.place.mutate(input));
        if (r.ok) {
          if (useCoupon) c.couponUsed = true;
          // A line of 2 units (no coupon on the order): one unit of it is refunded later, never the whole order.
          accepted.push({ orderId: r.value.orderId, key, customer: c, refundable: !useCoupon && items.some((i) => i.quantity === 2) });
          return;
        }
        if (r.code.startsWith('PRECONDITION_FAILED') || r.code.startsWith('BAD_REQUEST')) {
          refused.push(`${key}: ${r.code}`);
          return;
        }
        if (!running && attempt > 40) {
          givenUp.push(key);
          return;
        }
        await sleep(250);
      }
    }

    const orderLoops = Array.from({ length: LOOPS }, async (_, loop) => {
      for (let n = 0; running; n++) {
        const c = customers[(loop + n * LOOPS) % CUSTOMERS]!;
        await order(c, n * LOOPS + loop, loop);
        await sleep(40);
      }
    });

    // Refunds: one unit of a paid order's two-unit line, asked once per order (retried with the same key).
    const refunds: { refundId: string; orderId: string }[] = [];
    const refundAsked = new Set<string>();
    const refundLoops = Array.from({ length: 2 }, async (_, loop) => {
      while (running) {
        await sleep(150);
        const candidates = accepted.filter((a) => a.refundable && !refundAsked.has(a.orderId));
        const a = candidates[Math.floor(Math.random() * candidates.length)];
        if (!a) continue;
        // Taken before the read, so the other loop does not ask for the same order meanwhile.
        refundAsked.add(a.orderId);
        const got = await call('get', loop, () => a.customer.clients[loop]!.orders.get.query({ orderId: a.orderId }));
        const line = got.ok && got.value.status === OrderStatus.PAID ? got.value.items.find((i) => i.quantity === 2) : undefined;
        if (!line?.orderItemId) {
          refundAsked.delete(a.orderId);
          continue;
        }
        const input = { orderId: a.orderId, idempotencyKey: `refund-${a.orderId}`, items: [{ orderItemId: line.orderItemId, quantity: 1 }] };
        for (let attempt = 0; ; attempt++) {
          const r = await call('refund', loop, () => a.customer.clients[(loop + attempt) % 2]!.refunds.request.mutate(input));
          if (r.ok) {
            refunds.push({ refundId: r.value.refundId, orderId: a.orderId });
            break;
          }
          if (r.code.startsWith('PRECONDITION_FAILED') || r.code.startsWith('BAD_REQUEST') || (!running && attempt > 40)) break;
          await sleep(250);
        }
      }
    });

    // The restarts, while the orders flow. Each outage's window is kept to find the calls made during it.
    const outages: { what: string; from: number; to: number }[] = [];
    const outage = async (what: string, down: () => Promise<void>, up: () => Promise<void>, downMs: number) => {
      const from = Date.now() - t0;
      await down();
      await sleep(downMs);
      await up();
      outages.push({ what, from, to: Date.now() - t0 });
    };
    await sleep(4_000);
    await outage(
      'Redis SIGKILL, then started on its AOF',
      () => redis.kill(),
      () => redis.start(),
      3_000,
    );
    await sleep(5_000);
    await outage(
      'MariaDB SIGKILL, then started (crash recovery)',
      () => db.server.kill(),
      () => db.server.start(),
      4_000,
    );
    await sleep(5_000);
    await outage(
      'MariaDB SIGTERM, then started',
      () => db.server.stop(),
      () => db.server.start(),
      1_000,
    );
    await sleep(4_000);
    await outage(
      'Redis SIGTERM (AOF written), then started',
      () => redis.stop(),
      () => redis.start(),
      1_000,
    );
    await sleep(4_000);
    running = false;
    await Promise.all([...orderLoops, ...refundLoops]);
    const trafficMs = Date.now() - t0;

    // What every outage did to the calls made during it (and a second after it).
    const summary = (list: Call[]) => {
      const codes: Record<string, number> = {};
      for (const c of list) codes[`${c.op} ${c.code}`] = (codes[`${c.op} ${c.code}`] ?? 0) + 1;
      return { calls: list.length, maxMs: Math.max(0, ...list.map((c) => c.ms)), codes };
    };
    const report = outages.map((o) => ({
      ...o,
      downMs: o.to - o.from,
      ...summary(calls.filter((c) => c.at + c.ms >= o.from && c.at <= o.to + 1_000)),
    }));
    const all = summary(calls);
    process.stderr.write(
      `restarts: ${trafficMs} ms of traffic, ${sent} orders sent, ${accepted.length} accepted, ${refused.length} refused, ${givenUp.length} given up; ` +
        `${refunds.length} refunds accepted; all calls ${JSON.stringify(all)}\n${report.map((r) => `  ${JSON.stringify(r)}`).join('\n')}\n`,
    );

    // Never a hang, never a call without an HTTP answer: success, a refusal, or a clear error, each within the bound.
    expect(calls.filter((c) => c.code === 'HUNG' || c.code === 'NETWORK')).toEqual([]);
    expect(all.maxMs).toBeLessThanOrEqual(ANSWER_WITHIN_MS);
    const allowed = /^(ok|INTERNAL_SERVER_ERROR|SERVICE_UNAVAILABLE|PRECONDITION_FAILED:.+|NOT_FOUND)$/;
    expect(calls.filter((c) => !allowed.test(c.code))).toEqual([]);
    // Each outage was felt (errors answered during it) and ridden out: orders were accepted after every one.
    for (const o of report) expect(calls.some((c) => c.op === 'place' && c.code === 'ok' && c.at > o.to)).toBe(true);
    expect(givenUp).toEqual([]);
    expect(accepted.length).toBeGreaterThan(300);
    // Every process rode the restarts out.
    for (const p of [...apis, ...workers, scheduler])
      expect({ kind: p.kind, exitCode: p.child.exitCode, signal: p.child.signalCode }).toEqual({ kind: p.kind, exitCode: null, signal: null });

    // Every accepted order settles (workers retry; the reconciler enqueues what lost its job).
    const ids = accepted.map((a) => a.orderId);
    const marks = ids.map(() => '?').join(',');
    const pending = async () =>
      Number((await selectRows<{ n: number | string }>(ds, `SELECT COUNT(*) n FROM orders WHERE status <> 'PENDING' AND id IN (${marks})`, ids))[0]?.n ?? 0);
    await eventually(pending, (n) => n === ids.length, 90_000, 500).catch(async (err: unknown) => {
      const seen = new Set((await selectRows<{ id: string }>(ds, `SELECT id FROM orders WHERE id IN (${marks})`, ids)).map((r) => r.id));
      const missing = accepted.filter((a) => !seen.has(a.orderId)).slice(0, 10);
      const states = await Promise.all(
        missing.map(async (a) => {
          const job = await api.deps.ordersQueue.getJob(a.orderId);
          const rec = await api.deps.store.get(a.customer.id, a.orderId);
          return `${a.orderId} (${a.key}): job ${job ? await job.getState() : 'none'}, accepted record ${rec ? 'in Redis' : 'gone'}`;
        }),
      );
      process.stderr.write(
        `restarts: orders not settled:\n${states.join('\n')}\nscheduler:\n${scheduler.logs.slice(-15).join('\n')}\nredis:\n${await redis.logTail(15)}\n`,
      );
      throw err;
    });
    await eventually(
      async () => Number((await selectRows<{ n: number | string }>(ds, `SELECT COUNT(*) n FROM refunds WHERE status = 'PENDING'`))[0]?.n ?? 0),
      (n) => n === 0,
      60_000,
      500,
    );

    // Once each: the orders in MySQL are exactly the accepted ones, under the keys that accepted them.
    const rows = await selectRows<{ id: string; user_id: number | string; idempotency_key: string; status: string }>(
      ds,
      'SELECT id, user_id, idempotency_key, status FROM orders',
    );
    expect(rows.map((r) => `${r.user_id}/${r.idempotency_key}/${r.id}`).sort()).toEqual(accepted.map((a) => `${a.customer.id}/${a.key}/${a.orderId}`).sort());
    const byStatus: Record<string, number> = {};
    for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    process.stderr.write(
      `restarts: settled ${JSON.stringify(byStatus)}; refunds ${JSON.stringify(await selectRows(ds, 'SELECT status, COUNT(*) n FROM refunds GROUP BY status'))}\n`,
    );
    expect(byStatus[OrderStatus.PAID]! + (byStatus[OrderStatus.PARTIALLY_REFUNDED] ?? 0)).toBeGreaterThan(200);
    expect(byStatus[OrderStatus.PENDING] ?? 0).toBe(0);
    // What the reconciler did (reported, not asserted: it depends on where each outage fell), with the job states it requeued from.
    const reconciled = (what: string) => scheduler.logs.filter((l) => l.includes(what));
    const requeuedFrom: Record<string, number> = {};
    for (const l of reconciled('enqueued it again')) {
      const state = /"jobState":"(\w+)"/.exec(l)?.[1] ?? '?';
      requeuedFrom[state] = (requeuedFrom[state] ?? 0) + 1;
    }
    process.stderr.write(
      `restarts: the reconciler enqueued ${reconciled('enqueued it again').length} orders again (job found ${JSON.stringify(requeuedFrom)}), ` +
        `retried ${reconciled('retrying a failed order job').length} failed order jobs; refunds: ${reconciled('pending refund had no job').length} enqueued again, ` +
        `${reconciled('retrying a failed refund job').length} retried, ${reconciled('completed refund had not reached Redis').length} finished\n`,
    );

    // Money: one debit per order that paid, none for a FAILED one; each wallet = its ledger = topped up − paid + returned.
    const count = async (sql: string, params: unknown[] = []) => Number((await selectRows<{ n: number | string }>(ds, sql, params))[0]?.n ?? 0);
    expect(await count(`SELECT COUNT(*) n FROM (SELECT ref FROM wallet_entries WHERE kind = 'ORDER_PAYMENT' GROUP BY ref HAVING COUNT(*) > 1) d`)).toBe(0);
    expect(
      await count(
        `SELECT COUNT(*) n FROM orders o LEFT JOIN wallet_entries e ON e.ref = o.id AND e.kind = 'ORDER_PAYMENT'
         WHERE (o.status = 'FAILED' AND e.id IS NOT NULL) OR (o.status <> 'FAILED' AND o.cash_paid > 0 AND (e.id IS NULL OR -e.amount <> o.cash_paid))`,
      ),
    ).toBe(0);
    const refundRows = await selectRows<{ id: string; status: string; cash_returned: number | string | null }>(
      ds,
      'SELECT id, status, cash_returned FROM refunds',
    );
    expect(refundRows.map((r) => r.id).sort()).toEqual(refunds.map((r) => r.refundId).sort());
    expect(refundRows.filter((r) => r.status === RefundStatus.COMPLETED).length).toBeGreaterThan(0);
    const credits = await selectRows<{ ref: string; n: number | string; s: number | string }>(
      ds,
      'SELECT ref, COUNT(*) n, SUM(amount) s FROM wallet_entries WHERE kind = ? GROUP BY ref',
      [WalletEntryKind.ORDER_REFUND],
    );
    expect(credits.map((c) => [c.ref, Number(c.n), Number(c.s)]).sort()).toEqual(
      refundRows
        .filter((r) => r.status === RefundStatus.COMPLETED && Number(r.cash_returned) > 0)
        .map((r) => [r.id, 1, Number(r.cash_returned)])
        .sort(),
    );
    const wallets = await selectRows<{
      user_id: number | string;
      balance: number | string;
      ledger: number | string;
      paid: number | string;
      returned: number | string;
    }>(
      ds,
      `SELECT a.user_id, a.balance,
              (SELECT COALESCE(SUM(e.amount), 0) FROM wallet_entries e WHERE e.user_id = a.user_id) ledger,
              (SELECT COALESCE(SUM(o.cash_paid), 0) FROM orders o WHERE o.user_id = a.user_id AND o.status <> 'FAILED') paid,
              (SELECT COALESCE(SUM(r.cash_returned), 0) FROM refunds r WHERE r.user_id = a.user_id AND r.status = 'COMPLETED') returned
       FROM wallet_accounts a WHERE a.user_id IN (${customers.map(() => '?').join(',')})`,
      customers.map((c) => c.id),
    );
    expect(wallets).toHaveLength(CUSTOMERS);
    for (const w of wallets) {
      const expected = customers.find((c) => c.id === Number(w.user_id))!.wallet - Number(w.paid) + Number(w.returned);
      expect({ id: Number(w.user_id), balance: Number(w.balance), ledger: Number(w.ledger) }).toEqual({
        id: Number(w.user_id),
        balance: expected,
        ledger: expected,
      });
    }

    // Points: the ledger rebuilds from its rows and the live balance is the ledger's.
    const userIds = customers.map((c) => c.id);
    expect(await ledgerProblems(ds, userIds)).toEqual([]);
    for (const c of customers) {
      const live = (await c.clients[0]!.points.balance.query()).balance;
      expect({ id: c.id, live }).toEqual({ id: c.id, live: await balanceFromLedger(ds, c.id) });
    }

    // Coupons: an order that holds its coupon (not FAILED) has its customer's claim, used by it alone; a FAILED one none.
    expect(
      await count(
        `SELECT COUNT(*) n FROM orders o WHERE o.coupon_id IS NOT NULL AND o.status <> 'FAILED'
         AND (SELECT COUNT(*) FROM coupon_claims k WHERE k.order_id = o.id AND k.user_id = o.user_id AND k.coupon_id = o.coupon_id) <> 1`,
      ),
    ).toBe(0);
    expect(await count(`SELECT COUNT(*) n FROM coupon_claims k JOIN orders o ON o.id = k.order_id WHERE o.status = 'FAILED'`)).toBe(0);
    expect(
      await count(`SELECT COUNT(*) n FROM coupon_claims k WHERE k.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = k.order_id)`),
    ).toBe(0);
    expect(await count(`SELECT COUNT(*) n FROM orders WHERE coupon_id IS NOT NULL AND status <> 'FAILED'`)).toBeGreaterThan(0);

    // Stock: what left each product is what the orders that paid still hold; the gate agrees.
    for (const [k, p] of products.entries()) {
      const [row] = await selectRows<{ stock: number | string; sold: number | string | null }>(
        ds,
        `SELECT p.stock, (SELECT SUM(i.quantity - i.refunded_quantity) FROM order_items i JOIN orders o ON o.id = i.order_id
                          WHERE i.product_id = p.id AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')) sold
         FROM products p WHERE p.id = ?`,
        [p.id],
      );
      expect(Number(row!.stock)).toBeGreaterThanOrEqual(0);
      expect({ id: p.id, total: Number(row!.stock) + Number(row!.sold ?? 0) }).toEqual({ id: p.id, total: STOCK[k] });
      await eventually(
        () => api.deps.gate.available(p.id),
        (v) => v === Number(row!.stock),
        15_000,
      );
    }
  });
});

/**
 * A Redis crash without persistence (no AOF, no RDB): Redis comes back empty. What the design keeps is what
 * MySQL holds; what lived only in Redis is gone. Asserted here as README ("Restarts") states it:
 * - orders a worker had applied stay settled (orders.get reads MySQL), the books still agree, and the sold-out
 *   gate's counters are rebuilt from MySQL's stock on the next order;
 * - orders accepted but not yet applied are lost: no trace in MySQL, NOT_FOUND, never settled; the reconciler
 *   cannot bound this (it walks Redis's pending indexes, which are gone);
 * - sessions are lost (sign in again), and so are idempotency records: a retry under a lost order's key is a
 *   new order; one under the key of an order MySQL has settled is not applied twice (MySQL's unique key).
 */
describe('a Redis crash without AOF', () => {
  jest.setTimeout(120_000);
  let db: SingleMariaDb;
  let redis: RedisServer;
  let api: TestApi;
  let apiProc: RunningProcess;
  let workerEnv: Record<string, string>;
  const workers: RunningProcess[] = [];
  let scheduler: RunningProcess;
  const fx = moneyFixtures(() => api);

  beforeAll(async () => {
    [db, redis] = await Promise.all([startMariaDb(), startRedisServer({ aof: false })]);
    const env = { MYSQL_URL: db.url('bazaar_noaof'), MYSQL_REPLICA_URLS: '', REDIS_URL: redis.url, REDIS_PREFIX: 'bzn' };
    await ensureDatabase(env.MYSQL_URL);
    const ds = createDataSource(loadConfig({ ...env }));
    await ds.initialize();
    await ds.runMigrations({ transaction: 'each' });
    await ds.destroy();
    workerEnv = { ...env, LOG_LEVEL: 'warn', WORKER_LOCK_MS: '3000', CUSTOMER_LOCK_MS: '2000' };
    const started = await Promise.allSettled([
      startTestApi(env).then((a) => (api = a)),
      startProcess('api', { ...env, LOG_LEVEL: 'warn' }).then((p) => (apiProc = p)),
      startProcess('worker', workerEnv).then((p) => workers.push(p)),
      startProcess('scheduler', { ...env, LOG_LEVEL: 'warn', RECONCILE_CRON: '* * * * * *', RECONCILE_AFTER_SECONDS: '2' }).then((p) => (scheduler = p)),
    ]);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  afterAll(async () => {
    await Promise.all([apiProc, ...workers, scheduler].filter(Boolean).map((p) => p.stop()));
    await api?.close();
    await Promise.all([redis?.close(), db?.close()]);
  });

  it('keeps what MySQL settled and loses what only Redis held', async () => {
    const ds = api.deps.ds;
    const url = `http://127.0.0.1:${apiProc.port}`;
    const STOCK_UNITS = 100;
    const { products } = await fx.store([{ name: 'no-aof item', price: 1_000, stock: STOCK_UNITS }]);
    const product = products[0]!;
    const customers = await Promise.all(Array.from({ length: 6 }, () => fx.customer(50_000)));
    const place = (token: string, key: string) =>
      bazaarClient(url, { token, batch: false }).orders.place.mutate({
        idempotencyKey: key,
        items: [{ productId: product.id, quantity: 2 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });
    const count = async (sql: string, params: unknown[] = []) => Number((await selectRows<{ n: number | string }>(ds, sql, params))[0]?.n ?? 0);

    // Settled before the crash: two orders each, applied to MySQL.
    const settled = await Promise.all(customers.map(async (c) => [await place(c.token, `noaof-${c.id}-1`), await place(c.token, `noaof-${c.id}-2`)]));
    const settledIds = settled.flat().map((o) => o.orderId);
    await eventually(
      () => count(`SELECT COUNT(*) n FROM orders WHERE status = 'PAID' AND id IN (${settledIds.map(() => '?').join(',')})`, settledIds),
      (n) => n === settledIds.length,
      30_000,
    );
    // Accepted, not yet applied (no worker runs): in Redis only.
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    const waiting = await Promise.all(customers.map((c) => place(c.token, `noaof-${c.id}-3`)));
    expect(await api.deps.gate.available(product.id)).toBe(STOCK_UNITS - 2 * 18);

    await redis.kill();
    await redis.start();
    // Empty: the accepted records (and their idempotency keys) are gone, of settled and waiting orders alike.
    expect(await api.deps.store.get(customers[0]!.id, settledIds[0]!)).toBeNull();
    expect(await api.deps.store.get(customers[0]!.id, waiting[0]!.orderId)).toBeNull();

    // Sessions were in Redis: every token is unknown now.
    await expect(place(customers[0]!.token, 'noaof-after-crash')).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    const tokens = await Promise.all(customers.map(async (c) => (await api.deps.sessions.issue({ userId: c.id, role: 'CUSTOMER' })).token));
    workers.push(await startProcess('worker', workerEnv));

    // What MySQL settled stays settled (read from MySQL). What only Redis held is gone: the waiting orders are
    // unknown, and stay so (the reconciler walks Redis's pending indexes, which went with the rest).
    const statusOf = (i: number, orderId: string) =>
      bazaarClient(url, { token: tokens[i]!, batch: false })
        .orders.get.query({ orderId })
        .then(
          (v) => v.status,
          (e: unknown) => codeOf(e),
        );
    for (const i of customers.keys()) {
      expect(await Promise.all(settled[i]!.map((o) => statusOf(i, o.orderId)))).toEqual([OrderStatus.PAID, OrderStatus.PAID]);
      expect(await statusOf(i, waiting[i]!.orderId)).toBe('NOT_FOUND');
    }
    await sleep(4_000);
    const waitingIds = waiting.map((o) => o.orderId);
    expect(await count(`SELECT COUNT(*) n FROM orders WHERE id IN (${waitingIds.map(() => '?').join(',')})`, waitingIds)).toBe(0);
    for (const i of customers.keys()) expect(await statusOf(i, waiting[i]!.orderId)).toBe('NOT_FOUND');

    // Idempotency records are gone: a retry under a lost order's key is a new order (another id), and is paid.
    const again = await Promise.all(customers.map((c, i) => place(tokens[i]!, `noaof-${c.id}-3`)));
    again.forEach((o, i) => expect(o.orderId).not.toBe(waiting[i]!.orderId));
    // A retry under the key of an order MySQL settled is accepted by Redis under a new id, and never applied: the
    // worker finds the key taken in MySQL, and settles it FAILED in Redis (its units go back); it is NOT_FOUND.
    const replayed = await Promise.all(customers.map((c, i) => place(tokens[i]!, `noaof-${c.id}-1`)));
    replayed.forEach((o, i) => expect(o.orderId).not.toBe(settled[i]![0]!.orderId));
    await eventually(
      () => Promise.all(customers.map((_, i) => statusOf(i, again[i]!.orderId))),
      (s) => s.every((x) => x === OrderStatus.PAID),
      30_000,
      250,
    );
    await eventually(
      () => Promise.all(customers.map((_, i) => statusOf(i, replayed[i]!.orderId))),
      (s) => s.every((x) => x === 'NOT_FOUND'),
      30_000,
      250,
    );
    for (const i of customers.keys()) expect(await statusOf(i, settled[i]![0]!.orderId)).toBe(OrderStatus.PAID);

    // The books: one order per key in MySQL, each wallet = its ledger = topped up − paid, stock + sold = initial, gate = stock.
    expect(await count(`SELECT COUNT(*) n FROM orders`)).toBe(settledIds.length + again.length);
    expect(await count(`SELECT COUNT(*) n FROM (SELECT ref FROM wallet_entries WHERE kind = 'ORDER_PAYMENT' GROUP BY ref HAVING COUNT(*) > 1) d`)).toBe(0);
    for (const c of customers) {
      const [w] = await selectRows<{ balance: number | string; ledger: number | string; paid: number | string }>(
        ds,
        `SELECT a.balance, (SELECT SUM(amount) FROM wallet_entries WHERE user_id = a.user_id) ledger,
                (SELECT COALESCE(SUM(cash_paid), 0) FROM orders WHERE user_id = a.user_id AND status = 'PAID') paid
         FROM wallet_accounts a WHERE a.user_id = ?`,
        [c.id],
      );
      expect({ balance: Number(w!.balance), ledger: Number(w!.ledger) }).toEqual({ balance: 50_000 - Number(w!.paid), ledger: 50_000 - Number(w!.paid) });
    }
    const [row] = await selectRows<{ stock: number | string }>(ds, 'SELECT stock FROM products WHERE id = ?', [product.id]);
    expect(Number(row!.stock)).toBe(STOCK_UNITS - 2 * (settledIds.length + again.length));
    await eventually(
      () => api.deps.gate.available(product.id),
      (v) => v === Number(row!.stock),
      15_000,
    );
  });
});
