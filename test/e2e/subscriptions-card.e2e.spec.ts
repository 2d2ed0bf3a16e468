import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { startFakeGateway, type FakeGateway, type Ledger } from '@bazaar/fake-gateway';
import { BillingKeysRepository, SubscriptionsRepository, createDataSource, selectRows } from '@bazaar/db';
import { cycleDueAt } from '@bazaar/domain';
import { createLogger, loadConfig } from '@bazaar/platform';
import { startWorkerApp, type WorkerApp } from '@bazaar/worker';
import { PlaceSubscriptionsJob, ReconcileBillingKeysJob } from '@bazaar/scheduler';
import { PaymentGatewayClient } from '@bazaar/worker/gateway';
import { DELIVERY, eventually, newAccount, newProduct, startTestApi, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { expectBadField, expectCode } from '../support/trpc-expect';

/**
 * CARD subscriptions end to end: the real api (in process) registers a card at the fake gateway (a real HTTP
 * server, Toss's billing API shape), a real worker charges each cycle's order to the billing key, and the
 * scheduler's job, with a clock the test moves, places the cycles through the api's own accept path. The
 * gateway's books are checked against ours to the won.
 */
describe('CARD subscriptions end to end (billing keys)', () => {
  jest.setTimeout(60_000);
  const SECRET = 'test_sk_subscriptions_card';
  let gw: FakeGateway;
  let api: TestApi;
  let worker: WorkerApp;
  let ds: DataSource;
  let now = new Date();
  const log = createLogger('scheduler', 'silent');
  let job: PlaceSubscriptionsJob;
  const DUNNING = [60, 3600, 86400];

  beforeAll(async () => {
    const env = await isolatedEnv('subscard');
    gw = await startFakeGateway({ port: 0, secretKey: SECRET });
    const payment = { PAYMENT_GATEWAY_URL: gw.url, PAYMENT_SECRET_KEY: SECRET, PAYMENT_TIMEOUT_MS: '500', PAYMENT_RETRIES: '2' };
    api = await startTestApi({ ...env, ...payment });
    const config = loadConfig({ ...env, ...payment, NODE_ENV: 'test', LOG_LEVEL: 'silent', WORKER_CONCURRENCY: '4' });
    worker = await startWorkerApp(config, { health: false });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    job = new PlaceSubscriptionsJob(
      new SubscriptionsRepository(ds),
      (userId, input, requestId, l, server) => api.deps.acceptance.place(userId, input, requestId, l, server),
      api.deps.metrics.subscriptionCycles,
      DUNNING,
      () => Promise.resolve(now),
    );
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await ds?.destroy();
    await gw?.close();
  });

  type Client = Awaited<ReturnType<typeof newAccount>>['client'];
  const ledger = async (): Promise<Ledger> => (await fetch(`${gw.url}/__test/ledger`)).json() as Promise<Ledger>;
  const setFault = async (billingKey: string, behavior: string, extra: Record<string, number> = {}) => {
    const res = await fetch(`${gw.url}/__test/billing-faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ billingKey, behavior, ...extra }),
    });
    expect(res.status).toBe(200);
  };
  const authKey = () => `test_auth_${randomUUID()}`;

  interface OrderRow {
    id: string;
    idempotency_key: string;
    status: string;
    failure_reason: string | null;
    payment_method: string;
    cash_paid: number;
    payment_key: string | null;
  }
  const ordersOf = (subscriptionId: number) =>
    selectRows<OrderRow>(
      ds,
      `SELECT o.id, o.idempotency_key, o.status, o.failure_reason, o.payment_method, o.cash_paid, p.payment_key
       FROM orders o LEFT JOIN payments p ON p.order_id = o.id WHERE o.idempotency_key LIKE ? ORDER BY o.accepted_at`,
      [`sub-${subscriptionId}-%`],
    );

  /** Ticks until the subscription has no order waiting for its outcome. */
  async function settle(client: Client, subscriptionId: number) {
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

  async function cardSubscription(client: Client, productId: number, quantity: number, billingKey: string) {
    const startAt = new Date(Date.now() + 60_000);
    const every = { count: 1, unit: 'WEEK' as const };
    const { subscriptionId } = await client.subscriptions.create.mutate({
      items: [{ productId, quantity }],
      paymentMethod: 'CARD',
      billingKey,
      fulfillment: DELIVERY,
      every,
      startAt: startAt.toISOString(),
    });
    return { subscriptionId, startAt, every };
  }

  it('registerCard → a CARD subscription: cycle 1 charged the exact amount; cycle 2 declined, the dunning retry charged; one PAID order per cycle, the gateway’s books = ours', async () => {
    const { product } = await newProduct(api, { stock: 100, price: 3_250 });
    const customer = await newAccount(api, 'CUSTOMER');
    const registered = await customer.client.subscriptions.registerCard.mutate({ authKey: authKey() });
    expect(registered).toEqual({
      billingKey: expect.stringMatching(/^bk_/) as string,
      card: {
        issuerCode: expect.any(String) as string,
        acquirerCode: expect.any(String) as string,
        number: expect.stringMatching(/\*/) as string,
        cardType: '신용',
        ownerType: '개인',
      },
    });
    // The customerKey the gateway holds is the server's: opaque (24 random characters), not the user id, one per customer.
    const issued = (await ledger()).billingKeys.find((k) => k.billingKey === registered.billingKey)!;
    expect(issued.customerKey).toMatch(/^ck_[A-Za-z0-9_-]{24}$/);
    expect(issued.customerKey).not.toBe(String(customer.user.id));
    const stored = await selectRows<{ customer_key: string }>(ds, 'SELECT customer_key FROM billing_customers WHERE user_id = ?', [customer.user.id]);
    expect(stored).toEqual([{ customer_key: issued.customerKey }]);
    // A second card of the same customer is bound to the same customerKey.
    const second = await customer.client.subscriptions.registerCard.mutate({ authKey: authKey() });
    expect((await ledger()).billingKeys.find((k) => k.billingKey === second.billingKey)?.customerKey).toBe(issued.customerKey);

    const { subscriptionId, startAt, every } = await cardSubscription(customer.client, product.id, 2, registered.billingKey);
    const created = await customer.client.subscriptions.get.query({ subscriptionId });
    expect(created).toMatchObject({ status: 'ACTIVE', paymentMethod: 'CARD', billingKey: registered.billingKey });

    // Cycle 0: charged 6,500 once.
    now = startAt;
    await job.run(log);
    let view = await settle(customer.client, subscriptionId);
    expect(view.cycles.map((c) => [c.cycle, c.attempt, c.outcome])).toEqual([[0, 0, 'PAID']]);

    // Cycle 1: the card declines the first charge; the dunning schedule retries it 60 s later, and it is charged.
    await setFault(registered.billingKey, 'decline', { times: 1 });
    now = cycleDueAt(startAt, every, 1);
    await job.run(log);
    view = await settle(customer.client, subscriptionId);
    expect(view.cycles.at(-1)).toMatchObject({ cycle: 1, attempt: 0, outcome: 'FAILED', reason: 'PAYMENT_DECLINED' });
    expect(view).toMatchObject({ status: 'ACTIVE', nextCycle: 1, attempt: 1 });
    expect(Date.parse(view.nextDueAt!)).toBe(now.getTime() + DUNNING[0]! * 1000);
    now = new Date(now.getTime() + DUNNING[0]! * 1000 - 1);
    await job.run(log); // not yet
    expect(await ordersOf(subscriptionId)).toHaveLength(2);
    now = new Date(now.getTime() + 1);
    await job.run(log);
    view = await settle(customer.client, subscriptionId);
    expect(view.cycles.map((c) => [c.cycle, c.attempt, c.outcome, c.reason])).toEqual([
      [0, 0, 'PAID', null],
      [1, 0, 'FAILED', 'PAYMENT_DECLINED'],
      [1, 1, 'PAID', null],
    ]);
    expect(view).toMatchObject({ status: 'ACTIVE', nextCycle: 2, attempt: 0 });

    const orders = await ordersOf(subscriptionId);
    expect(orders.map((o) => [o.idempotency_key, o.status, o.failure_reason, o.payment_method, Number(o.cash_paid)])).toEqual([
      [`sub-${subscriptionId}-c0`, 'PAID', null, 'CARD', 6_500],
      [`sub-${subscriptionId}-c1`, 'FAILED', 'PAYMENT_DECLINED', 'CARD', 6_500],
      [`sub-${subscriptionId}-c1-r1`, 'PAID', null, 'CARD', 6_500],
    ]);
    // The gateway's books: one charge per PAID order, of its exact amount, under the registered key; none for the declined one.
    const l = await ledger();
    const charges = l.charges.filter((c) => orders.some((o) => o.id === c.orderId));
    const paid = orders.filter((o) => o.status === 'PAID');
    expect(charges.map((c) => [c.orderId, c.amount, c.billingKey]).sort()).toEqual(paid.map((o) => [o.id, Number(o.cash_paid), registered.billingKey]).sort());
    expect(charges.reduce((s, c) => s + c.amount, 0)).toBe(paid.reduce((s, o) => s + Number(o.cash_paid), 0));
    // Each PAID order's payment row holds the gateway's paymentKey: refunds and cancels use it.
    for (const o of paid) expect(o.payment_key).toBe(charges.find((c) => c.orderId === o.id)?.paymentKey);
    expect(l.billingAttempts.filter((a) => a.orderId === orders[1]!.id).map((a) => a.code)).toEqual(['REJECT_CARD_PAYMENT']);

    // A cycle's order is an order like any other: the customer cancels it and the charge is cancelled at the gateway.
    expect(await customer.client.orders.cancel.mutate({ orderId: paid[0]!.id })).toMatchObject({ status: 'CANCELLED', cancellation: 'COMPLETED' });
    const cancelled = (await ledger()).payments.find((p) => p.orderId === paid[0]!.id);
    expect(cancelled).toMatchObject({ type: 'BILLING', status: 'CANCELED', balanceAmount: 0 });
  });

  it('a charge whose answer is lost is sent again under the same key: the cycle is PAID and charged once', async () => {
    const { product } = await newProduct(api, { stock: 10, price: 4_000 });
    const customer = await newAccount(api, 'CUSTOMER');
    const { billingKey } = await customer.client.subscriptions.registerCard.mutate({ authKey: authKey() });
    const { subscriptionId, startAt } = await cardSubscription(customer.client, product.id, 1, billingKey);
    await setFault(billingKey, 'lost');
    now = startAt;
    await job.run(log);
    const view = await settle(customer.client, subscriptionId);
    expect(view.cycles.map((c) => [c.cycle, c.outcome])).toEqual([[0, 'PAID']]);
    const [order] = await ordersOf(subscriptionId);
    const l = await ledger();
    expect(l.charges.filter((c) => c.orderId === order!.id).map((c) => c.amount)).toEqual([4_000]);
    expect(l.billingAttempts.filter((a) => a.orderId === order!.id).map((a) => [a.status, a.replayed])).toEqual([
      [null, false],
      [200, true],
    ]);
  });

  it('refuses another customer’s billing key, an unknown one, a bad authKey and a seller, changing nothing; orders.place cannot take a billing key', async () => {
    const { product, seller } = await newProduct(api, { stock: 10, price: 1_000 });
    const owner = await newAccount(api, 'CUSTOMER');
    const other = await newAccount(api, 'CUSTOMER');
    const { billingKey } = await owner.client.subscriptions.registerCard.mutate({ authKey: authKey() });
    const { billingKey: othersKey } = await other.client.subscriptions.registerCard.mutate({ authKey: authKey() });
    const customerKeyOf = async (key: string) => (await ledger()).billingKeys.find((k) => k.billingKey === key)?.customerKey;
    expect(await customerKeyOf(othersKey)).not.toBe(await customerKeyOf(billingKey));
    const good = {
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'CARD' as const,
      billingKey,
      fulfillment: DELIVERY,
      every: { count: 1, unit: 'WEEK' as const },
      startAt: new Date(Date.now() + 60_000).toISOString(),
    };
    const rows = async (userId: number) =>
      Number((await selectRows<{ n: number }>(ds, 'SELECT COUNT(*) AS n FROM subscriptions WHERE user_id = ?', [userId]))[0]!.n);
    await expectBadField(other.client.subscriptions.create.mutate(good), 'billingKey');
    await expectBadField(other.client.subscriptions.create.mutate({ ...good, billingKey: 'bk_not_a_key_anyone_has' }), 'billingKey');
    await expectBadField(owner.client.subscriptions.create.mutate({ ...good, billingKey: 'bk_not_a_key_anyone_has' }), 'billingKey');
    expect(await rows(other.user.id)).toBe(0);
    expect(await rows(owner.user.id)).toBe(0);

    const keysBefore = (await ledger()).billingKeys.length;
    // Not even a key of their own makes another's usable: the key must be the caller's.
    await expectBadField(owner.client.subscriptions.create.mutate({ ...good, billingKey: othersKey }), 'billingKey');
    await expectBadField(owner.client.subscriptions.registerCard.mutate({ authKey: 'live_auth_key_from_elsewhere' }), 'authKey');
    for (const bad of ['', 'test_auth_a b', 'test_auth_카드', 'a'.repeat(301)])
      await expectBadField(owner.client.subscriptions.registerCard.mutate({ authKey: bad }), 'authKey');
    // The customerKey is the server's: a client cannot bring its own.
    await expectBadField(owner.client.subscriptions.registerCard.mutate({ authKey: authKey(), customerKey: 'ck_mine' } as never), 'customerKey');
    await expectCode(seller.client.subscriptions.registerCard.mutate({ authKey: authKey() }), 'FORBIDDEN');
    await expectCode(api.client().subscriptions.registerCard.mutate({ authKey: authKey() }), 'UNAUTHORIZED');
    expect((await ledger()).billingKeys).toHaveLength(keysBefore);
    // The same authKey twice (a retry): the same key, recorded once.
    const again = authKey();
    const first = await owner.client.subscriptions.registerCard.mutate({ authKey: again });
    expect(await owner.client.subscriptions.registerCard.mutate({ authKey: again })).toEqual(first);
    expect(Number((await selectRows<{ n: number }>(ds, 'SELECT COUNT(*) AS n FROM billing_keys WHERE billing_key = ?', [first.billingKey]))[0]!.n)).toBe(1);

    // A one-off order has no billing key field: it is server-side only.
    await expectBadField(
      owner.client.orders.place.mutate({
        idempotencyKey: `card-bk-${randomUUID().slice(0, 8)}`,
        items: [{ productId: product.id, quantity: 1 }],
        paymentMethod: 'CARD',
        paymentKey: 'tgen_x',
        billingKey,
        fulfillment: DELIVERY,
      } as never),
      'billingKey',
    );
    // The owner's own key works.
    expect((await owner.client.subscriptions.create.mutate(good)).subscriptionId).toEqual(expect.any(Number));
  });

  it('cancelling the last subscription on a key deletes it at the gateway; until then the key stays', async () => {
    const { product } = await newProduct(api, { stock: 10, price: 1_000 });
    const customer = await newAccount(api, 'CUSTOMER');
    const { billingKey } = await customer.client.subscriptions.registerCard.mutate({ authKey: authKey() });
    const a = await cardSubscription(customer.client, product.id, 1, billingKey);
    const b = await cardSubscription(customer.client, product.id, 1, billingKey);
    const deletedAt = async () => (await ledger()).billingKeys.find((k) => k.billingKey === billingKey)?.deletedAt;

    expect((await customer.client.subscriptions.cancel.mutate({ subscriptionId: a.subscriptionId })).status).toBe('CANCELLED');
    expect(await deletedAt()).toBeNull();
    // Paused is not cancelled: it may resume, so it keeps the key.
    await customer.client.subscriptions.pause.mutate({ subscriptionId: b.subscriptionId });
    expect(await deletedAt()).toBeNull();
    expect((await customer.client.subscriptions.cancel.mutate({ subscriptionId: b.subscriptionId })).status).toBe('CANCELLED');
    expect(await deletedAt()).toEqual(expect.any(String));
    const [row] = await selectRows<{ status: string; gateway_deleted_at: Date | null }>(
      ds,
      'SELECT status, gateway_deleted_at FROM billing_keys WHERE billing_key = ?',
      [billingKey],
    );
    expect(row).toMatchObject({ status: 'DELETED', gateway_deleted_at: expect.any(Date) as Date });
    // Cancelling again changes nothing; the key can no longer start a subscription.
    expect((await customer.client.subscriptions.cancel.mutate({ subscriptionId: b.subscriptionId })).status).toBe('CANCELLED');
    await expectBadField(cardSubscription(customer.client, product.id, 1, billingKey), 'billingKey');
  });

  it('a delete the gateway failed at cancel is done by the scheduler later, once', async () => {
    const { product } = await newProduct(api, { stock: 10, price: 1_000 });
    const customer = await newAccount(api, 'CUSTOMER');
    const { billingKey } = await customer.client.subscriptions.registerCard.mutate({ authKey: authKey() });
    const sub = await cardSubscription(customer.client, product.id, 1, billingKey);
    const deletedAt = async () => (await ledger()).billingKeys.find((k) => k.billingKey === billingKey)?.deletedAt;
    const row = async () =>
      (
        await selectRows<{ status: string; gateway_deleted_at: Date | null }>(ds, 'SELECT status, gateway_deleted_at FROM billing_keys WHERE billing_key = ?', [
          billingKey,
        ])
      )[0];
    // The gateway fails every try of the delete (the client's first try and its 2 retries).
    await setFault(billingKey, 'fail5xx', { times: 3 });
    expect((await customer.client.subscriptions.cancel.mutate({ subscriptionId: sub.subscriptionId })).status).toBe('CANCELLED');
    expect(await deletedAt()).toBeNull();
    expect(await row()).toEqual({ status: 'DELETED', gateway_deleted_at: null });
    // The scheduler's sweep deletes it at the gateway and records that; a second sweep has nothing to do.
    const gateway = new PaymentGatewayClient({ baseUrl: gw.url, secretKey: SECRET, timeoutMs: 500, retries: 0 });
    const sweep = new ReconcileBillingKeysJob(new BillingKeysRepository(ds), gateway, api.deps.metrics, 0, () => new Date(Date.now() + 1000));
    const first = await sweep.run(log);
    expect(first.deleted).toBeGreaterThanOrEqual(1);
    expect(await deletedAt()).toEqual(expect.any(String));
    expect((await row())?.gateway_deleted_at).toEqual(expect.any(Date));
    const again = await sweep.run(log);
    expect(again.examined).toBe(0);
    gateway.shutdown();
  });
});
