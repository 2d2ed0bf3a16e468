import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { createDataSource, selectRows } from '@bazaar/db';
import { loadConfig, redisKeys } from '@bazaar/platform';
import { QueueName, SoldOutGate } from '@bazaar/queue';
import { SessionService } from '@bazaar/api/hosting';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { DELIVERY, PASSWORD, eventually, uniqueEmail } from '../support/api-harness';
import { startProcess, type RunningProcess } from '../support/processes';
import { isolatedEnv } from '../support/isolated-env';
import type { TestEnv } from '../support/test-env';

type Attempt = { orderId: string | null; reason: string | null; code: string | null };

/**
 * Flash-sale storms against the real fleet (api, 3 workers, scheduler): the
 * sold-out gate refuses at the door what cannot be sold, MySQL stays the
 * truth, and every unit is sold exactly once.
 */
describe('flash sale', () => {
  jest.setTimeout(240_000);
  let api: RunningProcess;
  const workers: RunningProcess[] = [];
  let scheduler: RunningProcess;
  let ds: DataSource;
  let redis: Redis;
  let url: string;
  let seller: BazaarClient;
  let storeId: number;
  let gate: SoldOutGate;

  let env: TestEnv;

  beforeAll(async () => {
    env = await isolatedEnv('flash');
    [api, scheduler] = await Promise.all([
      startProcess('api', { ...env, LOG_LEVEL: 'warn' }),
      startProcess('scheduler', { ...env, RECONCILE_CRON: '* * * * * *', RECONCILE_AFTER_SECONDS: '5', LOG_LEVEL: 'warn' }),
    ]);
    workers.push(...(await Promise.all([0, 1, 2].map(() => startProcess('worker', { ...env, WORKER_CONCURRENCY: '16', LOG_LEVEL: 'warn' })))));
    url = `http://127.0.0.1:${api.port}`;
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_POOL_SIZE: 4 });
    await ds.initialize();
    redis = new Redis(env.REDIS_URL);
    gate = new SoldOutGate(redis, redisKeys(env.REDIS_PREFIX));
    const anon = bazaarClient(url, { batch: false });
    const email = uniqueEmail('flash-seller');
    await anon.auth.signup.mutate({ email, password: PASSWORD, name: 'seller', role: 'SELLER' });
    seller = bazaarClient(url, { token: (await anon.auth.login.mutate({ email, password: PASSWORD })).token, batch: false });
    storeId = (await seller.stores.create.mutate({ name: 'Flash store' })).id;
  });

  afterAll(async () => {
    await Promise.all([api, scheduler, ...workers].filter(Boolean).map((p) => p.stop()));
    await ds?.destroy();
    redis?.disconnect();
  });

  /** Customers made fast: rows inserted directly (one shared password hash), sessions issued by the API's own session service. */
  async function customers(n: number, balance: number): Promise<{ id: number; client: BazaarClient }[]> {
    const [{ password_hash: hash } = { password_hash: '' }] = await selectRows<{ password_hash: string }>(ds, 'SELECT password_hash FROM users LIMIT 1');
    const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const values = Array.from({ length: n }, (_, i) => [`flash-${tag}-${i}@test.bazaar`, hash, 'c', 'CUSTOMER']);
    await ds.query(`INSERT INTO users (email, password_hash, name, role) VALUES ${values.map(() => '(?, ?, ?, ?)').join(',')}`, values.flat());
    const rows = await selectRows<{ id: number }>(ds, 'SELECT id FROM users WHERE email LIKE ? ORDER BY id', [`flash-${tag}-%`]);
    const sessions = new SessionService(redis, redisKeys(env.REDIS_PREFIX), 3600);
    const out = await Promise.all(
      rows.map(async (r) => ({
        id: Number(r.id),
        client: bazaarClient(url, { token: (await sessions.issue({ userId: Number(r.id), role: 'CUSTOMER' })).token, batch: false }),
      })),
    );
    for (let i = 0; i < out.length; i += 100) {
      await Promise.all(out.slice(i, i + 100).map((c, k) => c.client.wallet.charge.mutate({ amount: balance, idempotencyKey: `flash-topup-${i + k}` })));
    }
    return out;
  }

  const place = (c: BazaarClient, key: string, items: { productId: number; quantity: number }[]): Promise<Attempt> =>
    c.orders.place.mutate({ idempotencyKey: key, items, paymentMethod: 'BALANCE', fulfillment: DELIVERY }).then(
      (r) => ({ orderId: r.orderId, reason: null, code: null }),
      (e: unknown) => {
        const d = (e as { data?: { reason?: string; code?: string } }).data;
        // A network failure: what undici said underneath "fetch failed".
        const why = (e as { cause?: { cause?: { message?: string; code?: string } } }).cause?.cause;
        return { orderId: null, reason: d?.reason ?? null, code: d?.code ?? `${String(e)}${why ? ` ← ${why.code ?? ''} ${why.message ?? ''}` : ''}` };
      },
    );

  async function waitSettled(orderIds: string[]): Promise<Map<string, string>> {
    const statuses = new Map<string, string>();
    await eventually(
      async () => {
        const pending = orderIds.filter((id) => !statuses.has(id));
        for (let i = 0; i < pending.length; i += 1000) {
          const chunk = pending.slice(i, i + 1000);
          const rows = await selectRows<{ id: string; status: string }>(
            ds,
            `SELECT id, status FROM orders WHERE status <> 'PENDING' AND id IN (${chunk.map(() => '?').join(',')})`,
            chunk,
          );
          for (const r of rows) statuses.set(r.id, r.status);
        }
        return statuses.size;
      },
      (n) => n === orderIds.length,
      120_000,
      500,
    );
    return statuses;
  }

  async function expectWalletsMatchLedger(ids: number[], charged: number): Promise<void> {
    const rows = await selectRows<{ user_id: number; balance: number; ledger: number; paid: number | null }>(
      ds,
      `SELECT a.user_id, a.balance, (SELECT SUM(amount) FROM wallet_entries e WHERE e.user_id = a.user_id) ledger,
              (SELECT SUM(cash_paid) FROM orders o WHERE o.user_id = a.user_id AND o.status = 'PAID') paid
       FROM wallet_accounts a WHERE a.user_id IN (${ids.map(() => '?').join(',')})`,
      ids,
    );
    expect(rows).toHaveLength(ids.length);
    for (const r of rows) {
      expect(Number(r.balance)).toBe(Number(r.ledger));
      expect(Number(r.balance)).toBe(charged - Number(r.paid ?? 0));
    }
  }

  async function soldOf(productId: number): Promise<{ stock: number; sold: number }> {
    const [row] = await selectRows<{ stock: number; sold: number | null }>(
      ds,
      `SELECT p.stock, (SELECT SUM(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.product_id = p.id AND o.status = 'PAID') sold
       FROM products p WHERE p.id = ?`,
      [productId],
    );
    return { stock: Number(row!.stock), sold: Number(row!.sold ?? 0) };
  }

  it('2,000 concurrent orders from 500 customers on stock 100: exactly 100 sold, the rest OUT_OF_STOCK, mostly at the gate', async () => {
    const product = await seller.products.create.mutate({ storeId, name: 'Hot', description: '', price: 1_000, stock: 100 });
    const buyers = await customers(500, 10_000);
    const attempts = await Promise.all(
      buyers.flatMap((b, i) => [0, 1, 2, 3].map((k) => place(b.client, `hot-${i}-${k}-key`, [{ productId: product.id, quantity: 1 }]))),
    );
    const accepted = attempts.filter((a) => a.orderId !== null);
    const refused = attempts.filter((a) => a.orderId === null);
    // Every refusal is OUT_OF_STOCK (listed otherwise, so a failure says what else came back).
    expect(refused.filter((a) => a.code !== 'PRECONDITION_FAILED' || a.reason !== 'OUT_OF_STOCK').slice(0, 5)).toEqual([]);
    expect(refused.length).toBeGreaterThanOrEqual(1_800); // refused at the door, never queued

    const statuses = await waitSettled(accepted.map((a) => a.orderId!));
    const paid = [...statuses.values()].filter((s) => s === 'PAID').length;
    expect(paid).toBe(100);
    expect([...statuses.values()].every((s) => s === 'PAID' || s === 'FAILED')).toBe(true);
    expect(await soldOf(product.id)).toEqual({ stock: 0, sold: 100 });
    expect(await gate.available(product.id)).toBe(0);
    await expectWalletsMatchLedger(
      buyers.map((b) => b.id),
      10_000,
    );
  });

  it('rebuilds lost gate counters mid-run and still never oversells', async () => {
    const product = await seller.products.create.mutate({ storeId, name: 'Lost counter', description: '', price: 500, stock: 100 });
    const buyers = await customers(200, 5_000);
    const keys = redisKeys(env.REDIS_PREFIX);
    const accepted: string[] = [];
    for (let wave = 0; wave < 5; wave++) {
      // Redis loses the counter (a flush, a failover) between and during waves.
      await redis.del(keys.gateAvailable(product.id));
      const round = await Promise.all(
        buyers.map((b, i) =>
          (async () => {
            if (i === 100) await redis.del(keys.gateAvailable(product.id));
            return place(b.client, `lost-${wave}-${i}-key`, [{ productId: product.id, quantity: 1 }]);
          })(),
        ),
      );
      expect(round.every((a) => a.orderId !== null || a.reason === 'OUT_OF_STOCK')).toBe(true);
      accepted.push(...round.filter((a) => a.orderId).map((a) => a.orderId!));
    }
    expect(api.logs.filter((l) => l.includes('gate counter was missing')).length).toBeGreaterThanOrEqual(5);
    await waitSettled(accepted);
    const { stock, sold } = await soldOf(product.id);
    expect(stock).toBeGreaterThanOrEqual(0);
    expect(stock + sold).toBe(100);
    expect(sold).toBeLessThanOrEqual(100);
    await eventually(
      () => gate.available(product.id),
      (v) => v === stock,
      10_000,
    );
    await expectWalletsMatchLedger(
      buyers.map((b) => b.id),
      5_000,
    );
  });

  it('500 concurrent multi-line orders in random line order: no deadlock reaches a customer', async () => {
    const products = await Promise.all(
      Array.from({ length: 8 }, (_, i) => seller.products.create.mutate({ storeId, name: `Multi ${i}`, description: '', price: 100 + i, stock: 150 })),
    );
    const buyers = await customers(100, 50_000);
    const shuffle = <T>(a: T[]) =>
      a
        .map((x) => [Math.random(), x] as const)
        .sort((p, q) => p[0] - q[0])
        .map(([, x]) => x);
    const attempts = await Promise.all(
      Array.from({ length: 500 }, (_, n) => {
        const lines = shuffle(products).slice(0, 2 + (n % 4));
        return place(
          buyers[n % buyers.length]!.client,
          `multi-${n}-key`,
          lines.map((p) => ({ productId: p.id, quantity: 1 + (n % 2) })),
        );
      }),
    );
    expect(attempts.filter((a) => a.orderId === null && a.reason !== 'OUT_OF_STOCK')).toEqual([]);
    const statuses = await waitSettled(attempts.filter((a) => a.orderId).map((a) => a.orderId!));
    expect([...statuses.values()].every((s) => s === 'PAID' || s === 'FAILED')).toBe(true);
    const queue = new Queue(QueueName.ORDERS, { connection: redis, prefix: redisKeys(env.REDIS_PREFIX).bullPrefix(QueueName.ORDERS) });
    expect((await queue.getJobCounts('failed')).failed).toBe(0);
    await queue.close();
    for (const p of products) {
      const { stock, sold } = await soldOf(p.id);
      expect(stock + sold).toBe(150);
      expect(await gate.available(p.id)).toBe(stock);
    }
  });
});
