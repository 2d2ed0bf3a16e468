import { SubscriptionsRepository, createDataSource, selectRows } from '@bazaar/db';
import { cycleDueAt, isOpenAt, localTime, type WeeklyHours } from '@bazaar/domain';
import { createLogger, loadConfig } from '@bazaar/platform';
import type { DataSource } from 'typeorm';
import { startWorkerApp, type WorkerApp } from '@bazaar/worker';
import { PlaceSubscriptionsJob } from '@bazaar/scheduler';
import { DELIVERY, eventually, newAccount, newProduct, startTestApi, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { expectBadField, expectCode } from '../support/trpc-expect';

/**
 * Subscription cycles end to end: the real api (in process), a real worker, and the scheduler's job with a
 * clock the test moves, placing through the api's own accept path (the same object orders.place uses).
 */
describe('subscriptions end to end', () => {
  jest.setTimeout(120_000);
  let api: TestApi;
  let worker: WorkerApp;
  let ds: DataSource;
  let now = new Date();
  const log = createLogger('scheduler', 'silent');
  let job: PlaceSubscriptionsJob;

  beforeAll(async () => {
    const env = await isolatedEnv('subs');
    api = await startTestApi({ ...env });
    const config = loadConfig({ ...env, NODE_ENV: 'test', LOG_LEVEL: 'silent', WORKER_CONCURRENCY: '4' });
    worker = await startWorkerApp(config, { health: false });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    job = new PlaceSubscriptionsJob(
      new SubscriptionsRepository(ds),
      (userId, input, requestId, l, server) => api.deps.acceptance.place(userId, input, requestId, l, server),
      api.deps.metrics.subscriptionCycles,
      [60, 3600, 86400],
      () => Promise.resolve(now),
    );
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await ds?.destroy();
  });

  const ordersOf = (subscriptionId: number) =>
    selectRows<{ id: string; idempotency_key: string; status: string }>(
      ds,
      'SELECT id, idempotency_key, status FROM orders WHERE idempotency_key LIKE ? ORDER BY accepted_at',
      [`sub-${subscriptionId}-%`],
    );

  async function customerWithWallet(amount: number) {
    const c = await newAccount(api, 'CUSTOMER');
    await c.client.wallet.charge.mutate({ amount, idempotencyKey: `sub-topup-${c.user.id}-${Date.now()}` });
    return c;
  }

  /** Ticks until the subscription has no order waiting for its outcome. */
  async function settle(client: Awaited<ReturnType<typeof customerWithWallet>>['client'], subscriptionId: number) {
    return eventually(
      async () => {
        await job.run(log);
        return client.subscriptions.get.query({ subscriptionId });
      },
      (s) => s.cycles.every((c) => c.outcome !== 'PLACED'),
      20_000,
      50,
    );
  }

  it('places 12 weekly cycles once each, even when the job fires twice at once, never before the due time', async () => {
    const { product } = await newProduct(api, { stock: 100, price: 1_000 });
    const customer = await customerWithWallet(100_000);
    const startAt = new Date(Date.now() + 60_000);
    const every = { count: 1, unit: 'WEEK' as const };
    const { subscriptionId } = await customer.client.subscriptions.create.mutate({
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
      every,
      startAt: startAt.toISOString(),
    });
    now = new Date(startAt.getTime() - 1);
    await job.run(log);
    expect(await ordersOf(subscriptionId)).toHaveLength(0); // not before its due time
    for (let n = 0; n < 12; n++) {
      now = cycleDueAt(startAt, every, n);
      await Promise.all([job.run(log), job.run(log)]); // a double fire
      await settle(customer.client, subscriptionId);
    }
    const orders = await ordersOf(subscriptionId);
    expect(orders).toHaveLength(12);
    expect(new Set(orders.map((o) => o.idempotency_key)).size).toBe(12);
    expect(orders.every((o) => o.status === 'PAID')).toBe(true);
    const view = await customer.client.subscriptions.get.query({ subscriptionId });
    expect(view.cycles.map((c) => [c.cycle, c.outcome])).toEqual(Array.from({ length: 12 }, (_, n) => [n, 'PAID']));
    expect(view.nextCycle).toBe(12);
  });

  it('after an outage places only the latest due cycle and records the missed ones as SKIPPED', async () => {
    const { product } = await newProduct(api, { stock: 100, price: 1_000 });
    const customer = await customerWithWallet(50_000);
    const startAt = new Date(Date.now() + 60_000);
    const every = { count: 1, unit: 'MONTH' as const };
    const { subscriptionId } = await customer.client.subscriptions.create.mutate({
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
      every,
      startAt: startAt.toISOString(),
    });
    now = new Date(cycleDueAt(startAt, every, 3).getTime() + 1000);
    await job.run(log);
    const view = await settle(customer.client, subscriptionId);
    expect(view.cycles.map((c) => [c.cycle, c.outcome])).toEqual([
      [0, 'SKIPPED'],
      [1, 'SKIPPED'],
      [2, 'SKIPPED'],
      [3, 'PAID'],
    ]);
    expect(await ordersOf(subscriptionId)).toHaveLength(1);
  });

  it('OUT_OF_STOCK retries on the dunning schedule, then pauses with the reason; resume goes on from the next due time', async () => {
    const { product, seller } = await newProduct(api, { stock: 1, price: 1_000 });
    const customer = await customerWithWallet(50_000);
    const startAt = new Date(Date.now() + 60_000);
    const every = { count: 1, unit: 'WEEK' as const };
    const { subscriptionId } = await customer.client.subscriptions.create.mutate({
      items: [{ productId: product.id, quantity: 2 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
      every,
      startAt: startAt.toISOString(),
    });
    now = startAt;
    await job.run(log);
    for (const delay of [60, 3600, 86400]) {
      now = new Date(now.getTime() + delay * 1000 - 1);
      await job.run(log); // not yet
      now = new Date(now.getTime() + 1);
      await job.run(log);
    }
    const paused = await customer.client.subscriptions.get.query({ subscriptionId });
    expect(paused.status).toBe('PAUSED');
    expect(paused.pauseReason).toBe('DUNNING_EXHAUSTED');
    expect(paused.pauseDetail).toContain('OUT_OF_STOCK');
    expect(paused.cycles.map((c) => [c.cycle, c.attempt, c.outcome, c.reason])).toEqual([0, 1, 2, 3].map((a) => [0, a, 'REFUSED', 'OUT_OF_STOCK']));
    expect(await ordersOf(subscriptionId)).toHaveLength(0);

    // Restocked and resumed: the next cycle is the first due after now, with a fresh attempt counter.
    await seller.client.products.restock.mutate({ productId: product.id, quantity: 10 });
    const realNow = Date.now();
    const resumed = await customer.client.subscriptions.resume.mutate({ subscriptionId });
    expect(resumed.status).toBe('ACTIVE');
    expect(resumed.attempt).toBe(0);
    expect(Date.parse(resumed.nextDueAt!)).toBeGreaterThan(realNow);
    now = new Date(resumed.nextDueAt!);
    await job.run(log);
    const after = await settle(customer.client, subscriptionId);
    expect(after.cycles.at(-1)).toMatchObject({ cycle: resumed.nextCycle, outcome: 'PAID', attempt: 0 });
  });

  it('pause stops cycles, cancel stops future ones, and a removed product pauses the subscriptions holding it', async () => {
    const { product, seller } = await newProduct(api, { stock: 100, price: 1_000 });
    const customer = await customerWithWallet(50_000);
    const startAt = new Date(Date.now() + 60_000);
    const create = () =>
      customer.client.subscriptions.create.mutate({
        items: [{ productId: product.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
        every: { count: 2, unit: 'WEEK' },
        startAt: startAt.toISOString(),
      });
    const a = await create();
    const b = await create();
    const c = await create();
    expect((await customer.client.subscriptions.pause.mutate(a)).status).toBe('PAUSED');
    expect((await customer.client.subscriptions.cancel.mutate(b)).status).toBe('CANCELLED');
    now = new Date(startAt.getTime() + 1000);
    await job.run(log);
    await settle(customer.client, c.subscriptionId);
    expect(await ordersOf(a.subscriptionId)).toHaveLength(0);
    expect(await ordersOf(b.subscriptionId)).toHaveLength(0);
    expect(await ordersOf(c.subscriptionId)).toHaveLength(1);
    await customer.client.subscriptions.cancel.mutate(c);
    now = new Date(startAt.getTime() + 15 * 86_400_000);
    await job.run(log);
    expect(await ordersOf(c.subscriptionId)).toHaveLength(1); // the placed cycle stays an order, no more
    expect((await customer.client.subscriptions.get.query(c)).status).toBe('CANCELLED');

    const d = await create();
    await seller.client.products.remove.mutate({ productId: product.id });
    const removed = await customer.client.subscriptions.get.query(d);
    expect(removed).toMatchObject({ status: 'PAUSED', pauseReason: 'PRODUCT_UNAVAILABLE' });

    const page1 = await customer.client.subscriptions.list.query({ limit: 3 });
    expect(page1.items).toHaveLength(3);
    const page2 = await customer.client.subscriptions.list.query({ limit: 3, cursor: page1.nextCursor! });
    expect(page2.items.map((s) => s.subscriptionId)).toEqual([a.subscriptionId]);
    expect(page2.nextCursor).toBeNull();
  });

  it('PICKUP: each cycle is picked up at the first pickup time of its own week, inside the store’s hours; hours that no longer fit pause it', async () => {
    const { product, store, seller } = await newProduct(api, { stock: 100, price: 2_000 });
    const customer = await customerWithWallet(50_000);
    const startAt = new Date(Date.now() + 60_000);
    // The first pickup: 12:00 Seoul time, three days after startAt; the store opens only that weekday, 11:00–13:00.
    const day = localTime(new Date(startAt.getTime() + 3 * 86_400_000), 'Asia/Seoul');
    const [y, m, d] = day.date.split('-').map(Number) as [number, number, number];
    const firstPickup = new Date(Date.UTC(y, m - 1, d, 12 - 9, 0));
    const hours: WeeklyHours = { [day.weekday]: [{ open: '11:00', close: '13:00' }] };
    await seller.client.stores.update.mutate({ storeId: store.id, timeZone: 'Asia/Seoul', openingHours: hours, pickupLeadMinutes: 30 });
    const every = { count: 1, unit: 'WEEK' as const };
    const { subscriptionId } = await customer.client.subscriptions.create.mutate({
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: { type: 'PICKUP', pickupAt: firstPickup.toISOString() },
      every,
      startAt: startAt.toISOString(),
    });
    for (let n = 0; n < 4; n++) {
      now = cycleDueAt(startAt, every, n);
      await job.run(log);
      await settle(customer.client, subscriptionId);
    }
    const view = await customer.client.subscriptions.get.query({ subscriptionId });
    expect(view.cycles.map((c) => [c.cycle, c.outcome])).toEqual([0, 1, 2, 3].map((n) => [n, 'PAID']));
    const orders = await ordersOf(subscriptionId);
    expect(orders).toHaveLength(4);
    for (const [n, o] of orders.entries()) {
      const order = await customer.client.orders.get.query({ orderId: o.id });
      expect(order.status).toBe('PAID');
      if (order.fulfillment.type !== 'PICKUP') throw new Error('expected a pickup order');
      const pickupAt = new Date(order.fulfillment.pickupAt);
      // The same local time, one week apart, and inside the store's hours.
      expect(pickupAt.getTime()).toBe(firstPickup.getTime() + n * 7 * 86_400_000);
      expect(isOpenAt(hours, 'Asia/Seoul', pickupAt)).toBe(true);
      expect(localTime(pickupAt, 'Asia/Seoul')).toMatchObject({ weekday: day.weekday, minutes: 12 * 60 });
    }

    // The store moves its pickup day: the next cycle's pickup no longer fits, and the subscription pauses with the reason.
    const otherDay = day.weekday === 'MON' ? 'TUE' : 'MON';
    await seller.client.stores.update.mutate({ storeId: store.id, openingHours: { [otherDay]: [{ open: '11:00', close: '13:00' }] } });
    now = cycleDueAt(startAt, every, 4);
    await job.run(log);
    const paused = await customer.client.subscriptions.get.query({ subscriptionId });
    expect(paused).toMatchObject({ status: 'PAUSED', pauseReason: 'PICKUP_TIME_REFUSED' });
    expect(paused.pauseDetail).toContain('fulfillment.pickupAt');
    expect(paused.cycles.at(-1)).toMatchObject({ cycle: 4, outcome: 'REFUSED' });
    expect(await ordersOf(subscriptionId)).toHaveLength(4);
  });

  it('a store that closes pauses the subscriptions holding its products (STORE_CLOSED); others go on', async () => {
    const closing = await newProduct(api, { stock: 100, price: 1_000 });
    const staying = await newProduct(api, { stock: 100, price: 1_000 });
    const customer = await customerWithWallet(50_000);
    const startAt = new Date(Date.now() + 60_000);
    const every = { count: 1, unit: 'WEEK' as const };
    const create = (productIds: number[]) =>
      customer.client.subscriptions.create.mutate({
        items: productIds.map((productId) => ({ productId, quantity: 1 })),
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
        every,
        startAt: startAt.toISOString(),
      });
    const only = await create([closing.product.id]);
    const mixed = await create([staying.product.id, closing.product.id]);
    const other = await create([staying.product.id]);
    now = startAt;
    await job.run(log);
    for (const s of [only, mixed, other]) await settle(customer.client, s.subscriptionId);

    await closing.seller.client.stores.close.mutate({ storeId: closing.store.id });
    for (const s of [only, mixed]) {
      const view = await customer.client.subscriptions.get.query(s);
      expect(view).toMatchObject({ status: 'PAUSED', pauseReason: 'STORE_CLOSED' });
      expect(view.pauseDetail).toContain(`store ${closing.store.id}`);
    }
    expect((await customer.client.subscriptions.get.query(other)).status).toBe('ACTIVE');
    now = cycleDueAt(startAt, every, 1);
    await job.run(log);
    await settle(customer.client, other.subscriptionId);
    // The paused ones placed nothing after the close (their cycle 0 was paid before it); the other one placed its next cycle.
    for (const s of [only, mixed]) {
      expect((await ordersOf(s.subscriptionId)).map((o) => [o.idempotency_key, o.status])).toEqual([[`sub-${s.subscriptionId}-c0`, 'PAID']]);
      expect((await customer.client.subscriptions.get.query(s)).cycles.map((c) => [c.cycle, c.outcome])).toEqual([[0, 'PAID']]);
    }
    expect((await customer.client.subscriptions.get.query(other)).cycles.map((c) => [c.cycle, c.outcome])).toEqual([
      [0, 'PAID'],
      [1, 'PAID'],
    ]);
  });

  it('refuses bad input with field paths and writes nothing; another customer gets NOT_FOUND; a seller or anonymous caller is refused', async () => {
    const { product, seller } = await newProduct(api, { stock: 10, price: 1_000 });
    const customer = await customerWithWallet(10_000);
    const other = await newAccount(api, 'CUSTOMER');
    const good = {
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE' as const,
      fulfillment: DELIVERY,
      every: { count: 1, unit: 'WEEK' as const },
      startAt: new Date(Date.now() + 60_000).toISOString(),
    };
    const count = async () => (await selectRows<{ n: number }>(ds, 'SELECT COUNT(*) AS n FROM subscriptions WHERE user_id = ?', [customer.user.id]))[0]!.n;
    await expectBadField(customer.client.subscriptions.create.mutate({ ...good, every: { count: 0, unit: 'WEEK' } }), 'every.count');
    await expectBadField(customer.client.subscriptions.create.mutate({ ...good, every: { count: 1, unit: 'DAY' as 'WEEK' } }), 'every.unit');
    await expectBadField(customer.client.subscriptions.create.mutate({ ...good, items: [{ productId: 999_999_999, quantity: 1 }] }), 'items.0.productId');
    await expectBadField(customer.client.subscriptions.create.mutate({ ...good, paymentMethod: 'CARD' }), 'billingKey');
    await expectBadField(customer.client.subscriptions.create.mutate({ ...good, startAt: 'tomorrow' }), 'startAt');
    await expectBadField(customer.client.subscriptions.list.query({ cursor: 'x' }), 'cursor');
    expect(Number(await count())).toBe(0);

    const { subscriptionId } = await customer.client.subscriptions.create.mutate(good);
    for (const call of [
      other.client.subscriptions.get.query({ subscriptionId }),
      other.client.subscriptions.pause.mutate({ subscriptionId }),
      other.client.subscriptions.resume.mutate({ subscriptionId }),
      other.client.subscriptions.cancel.mutate({ subscriptionId }),
    ]) {
      await expectCode(call, 'NOT_FOUND');
    }
    expect((await other.client.subscriptions.list.query({})).items).toHaveLength(0);
    await expectCode(seller.client.subscriptions.create.mutate(good), 'FORBIDDEN');
    await expectCode(seller.client.subscriptions.list.query({}), 'FORBIDDEN');
    await expectCode(api.client().subscriptions.get.query({ subscriptionId }), 'UNAUTHORIZED');
    expect((await customer.client.subscriptions.get.query({ subscriptionId })).status).toBe('ACTIVE');
  });
});
