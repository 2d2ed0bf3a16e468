import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { createDataSource, selectRows } from '@bazaar/db';
import { loadConfig, redisKeys } from '@bazaar/platform';
import { SoldOutGate } from '@bazaar/queue';
import { startFakeGateway, type FakeGateway, type Ledger } from '@bazaar/fake-gateway';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { DELIVERY, PASSWORD, eventually, uniqueEmail } from '../support/api-harness';
import { startProcess, type RunningProcess } from '../support/processes';
import { isolatedEnv } from '../support/isolated-env';
import type { TestEnv } from '../support/test-env';

const ORDERS = 3_000;
const CUSTOMERS = 150;
const PRODUCTS = 8;
const STOCK = 300; // 2,400 units for ~4,500 demanded: many orders must fail, none may oversell

/**
 * Crash safety: kill -9 one of three workers every 2 s while 3,000 orders
 * flow. Every accepted order must end PAID or FAILED, none stuck PENDING,
 * none applied twice — the ledger, the stock and the gate all agree.
 */
describe('killing workers while orders flow', () => {
  jest.setTimeout(300_000);
  let api: RunningProcess;
  const workers: RunningProcess[] = [];
  let scheduler: RunningProcess;
  let ds: DataSource;
  let redis: Redis;
  let gw: FakeGateway;
  let workerEnv: Record<string, string>;

  let env: TestEnv;

  beforeAll(async () => {
    env = await isolatedEnv('kill');
    gw = await startFakeGateway({ port: 0, host: '127.0.0.1', secretKey: 'test_sk_bazaar' });
    workerEnv = { WORKER_CONCURRENCY: '16', WORKER_LOCK_MS: '3000', LOG_LEVEL: 'warn', PAYMENT_GATEWAY_URL: gw.url, PAYMENT_TIMEOUT_MS: '1000' };
    [api, scheduler] = await Promise.all([
      startProcess('api', { ...env, LOG_LEVEL: 'warn' }),
      startProcess('scheduler', { ...env, RECONCILE_CRON: '* * * * * *', RECONCILE_AFTER_SECONDS: '4', LOG_LEVEL: 'warn' }),
    ]);
    workers.push(...(await Promise.all([0, 1, 2].map(() => startProcess('worker', { ...env, ...workerEnv })))));
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    redis = new Redis(env.REDIS_URL);
  });

  afterAll(async () => {
    await Promise.all([api, scheduler, ...workers].filter(Boolean).map((p) => p.stop()));
    await ds?.destroy();
    redis?.disconnect();
    await gw?.close();
  });

  const mintKey = async (amount: number) =>
    (
      (await (
        await fetch(`${gw.url}/__test/payment-keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount }) })
      ).json()) as { paymentKey: string }
    ).paymentKey;

  it('settles every order exactly once', async () => {
    const url = `http://127.0.0.1:${api.port}`;
    const anon = bazaarClient(url, { batch: false });
    const sellerEmail = uniqueEmail('kill-seller');
    await anon.auth.signup.mutate({ email: sellerEmail, password: PASSWORD, name: 'seller', role: 'SELLER' });
    const seller = bazaarClient(url, { token: (await anon.auth.login.mutate({ email: sellerEmail, password: PASSWORD })).token, batch: false });
    const store = await seller.stores.create.mutate({ name: 'Kill store' });
    const products = await Promise.all(
      Array.from({ length: PRODUCTS }, (_, i) =>
        seller.products.create.mutate({ storeId: store.id, name: `P${i}`, description: '', price: 1_000 + i * 250, stock: STOCK }),
      ),
    );

    const customers: { id: number; client: BazaarClient; charged: number }[] = [];
    for (let i = 0; i < CUSTOMERS; i += 25) {
      customers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(25, CUSTOMERS - i) }, async (_, k) => {
            const email = uniqueEmail(`kill-c${i + k}`);
            const user = await anon.auth.signup.mutate({ email, password: PASSWORD, name: 'c', role: 'CUSTOMER' });
            const client = bazaarClient(url, { token: (await anon.auth.login.mutate({ email, password: PASSWORD })).token, batch: false });
            const charged = 20_000 + ((i + k) % 7) * 5_000;
            await client.wallet.charge.mutate({ amount: charged, idempotencyKey: `kill-topup-${i + k}` });
            return { id: user.id, client, charged };
          }),
        )),
      );
    }

    // Kill one worker every 2 s (SIGKILL: no graceful close), start a replacement. Workers group-commit BALANCE
    // orders (WORKER_BATCH_SIZE's default): what each victim had batched before it died is read off its metrics.
    let killing = true;
    let kills = 0;
    const batchesSeen = { batches: 0, orders: 0 };
    const batchStats = async (port: number) => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .catch(() => '');
      const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? 0);
      return { batches: value('bazaar_order_batch_size_count'), orders: value('bazaar_order_batch_size_sum') };
    };
    const killer = (async () => {
      while (killing) {
        await new Promise((r) => setTimeout(r, 2_000));
        if (!killing) break;
        const victim = workers.splice(Math.floor(Math.random() * workers.length), 1)[0]!;
        const seen = await batchStats(victim.port);
        batchesSeen.batches += seen.batches;
        batchesSeen.orders += seen.orders;
        await victim.kill();
        kills++;
        workers.push(await startProcess('worker', { ...env, ...workerEnv }));
      }
    })();

    const accepted: { orderId: string; customer: number }[] = [];
    let refused = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        for (let n = next++; n < ORDERS; n = next++) {
          const c = customers[n % CUSTOMERS]!;
          const lines = [products[n % PRODUCTS]!, products[(n * 7 + 3) % PRODUCTS]!].filter((p, i, a) => a.findIndex((q) => q.id === p.id) === i);
          const items = lines.map((p, i) => ({ productId: p.id, quantity: 1 + ((n + i) % 2) }));
          // Every fifth order pays by card through the fake gateway.
          const card = n % 5 === 0;
          const amount = items.reduce((sum, it) => sum + products.find((p) => p.id === it.productId)!.price * it.quantity, 0);
          const paymentKey = card ? await mintKey(amount) : undefined;
          try {
            const r = await c.client.orders.place.mutate({
              idempotencyKey: `kill-order-${n}`,
              items,
              paymentMethod: card ? 'CARD' : 'BALANCE',
              ...(paymentKey ? { paymentKey } : {}),
              fulfillment: DELIVERY,
            });
            accepted.push({ orderId: r.orderId, customer: c.id });
          } catch (e) {
            expect((e as { data?: { reason?: string } }).data?.reason).toBe('OUT_OF_STOCK');
            refused++;
          }
        }
      }),
    );
    // Keep killing while the workers work through the backlog.
    await eventually(
      async () => kills,
      (k) => k >= 5,
      30_000,
      200,
    );
    killing = false;
    await killer;
    expect(accepted.length + refused).toBe(ORDERS);
    // The workers killed had been committing several orders per transaction.
    expect(batchesSeen.batches).toBeGreaterThan(0);
    expect(batchesSeen.orders / batchesSeen.batches).toBeGreaterThan(1);
    process.stderr.write(`worker-kill: the killed workers had committed ${batchesSeen.orders} orders in ${batchesSeen.batches} batches before they died\n`);

    // Every accepted order settles (stalled jobs are taken up again; the reconciler catches the rest).
    const ids = accepted.map((a) => a.orderId);
    const count = async () => {
      let settled = 0;
      for (let i = 0; i < ids.length; i += 1000) {
        const chunk = ids.slice(i, i + 1000);
        const [row] = await selectRows<{ n: number }>(
          ds,
          `SELECT COUNT(*) n FROM orders WHERE status <> 'PENDING' AND id IN (${chunk.map(() => '?').join(',')})`,
          chunk,
        );
        settled += Number(row?.n);
      }
      return settled;
    };
    await eventually(count, (n) => n === ids.length, 120_000, 1_000);

    const statuses = await selectRows<{ status: string; n: number }>(ds, 'SELECT status, COUNT(*) n FROM orders GROUP BY status');
    expect(statuses.map((s) => s.status).sort()).toEqual(expect.arrayContaining(['PAID']));
    expect(statuses.some((s) => s.status === 'PENDING')).toBe(false);

    // Stock: what left each product is exactly what PAID orders hold; never below 0.
    const gate = new SoldOutGate(redis, redisKeys(env.REDIS_PREFIX));
    for (const p of products) {
      const [row] = await selectRows<{ stock: number; sold: number | null }>(
        ds,
        `SELECT p.stock, (SELECT SUM(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.product_id = p.id AND o.status = 'PAID') sold
         FROM products p WHERE p.id = ?`,
        [p.id],
      );
      expect(Number(row!.stock)).toBeGreaterThanOrEqual(0);
      expect(Number(row!.stock) + Number(row!.sold ?? 0)).toBe(STOCK);
      await eventually(
        () => gate.available(p.id),
        (v) => v === Number(row!.stock),
        10_000,
      );
    }

    // Money: one debit per PAID order, none for FAILED ones, every wallet = its ledger = its charges − its PAID orders.
    const [dup] = await selectRows<{ n: number }>(
      ds,
      `SELECT COUNT(*) n FROM (SELECT ref FROM wallet_entries WHERE kind = 'ORDER_PAYMENT' GROUP BY ref HAVING COUNT(*) > 1) d`,
    );
    expect(Number(dup!.n)).toBe(0);
    const [mismatch] = await selectRows<{ n: number }>(
      ds,
      `SELECT COUNT(*) n FROM orders o LEFT JOIN wallet_entries e ON e.ref = o.id AND e.kind = 'ORDER_PAYMENT'
       WHERE o.payment_method = 'BALANCE' AND ((o.status = 'PAID' AND (e.id IS NULL OR -e.amount <> o.cash_paid)) OR (o.status = 'FAILED' AND e.id IS NOT NULL))`,
    );
    expect(Number(mismatch!.n)).toBe(0);
    for (const c of customers) {
      const [w] = await selectRows<{ balance: number; ledger: number; paid: number | null }>(
        ds,
        `SELECT a.balance, (SELECT SUM(amount) FROM wallet_entries WHERE user_id = a.user_id) ledger,
                (SELECT SUM(cash_paid) FROM orders WHERE user_id = a.user_id AND status = 'PAID' AND payment_method = 'BALANCE') paid
         FROM wallet_accounts a WHERE a.user_id = ?`,
        [c.id],
      );
      expect(Number(w!.balance)).toBe(Number(w!.ledger));
      expect(Number(w!.balance)).toBe(c.charged - Number(w!.paid ?? 0));
    }

    // The gateway's own books agree: each PAID card order charged exactly its cash once, every other card order holds nothing.
    const ledger = (await (await fetch(`${gw.url}/__test/ledger`)).json()) as Ledger;
    const cardOrders = await selectRows<{ id: string; status: string; cash_paid: number }>(
      ds,
      `SELECT id, status, cash_paid FROM orders WHERE payment_method = 'CARD'`,
    );
    expect(cardOrders.length).toBeGreaterThan(50);
    for (const o of cardOrders) {
      const charges = ledger.charges.filter((c) => c.orderId === o.id);
      const keys = new Set(charges.map((c) => c.paymentKey));
      const held = charges.reduce((sum, c) => sum + c.amount, 0) - ledger.cancels.filter((c) => keys.has(c.paymentKey)).reduce((sum, c) => sum + c.amount, 0);
      expect(charges.length).toBeLessThanOrEqual(1);
      expect({ id: o.id, held }).toEqual({ id: o.id, held: o.status === 'PAID' ? Number(o.cash_paid) : 0 });
    }
  });
});
