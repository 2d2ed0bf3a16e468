import { Redis } from 'ioredis';
import { TRPCClientError } from '@trpc/client';
import { createDataSource, selectRows } from '@bazaar/db';
import { loadConfig, newId, redisKeys } from '@bazaar/platform';
import { AcceptedOrderStore } from '@bazaar/queue';
import type { DataSource } from 'typeorm';
import { bazaarClient } from '../../scripts/lib/client';
import { DELIVERY, PASSWORD, eventually, uniqueEmail } from '../support/api-harness';
import { startProcess, type RunningProcess } from '../support/processes';
import { isolatedEnv } from '../support/isolated-env';
import type { TestEnv } from '../support/test-env';

/**
 * The walking skeleton, end to end: the real api, two worker processes and
 * two schedulers as child processes, driven through the typed client.
 */
describe('order slice end to end (api + 2 workers + 2 schedulers)', () => {
  jest.setTimeout(180_000);
  let api: RunningProcess;
  let workers: RunningProcess[];
  let schedulers: RunningProcess[];
  let url: string;
  let ds: DataSource;
  let redis: Redis;

  let env: TestEnv;

  beforeAll(async () => {
    env = await isolatedEnv('slice');
    const cronEnv = { RECONCILE_CRON: '* * * * * *', RECONCILE_AFTER_SECONDS: '2' };
    [api, ...workers] = await Promise.all([
      startProcess('api', { ...env }),
      startProcess('worker', { ...env, WORKER_CONCURRENCY: '8' }),
      startProcess('worker', { ...env, WORKER_CONCURRENCY: '8' }),
    ]);
    schedulers = await Promise.all([startProcess('scheduler', { ...env, ...cronEnv }), startProcess('scheduler', { ...env, ...cronEnv })]);
    url = `http://127.0.0.1:${api.port}`;
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    redis = new Redis(env.REDIS_URL);
  });

  afterAll(async () => {
    await Promise.all([api, ...(workers ?? []), ...(schedulers ?? [])].filter(Boolean).map((p) => p.stop()));
    await ds?.destroy();
    redis?.disconnect();
  });

  const anon = () => bazaarClient(url, { batch: false });
  async function account(role: 'CUSTOMER' | 'SELLER', requestId?: string) {
    const email = uniqueEmail(role.toLowerCase());
    const user = await anon().auth.signup.mutate({ email, password: PASSWORD, name: role, role });
    const { token } = await anon().auth.login.mutate({ email, password: PASSWORD });
    return { user, token, client: bazaarClient(url, { token, batch: false, requestId }) };
  }

  it('sells exactly the stock to 200 concurrent orders from 20 customers, and every wallet matches', async () => {
    const seller = await account('SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Flash store' });
    const product = await seller.client.products.create.mutate({ storeId: store.id, name: 'Hot item', description: '', price: 1_000, stock: 50 });

    const customers = await Promise.all(Array.from({ length: 20 }, () => account('CUSTOMER')));
    await Promise.all(customers.map((c, i) => c.client.wallet.charge.mutate({ amount: 20_000 + i, idempotencyKey: `topup-${i}-aaaa` })));

    const attempts = await Promise.all(
      customers.flatMap((c, ci) =>
        Array.from({ length: 10 }, (_, k) =>
          c.client.orders.place
            .mutate({
              idempotencyKey: `flash-${ci}-${k}-key`,
              items: [{ productId: product.id, quantity: 1 }],
              paymentMethod: 'BALANCE',
              fulfillment: DELIVERY,
            })
            .then(
              (r) => ({ customer: c, orderId: r.orderId, status: r.status, refused: null as string | null }),
              (e: unknown) => ({
                customer: c,
                orderId: '',
                status: 'REFUSED',
                refused: (e as { data?: { code?: string; reason?: string } }).data?.reason ?? String(e),
              }),
            ),
        ),
      ),
    );
    // The sold-out gate refuses at the door what cannot be sold; the rest is accepted and settled.
    const refused = attempts.filter((a) => a.refused !== null);
    expect(refused.every((a) => a.refused === 'OUT_OF_STOCK')).toBe(true);
    const placed = attempts.filter((a) => a.refused === null);
    expect(new Set(placed.map((p) => p.orderId)).size).toBe(placed.length);
    expect(placed.every((p) => p.status === 'PENDING')).toBe(true);

    const settled = await Promise.all(
      placed.map((p) =>
        eventually(
          () => p.customer.client.orders.get.query({ orderId: p.orderId }),
          (o) => o.status !== 'PENDING',
          60_000,
          200,
        ),
      ),
    );
    const paid = settled.filter((o) => o.status === 'PAID');
    const failed = settled.filter((o) => o.status === 'FAILED');
    expect(paid).toHaveLength(50);
    expect(failed.length + refused.length).toBe(150);
    expect(failed.every((o) => o.failureReason === 'OUT_OF_STOCK')).toBe(true);
    expect((await anon().products.get.query({ productId: product.id })).stock).toBe(0);

    for (const [i, c] of customers.entries()) {
      const mine = placed.filter((p) => p.customer === c).map((p) => settled[placed.indexOf(p)]!);
      const spent = mine.filter((o) => o.status === 'PAID').reduce((s, o) => s + o.cashPaid, 0);
      const { balance } = await c.client.wallet.balance.query();
      expect(balance).toBe(20_000 + i - spent);
    }
    // The ledger explains every balance: sum of entries = cached balance, for every account.
    const mismatched = await selectRows<unknown>(
      ds,
      `SELECT a.user_id FROM wallet_accounts a JOIN (SELECT user_id, SUM(amount) s FROM wallet_entries GROUP BY user_id) e ON e.user_id = a.user_id
       WHERE a.balance <> e.s`,
    );
    expect(mismatched).toEqual([]);
    const [row] = await selectRows<{ n: number }>(
      ds,
      `SELECT COUNT(*) n FROM wallet_entries WHERE kind = 'ORDER_PAYMENT' AND ref IN (${paid.map(() => '?').join(',')})`,
      paid.map((o) => o.id),
    );
    expect(Number(row?.n)).toBe(50);
  });

  it('turns 50 concurrent places with one key into one order, and refuses the key with other parameters', async () => {
    const seller = await account('SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Idem store' });
    const product = await seller.client.products.create.mutate({ storeId: store.id, name: 'Idem item', description: '', price: 700, stock: 100 });
    const buyer = await account('CUSTOMER');
    await buyer.client.wallet.charge.mutate({ amount: 10_000, idempotencyKey: 'idem-topup-1' });
    const input = { idempotencyKey: 'same-key-50x', items: [{ productId: product.id, quantity: 2 }], paymentMethod: 'BALANCE' as const, fulfillment: DELIVERY };

    const answers = await Promise.all(Array.from({ length: 50 }, () => buyer.client.orders.place.mutate(input)));
    expect(new Set(answers.map((a) => a.orderId)).size).toBe(1);
    expect(answers.every((a) => a.status === 'PENDING')).toBe(true);
    const orderId = answers[0]!.orderId;

    const order = await eventually(
      () => buyer.client.orders.get.query({ orderId }),
      (o) => o.status !== 'PENDING',
    );
    expect(order.status).toBe('PAID');
    expect((await buyer.client.wallet.balance.query()).balance).toBe(10_000 - 1_400);
    expect((await buyer.client.orders.list.query({})).items.map((o) => o.id)).toEqual([orderId]);
    expect((await anon().products.get.query({ productId: product.id })).stock).toBe(98);

    await expect(buyer.client.orders.place.mutate({ ...input, items: [{ productId: product.id, quantity: 3 }] })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
    });

    // Another customer cannot see it.
    const other = await account('CUSTOMER');
    const err = await other.client.orders.get.query({ orderId }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect(['FORBIDDEN', 'NOT_FOUND']).toContain((err as { data?: { code?: string } }).data?.code);
  });

  it('fails an order the wallet cannot pay with INSUFFICIENT_BALANCE and changes nothing else', async () => {
    const seller = await account('SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Pricey store' });
    const product = await seller.client.products.create.mutate({ storeId: store.id, name: 'Pricey', description: '', price: 9_000, stock: 5 });
    const buyer = await account('CUSTOMER');
    await buyer.client.wallet.charge.mutate({ amount: 10_000, idempotencyKey: 'poor-topup-1' });
    const { orderId } = await buyer.client.orders.place.mutate({
      idempotencyKey: 'too-expensive',
      items: [{ productId: product.id, quantity: 2 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    const order = await eventually(
      () => buyer.client.orders.get.query({ orderId }),
      (o) => o.status !== 'PENDING',
    );
    expect(order).toMatchObject({ status: 'FAILED', failureReason: 'INSUFFICIENT_BALANCE' });
    expect((await buyer.client.wallet.balance.query()).balance).toBe(10_000);
    expect((await anon().products.get.query({ productId: product.id })).stock).toBe(5);
  });

  it('follows one request id from the API into the worker logs', async () => {
    const seller = await account('SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Trace store' });
    const product = await seller.client.products.create.mutate({ storeId: store.id, name: 'Traced', description: '', price: 100, stock: 5 });
    const requestId = `trace-${Date.now()}`;
    const buyer = await account('CUSTOMER', requestId);
    await buyer.client.wallet.charge.mutate({ amount: 1_000, idempotencyKey: 'trace-topup' });
    const { orderId } = await buyer.client.orders.place.mutate({
      idempotencyKey: 'trace-order',
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    await eventually(
      () => buyer.client.orders.get.query({ orderId }),
      (o) => o.status === 'PAID',
    );
    const lines = (p: RunningProcess) => p.logs.filter((l) => l.includes(orderId)).map((l) => JSON.parse(l) as { reqId?: string; msg: string });
    expect(lines(api).some((l) => l.reqId === requestId && l.msg === 'order accepted')).toBe(true);
    await eventually(
      async () => workers.flatMap(lines),
      (ls) => ls.some((l) => l.reqId === requestId && l.msg === 'order settled'),
      5_000,
    );
  });

  it('has the reconciler enqueue an order that was accepted but never queued (a crash between accept and enqueue)', async () => {
    const seller = await account('SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Crash store' });
    const product = await seller.client.products.create.mutate({ storeId: store.id, name: 'Survivor', description: '', price: 2_500, stock: 3 });
    const buyer = await account('CUSTOMER');
    await buyer.client.wallet.charge.mutate({ amount: 5_000, idempotencyKey: 'crash-topup' });

    // What an API process leaves behind when it dies right after the accept script, before queue.add.
    const store_ = new AcceptedOrderStore(redis, redisKeys(env.REDIS_PREFIX));
    const orderId = newId();
    await store_.accept(
      {
        orderId,
        userId: buyer.user.id,
        requestId: 'crash-req',
        idempotencyKey: 'crash-order',
        acceptedAt: new Date().toISOString(),
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
        lines: [{ productId: product.id, storeId: store.id, name: product.name, unitPrice: 2_500, quantity: 1 }],
      },
      'hash-of-params',
      86400,
    );
    expect((await buyer.client.orders.get.query({ orderId })).status).toBe('PENDING');
    const order = await eventually(
      () => buyer.client.orders.get.query({ orderId }),
      (o) => o.status !== 'PENDING',
      20_000,
      250,
    );
    expect(order.status).toBe('PAID');
    expect((await buyer.client.wallet.balance.query()).balance).toBe(2_500);
  });

  it('runs each scheduler tick once across two scheduler processes', async () => {
    const runs = async () => {
      let ok = 0;
      for (const s of schedulers) {
        const text = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
        const m = /bazaar_scheduler_runs_total\{[^}]*task="reconcile-orders"[^}]*outcome="ok"[^}]*\} (\d+)/.exec(text);
        ok += m ? Number(m[1]) : 0;
      }
      return ok;
    };
    const before = await runs();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 5_000));
    const ran = (await runs()) - before;
    const seconds = (Date.now() - t0) / 1000;
    // One run per one-second tick in total, not one per process.
    expect(ran).toBeGreaterThanOrEqual(Math.floor(seconds) - 2);
    expect(ran).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  });

  it("streams an order's status changes over orders.onStatus (SSE)", async () => {
    const seller = await account('SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Live store' });
    const product = await seller.client.products.create.mutate({ storeId: store.id, name: 'Live', description: '', price: 800, stock: 3 });
    const buyer = await account('CUSTOMER');
    await buyer.client.wallet.charge.mutate({ amount: 5_000, idempotencyKey: 'live-topup-1' });
    const { orderId } = await buyer.client.orders.place.mutate({
      idempotencyKey: 'live-order-1',
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });

    const seen: string[] = [];
    let paid!: () => void;
    let cancelled!: () => void;
    const paidSeen = new Promise<void>((r) => (paid = r));
    const cancelledSeen = new Promise<void>((r) => (cancelled = r));
    const sub = buyer.client.orders.onStatus.subscribe(
      { orderId },
      {
        onData: ({ data }) => {
          seen.push(data.status);
          if (data.status === 'PAID') paid();
          if (data.status === 'CANCELLED') cancelled();
        },
      },
    );
    try {
      await paidSeen;
      await buyer.client.orders.cancel.mutate({ orderId });
      await cancelledSeen;
    } finally {
      sub.unsubscribe();
    }
    // The current status first (PENDING, or PAID if the worker was quicker), then each change once.
    expect(['PENDING,PAID,CANCELLED', 'PAID,CANCELLED']).toContain(seen.join(','));

    // Another customer cannot watch it.
    const other = await account('CUSTOMER');
    const refused = await new Promise<string | undefined>((resolve) => {
      const s2 = other.client.orders.onStatus.subscribe(
        { orderId },
        {
          onError: (e) => {
            s2.unsubscribe();
            resolve((e as { data?: { code?: string } }).data?.code);
          },
          onData: () => resolve('DATA'),
        },
      );
    });
    expect(refused).toBe('NOT_FOUND');

    // Bad input and no token are refused with their codes.
    const codeOf = (client: typeof other.client, input: { orderId: string }) =>
      new Promise<string | undefined>((resolve) => {
        const s3 = client.orders.onStatus.subscribe(input, {
          onError: (e) => {
            s3.unsubscribe();
            resolve((e as { data?: { code?: string } }).data?.code);
          },
          onData: () => resolve('DATA'),
        });
      });
    expect(await codeOf(other.client, { orderId: 'not-an-order-id' })).toBe('BAD_REQUEST');
    expect(await codeOf(bazaarClient(url, { batch: false }), { orderId })).toBe('UNAUTHORIZED');
  });

  it("serves health and the contract metrics from every process (the api's on its own metrics port)", async () => {
    const metrics = (p: RunningProcess) => fetch(`http://127.0.0.1:${p.metricsPort}/metrics`).then((r) => r.text());
    for (const p of [api, ...workers, ...schedulers]) {
      expect((await fetch(`http://127.0.0.1:${p.port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${p.port}/readyz`)).status).toBe(200);
    }
    // The api's metrics are off its public port: there /metrics is not found; the metrics port answers it and health.
    expect((await fetch(`http://127.0.0.1:${api.port}/metrics`)).status).toBe(404);
    expect(api.metricsPort).not.toBe(api.port);
    expect((await fetch(`http://127.0.0.1:${api.metricsPort}/readyz`)).status).toBe(200);
    const apiText = await metrics(api);
    expect(apiText).toMatch(/bazaar_orders_total\{[^}]*outcome="accepted"/);
    expect(apiText).toMatch(/bazaar_orders_total\{[^}]*outcome="rejected"[^}]*reason="OUT_OF_STOCK"/);
    expect(apiText).toMatch(/bazaar_http_request_duration_seconds_bucket\{[^}]*procedure="orders.place"[^}]*code="OK"/);
    expect(apiText).toMatch(/bazaar_http_request_duration_seconds_bucket\{[^}]*procedure="orders.place"[^}]*code="CONFLICT"/);
    const workerText = (await Promise.all(workers.map(metrics))).join('\n');
    expect(workerText).toMatch(/bazaar_orders_total\{[^}]*outcome="paid"/);
    expect(workerText).toMatch(/bazaar_job_duration_seconds_bucket\{[^}]*queue="orders"/);
    expect(workerText).toMatch(/bazaar_queue_jobs\{[^}]*queue="orders"[^}]*state="waiting"/);
    expect(await metrics(schedulers[0]!)).toMatch(/bazaar_scheduler_runs_total/);
  });

  it('stops every process gracefully on SIGTERM (exit code 0)', async () => {
    const codes = await Promise.all([api, ...workers, ...schedulers].map((p) => p.stop()));
    expect(codes).toEqual([0, 0, 0, 0, 0]);
  });
});
