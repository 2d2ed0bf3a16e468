import type { TRPCClientError } from '@trpc/client';
import { FailureReason, OrderStatus, type OrderView } from '@bazaar/contracts';
import { PointsRepository, selectRows } from '@bazaar/db';
import { startFakeGateway, type FakeGateway } from '@bazaar/fake-gateway';
import { refusalData } from '../support/trpc-expect';
import { DELIVERY, eventually, startTestApi, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { balanceFromLedger, ledgerProblems, moneyFixtures } from '../support/money-fixtures';
import { startProcess, type RunningProcess } from '../support/processes';
import type { TestEnv } from '../support/test-env';

const DAY = 86_400_000;

/**
 * The money core through the real API and real worker processes: money.md's
 * worked example to the won, coupons reserved and used once, points spent
 * by lot and never twice, and the ledger rebuilt from its rows.
 */
describe('money core: points by lot and coupons, through the API and workers', () => {
  jest.setTimeout(180_000);
  let env: TestEnv;
  let api: TestApi;
  let gw: FakeGateway;
  const workers: RunningProcess[] = [];
  // Short locks: a killed worker's jobs and its customer lock are taken over within seconds (MySQL guards meanwhile).
  const workerEnv: Record<string, string> = { WORKER_CONCURRENCY: '16', WORKER_LOCK_MS: '3000', CUSTOMER_LOCK_MS: '2000', LOG_LEVEL: 'warn' };
  const fx = moneyFixtures(() => api);

  beforeAll(async () => {
    env = await isolatedEnv('money');
    gw = await startFakeGateway({ port: 0, host: '127.0.0.1', secretKey: 'test_sk_bazaar' });
    Object.assign(workerEnv, { PAYMENT_GATEWAY_URL: gw.url, PAYMENT_TIMEOUT_MS: '1000' });
    api = await startTestApi({ ...env });
    workers.push(...(await Promise.all([0, 1, 2].map(() => startProcess('worker', { ...env, ...workerEnv })))));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await api?.close();
    await gw?.close();
  });

  async function mintKey(amount: number, behavior: 'ok' | 'decline'): Promise<string> {
    const res = await fetch(`${gw.url}/__test/payment-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount, behavior }),
    });
    return ((await res.json()) as { paymentKey: string }).paymentKey;
  }

  const settled = (client: ReturnType<TestApi['client']>, orderId: string) =>
    eventually(
      () => client.orders.get.query({ orderId }),
      (v) => v.status !== OrderStatus.PENDING,
      30_000,
    );

  const storeWith = (products: { name: string; price: number; stock: number }[]) => fx.store(products, 'Money store');

  const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

  async function storeCoupon(seller: { client: ReturnType<TestApi['client']> }, storeId: number, terms: Record<string, unknown> = {}) {
    const made = await seller.client.coupons.create.mutate({
      storeId,
      name: '10% off',
      kind: 'PERCENT',
      value: 10,
      maxDiscount: 3_000,
      minOrderAmount: 20_000,
      quantity: 100,
      validFrom: new Date().toISOString(),
      validUntil: soon(30 * DAY),
      ...terms,
    });
    return made.couponId;
  }

  const refusal = refusalData;

  it("prices money.md's worked example to the won: discount, points by lot, cash, reward lot", async () => {
    const s1 = await storeWith([
      { name: 'rose bouquet', price: 15_000, stock: 10 },
      { name: 'tulip vase', price: 8_000, stock: 10 },
    ]);
    const s2 = await storeWith([{ name: 'card', price: 2_500, stock: 10 }]);
    const couponId = await storeCoupon(s1.seller, s1.store.id);
    const customer = await fx.customer(100_000);
    const admin = await fx.admin();
    await customer.client.coupons.claim.mutate({ couponId });
    // Day 5 of the example is now: L1 expires on day 10, L2 on day 40.
    const l1 = await admin.client.points.grant.mutate({ userId: customer.id, amount: 3_000, expiresAt: soon(5 * DAY), reason: 'worked example L1' });
    const l2 = await admin.client.points.grant.mutate({ userId: customer.id, amount: 5_000, expiresAt: soon(35 * DAY), reason: 'worked example L2' });
    expect(await customer.client.points.balance.query()).toEqual({ balance: 8_000 });

    const [rose, vase] = s1.products;
    const [card] = s2.products;
    const placed = await customer.client.orders.place.mutate({
      idempotencyKey: `worked-${Date.now()}`,
      items: [
        { productId: rose!.id, quantity: 2 },
        { productId: vase!.id, quantity: 1 },
        { productId: card!.id, quantity: 3 },
      ],
      couponId,
      points: 4_000,
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    const expectFigures = (v: OrderView) => {
      expect(v.items.map((i) => i.subtotal)).toEqual([30_000, 8_000, 7_500]);
      expect(v.items.map((i) => i.discount)).toEqual([2_368, 632, 0]);
      expect(v.items.map((i) => i.points)).toEqual([2_601, 693, 706]);
      expect(v.items.map((i) => i.cash)).toEqual([25_031, 6_675, 6_794]);
      expect(v.items.map((i) => i.earned)).toEqual([250, 67, 68]);
      expect({ itemsTotal: v.itemsTotal, discount: v.discount, pointsUsed: v.pointsUsed, cashPaid: v.cashPaid, pointsEarned: v.pointsEarned }).toEqual({
        itemsTotal: 45_500,
        discount: 3_000,
        pointsUsed: 4_000,
        cashPaid: 38_500,
        pointsEarned: 385,
      });
      expect(v.couponId).toBe(couponId);
    };
    // While it waits, the view is priced exactly as the worker will price it.
    const first = await customer.client.orders.get.query({ orderId: placed.orderId });
    expectFigures(first);

    const paid = await settled(customer.client, placed.orderId);
    expect(paid.status).toBe(OrderStatus.PAID);
    expectFigures(paid);
    expect(paid.items.every((i) => i.orderItemId !== null && i.refundedQuantity === 0)).toBe(true);
    expect(paid.refunded).toEqual({ cash: 0, points: 0, clawback: 0, cashReturned: 0 });

    // The spend took 3,000 from L1, then 1,000 from L2; the reward lot holds 385, valid 365 days.
    const lots = await new PointsRepository(api.deps.ds).lotsOf(customer.id);
    expect(lots.find((l) => l.id === l1.lotId)?.remaining).toBe(0);
    expect(lots.find((l) => l.id === l2.lotId)?.remaining).toBe(4_000);
    const reward = lots.find((l) => l.source === 'ORDER_REWARD');
    expect(reward).toMatchObject({ amount: 385, remaining: 385, ref: placed.orderId });
    const validDays = (reward!.expiresAt.getTime() - Date.now()) / DAY;
    expect(validDays).toBeGreaterThan(364.9);
    expect(validDays).toBeLessThanOrEqual(365);
    const mapping = await selectRows<{ lot_id: number | string; amount: number | string; seq: number }>(
      api.deps.ds,
      'SELECT seq, lot_id, amount FROM point_spend_lots WHERE order_id = ? ORDER BY seq',
      [placed.orderId],
    );
    expect(mapping.map((m) => [Number(m.lot_id), Number(m.amount)])).toEqual([
      [l1.lotId, 3_000],
      [l2.lotId, 1_000],
    ]);

    expect(await customer.client.points.balance.query()).toEqual({ balance: 4_385 });
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 100_000 - 38_500 });
    const history = await customer.client.points.history.query({ limit: 10 });
    expect(history.items.map((m) => [m.kind, m.amount])).toEqual([
      ['EARN', 385],
      ['SPEND', -1_000],
      ['SPEND', -3_000],
      ['GRANT', 5_000],
      ['GRANT', 3_000],
    ]);
    expect(history.items.find((m) => m.kind === 'GRANT')?.reason).toBe('worked example L2');
    const mine = await customer.client.coupons.mine.query({});
    expect(mine.items.find((c) => c.couponId === couponId)?.state).toBe('USED');
    expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
  });

  it('lets one customer spend 5,000 points once across 20 concurrent orders on 3 workers, one killed mid-run', async () => {
    const { products } = await storeWith([{ name: 'points item', price: 1_500, stock: 100 }]);
    const customer = await fx.customer(1_000_000);
    const admin = await fx.admin();
    await admin.client.points.grant.mutate({ userId: customer.id, amount: 3_000, expiresAt: soon(10 * DAY), reason: 'concurrency A' });
    await admin.client.points.grant.mutate({ userId: customer.id, amount: 2_000, expiresAt: soon(20 * DAY), reason: 'concurrency B' });

    const placed = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        customer.client.orders.place.mutate({
          idempotencyKey: `points-race-${Date.now()}-${i}`,
          items: [{ productId: products[0]!.id, quantity: 1 }],
          points: 1_000,
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
        }),
      ),
    );
    // SIGKILL one worker while the orders are being applied, and start a replacement.
    await new Promise((r) => setTimeout(r, 30));
    const victim = workers.shift()!;
    await victim.kill();
    workers.push(await startProcess('worker', { ...env, ...workerEnv }));

    const views = await Promise.all(placed.map((p) => settled(customer.client, p.orderId)));
    const paid = views.filter((v) => v.status === OrderStatus.PAID);
    const failed = views.filter((v) => v.status === OrderStatus.FAILED);
    expect(paid).toHaveLength(5);
    expect(failed).toHaveLength(15);
    expect(failed.every((v) => v.failureReason === FailureReason.INSUFFICIENT_POINTS)).toBe(true);

    // Each paid order earned 1% of its 500 won cash: 5 lots of 5 points; nothing else is left.
    const balance = (await customer.client.points.balance.query()).balance;
    expect(balance).toBe(25);
    expect(await balanceFromLedger(api.deps.ds, customer.id)).toBe(balance);
    expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
    const [spent] = await selectRows<{ n: number | string; total: number | string }>(
      api.deps.ds,
      'SELECT COUNT(*) AS n, SUM(amount) AS total FROM point_spends WHERE user_id = ?',
      [customer.id],
    );
    expect({ n: Number(spent?.n), total: Number(spent?.total) }).toEqual({ n: 5, total: 5_000 });
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 1_000_000 - 5 * 500 });
  });

  it('lets one of two concurrent orders use a coupon, and gives a failed order’s coupon back', async () => {
    const { seller, store, products } = await storeWith([{ name: 'coupon item', price: 25_000, stock: 100 }]);
    const couponId = await storeCoupon(seller, store.id);
    const customer = await fx.customer(0);
    await customer.client.coupons.claim.mutate({ couponId });
    const order = (key: string) =>
      customer.client.orders.place.mutate({
        idempotencyKey: key,
        items: [{ productId: products[0]!.id, quantity: 1 }],
        couponId,
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });

    // Two at once: exactly one holds the coupon; the other is refused up front.
    const both = await Promise.allSettled([order(`coupon-a-${Date.now()}`), order(`coupon-b-${Date.now()}`)]);
    const won = both.filter((r) => r.status === 'fulfilled');
    const lost = both.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0]!.reason as TRPCClientError<never>).data).toMatchObject({ code: 'PRECONDITION_FAILED', reason: FailureReason.COUPON_UNAVAILABLE });

    // The wallet is empty: the order fails, and the coupon is the customer's to use again.
    const first = await settled(customer.client, (won[0] as PromiseFulfilledResult<{ orderId: string }>).value.orderId);
    expect(first).toMatchObject({ status: OrderStatus.FAILED, failureReason: FailureReason.INSUFFICIENT_BALANCE });
    await eventually(
      () => customer.client.coupons.mine.query({}),
      (m) => m.items.find((c) => c.couponId === couponId)?.state === 'AVAILABLE',
    );
    await customer.client.wallet.charge.mutate({ amount: 50_000, idempotencyKey: `coupon-topup-${Date.now()}` });
    const again = await settled(customer.client, (await order(`coupon-c-${Date.now()}`)).orderId);
    expect(again).toMatchObject({ status: OrderStatus.PAID, discount: 2_500, cashPaid: 22_500 });
    const [claim] = await selectRows<{ order_id: string | null }>(api.deps.ds, 'SELECT order_id FROM coupon_claims WHERE coupon_id = ? AND user_id = ?', [
      couponId,
      customer.id,
    ]);
    expect(claim?.order_id).toBe(again.id);
    expect(await refusal(order(`coupon-d-${Date.now()}`))).toMatchObject({ code: 'PRECONDITION_FAILED', reason: FailureReason.COUPON_UNAVAILABLE });
  });

  it('gives everything back when a paid order with a coupon and points is cancelled', async () => {
    const { seller, store, products } = await storeWith([{ name: 'cancel item', price: 30_000, stock: 100 }]);
    const couponId = await storeCoupon(seller, store.id);
    const customer = await fx.customer(100_000);
    const admin = await fx.admin();
    await customer.client.coupons.claim.mutate({ couponId });
    await admin.client.points.grant.mutate({ userId: customer.id, amount: 2_000, expiresAt: soon(30 * DAY), reason: 'cancel test' });
    const placed = await customer.client.orders.place.mutate({
      idempotencyKey: `cancel-${Date.now()}`,
      items: [{ productId: products[0]!.id, quantity: 1 }],
      couponId,
      points: 2_000,
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    const paid = await settled(customer.client, placed.orderId);
    expect(paid).toMatchObject({ status: OrderStatus.PAID, discount: 3_000, pointsUsed: 2_000, cashPaid: 25_000, pointsEarned: 250 });
    expect(await customer.client.points.balance.query()).toEqual({ balance: 250 });

    await customer.client.orders.cancel.mutate({ orderId: placed.orderId });
    const cancelled = await settled(customer.client, placed.orderId).then(() =>
      eventually(
        () => customer.client.orders.get.query({ orderId: placed.orderId }),
        (v) => v.status === OrderStatus.CANCELLED,
      ),
    );
    expect(cancelled.status).toBe(OrderStatus.CANCELLED);
    // Points back to their lot, the reward clawed back, the cash credited, the coupon available again.
    expect(await customer.client.points.balance.query()).toEqual({ balance: 2_000 });
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 100_000 });
    const mine = await eventually(
      () => customer.client.coupons.mine.query({}),
      (m) => m.items.find((c) => c.couponId === couponId)?.state === 'AVAILABLE',
    );
    expect(mine.items.find((c) => c.couponId === couponId)?.state).toBe('AVAILABLE');
    const kinds = (await customer.client.points.history.query({ limit: 10 })).items.map((m) => [m.kind, m.amount]);
    expect(kinds).toEqual([
      ['CLAWBACK', -250],
      ['RESTORE', 2_000],
      ['EARN', 250],
      ['SPEND', -2_000],
      ['GRANT', 2_000],
    ]);
    expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
  });

  it('runs a card order with a coupon and points through the saga: a decline gives both back, a charge earns the reward', async () => {
    const { seller, store, products } = await storeWith([{ name: 'card item', price: 40_000, stock: 100 }]);
    const couponId = await storeCoupon(seller, store.id, { kind: 'FIXED', value: 5_000, maxDiscount: undefined });
    const customer = await fx.customer(0);
    const admin = await fx.admin();
    await customer.client.coupons.claim.mutate({ couponId });
    await admin.client.points.grant.mutate({ userId: customer.id, amount: 3_000, expiresAt: soon(30 * DAY), reason: 'card test' });
    // 40,000 − 5,000 coupon − 3,000 points = 32,000 by card.
    const place = async (key: string, behavior: 'ok' | 'decline') =>
      customer.client.orders.place.mutate({
        idempotencyKey: key,
        items: [{ productId: products[0]!.id, quantity: 1 }],
        couponId,
        points: 3_000,
        paymentMethod: 'CARD',
        paymentKey: await mintKey(32_000, behavior),
        fulfillment: DELIVERY,
      });

    const declined = await settled(customer.client, (await place(`card-decline-${Date.now()}`, 'decline')).orderId);
    expect(declined).toMatchObject({ status: OrderStatus.FAILED, failureReason: FailureReason.PAYMENT_DECLINED, pointsEarned: 0 });
    expect(await customer.client.points.balance.query()).toEqual({ balance: 3_000 });
    await eventually(
      () => customer.client.coupons.mine.query({}),
      (m) => m.items.find((c) => c.couponId === couponId)?.state === 'AVAILABLE',
    );

    const paid = await settled(customer.client, (await place(`card-ok-${Date.now()}`, 'ok')).orderId);
    expect(paid).toMatchObject({ status: OrderStatus.PAID, discount: 5_000, pointsUsed: 3_000, cashPaid: 32_000, pointsEarned: 320 });
    expect(await customer.client.points.balance.query()).toEqual({ balance: 320 });
    expect((await customer.client.coupons.mine.query({})).items.find((c) => c.couponId === couponId)?.state).toBe('USED');
    const kinds = (await customer.client.points.history.query({ limit: 10 })).items.map((m) => [m.kind, m.amount]);
    expect(kinds).toEqual([
      ['EARN', 320],
      ['SPEND', -3_000],
      ['RESTORE', 3_000],
      ['SPEND', -3_000],
      ['GRANT', 3_000],
    ]);
    expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
  });

  it('refuses points and coupons that cannot apply, up front or as a FAILED order, changing nothing', async () => {
    const { seller, store, products } = await storeWith([{ name: 'refusal item', price: 10_000, stock: 100 }]);
    const couponId = await storeCoupon(seller, store.id); // minimum 20,000
    const customer = await fx.customer(100_000);
    const admin = await fx.admin();
    await customer.client.coupons.claim.mutate({ couponId });
    await admin.client.points.grant.mutate({ userId: customer.id, amount: 500, expiresAt: soon(30 * DAY), reason: 'refusals' });
    const base = { items: [{ productId: products[0]!.id, quantity: 1 }], paymentMethod: 'BALANCE' as const, fulfillment: DELIVERY };
    const before = await customer.client.orders.list.query({});

    expect(await refusal(customer.client.orders.place.mutate({ ...base, idempotencyKey: `ref-a-${Date.now()}`, points: 10_001 }))).toMatchObject({
      code: 'BAD_REQUEST',
      issues: [{ path: 'points' }],
    });
    expect(await refusal(customer.client.orders.place.mutate({ ...base, idempotencyKey: `ref-b-${Date.now()}`, couponId: 999_999_999 }))).toMatchObject({
      code: 'BAD_REQUEST',
      issues: [{ path: 'couponId' }],
    });
    expect(await refusal(customer.client.orders.place.mutate({ ...base, idempotencyKey: `ref-c-${Date.now()}`, couponId }))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: FailureReason.COUPON_NOT_APPLICABLE,
    });
    expect((await customer.client.orders.list.query({})).items).toHaveLength(before.items.length);
    // The coupon was not held by any of them.
    const mine = await customer.client.coupons.mine.query({});
    expect(mine.items.find((c) => c.couponId === couponId)?.state).toBe('AVAILABLE');

    // Above the live balance: accepted (the api does not read MySQL), then FAILED by the worker, nothing spent.
    const placed = await customer.client.orders.place.mutate({ ...base, idempotencyKey: `ref-d-${Date.now()}`, points: 501 });
    const failed = await settled(customer.client, placed.orderId);
    expect(failed).toMatchObject({ status: OrderStatus.FAILED, failureReason: FailureReason.INSUFFICIENT_POINTS, pointsEarned: 0 });
    expect(await customer.client.points.balance.query()).toEqual({ balance: 500 });
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 100_000 });
    expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
  });

  it('never counts an expired lot, before any job has written its expiry', async () => {
    const customer = await fx.customer(0);
    const admin = await fx.admin();
    await admin.client.points.grant.mutate({ userId: customer.id, amount: 700, expiresAt: soon(1_200), reason: 'short-lived' });
    await admin.client.points.grant.mutate({ userId: customer.id, amount: 300, expiresAt: soon(30 * DAY), reason: 'long-lived' });
    expect(await customer.client.points.balance.query()).toEqual({ balance: 1_000 });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await customer.client.points.balance.query()).toEqual({ balance: 300 });
    expect(await balanceFromLedger(api.deps.ds, customer.id)).toBe(300);
  });

  it('lets only admins grant points, to customers, with checked input', async () => {
    const customer = await fx.customer(0);
    const seller = await fx.seller();
    const admin = await fx.admin();
    const grant = { userId: customer.id, amount: 100, expiresAt: soon(DAY), reason: 'matrix' };
    expect(await refusal(customer.client.points.grant.mutate(grant))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(seller.client.points.grant.mutate(grant))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await refusal(api.client().points.grant.mutate(grant))).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await refusal(admin.client.points.grant.mutate({ ...grant, userId: seller.id }))).toMatchObject({ code: 'NOT_FOUND' });
    for (const [field, bad] of [
      ['amount', { amount: 0 }],
      ['amount', { amount: 1.5 }],
      ['expiresAt', { expiresAt: new Date(Date.now() - 1000).toISOString() }],
      ['expiresAt', { expiresAt: 'tomorrow' }],
      ['reason', { reason: '   ' }],
      ['userId', { userId: -1 }],
    ] as const) {
      const r = await refusal(admin.client.points.grant.mutate({ ...grant, ...bad }));
      expect(r.code).toBe('BAD_REQUEST');
      expect(r.issues?.map((i) => i.path)).toContain(field);
    }
    expect(await customer.client.points.balance.query()).toEqual({ balance: 0 });
    expect(await refusal(seller.client.points.balance.query())).toMatchObject({ code: 'FORBIDDEN' });
    // The good grant is taken, and shows as one GRANT movement naming the reason.
    await admin.client.points.grant.mutate(grant);
    expect(await customer.client.points.balance.query()).toEqual({ balance: 100 });
    expect((await customer.client.points.history.query({})).items.map((m) => [m.kind, m.amount, m.reason])).toEqual([['GRANT', 100, 'matrix']]);
  });
});
