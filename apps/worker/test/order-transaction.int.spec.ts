import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus, PaymentMethod } from '@bazaar/contracts';
import { PointsRepository, createDataSource, execute } from '@bazaar/db';
import { createLogger, createMetrics, loadConfig, type Metrics } from '@bazaar/platform';
import type { AcceptedOrder } from '@bazaar/queue';
import { DELIVERY } from '../../../test/support/api-harness';
import { acceptedOrderFor, line, sqlFixtures, tag } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { PaymentGatewayClient } from '../src/gateway/payment-gateway.client';
import { createOrderWorkflows } from '../src/workflows/order-workflows';

/**
 * The order transaction's statements and round trips, per order kind, read
 * off the counters every worker exports (bazaar_order_tx_statements_total,
 * bazaar_order_tx_round_trips_total) — the figures the README writes down.
 */
describe('the order transaction, step by step (MariaDB)', () => {
  let ds: DataSource;
  let gateway: PaymentGatewayClient;
  let metrics: Metrics;
  let wf: ReturnType<typeof createOrderWorkflows>;

  beforeAll(async () => {
    const config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 4 }, { multipleStatements: true });
    await ds.initialize();
    gateway = new PaymentGatewayClient({ baseUrl: config.PAYMENT_GATEWAY_URL, secretKey: config.PAYMENT_SECRET_KEY, timeoutMs: 500, retries: 0 });
    metrics = createMetrics('worker-test');
    wf = createOrderWorkflows({ ds, gateway, gate: undefined as never, log: createLogger('worker-test', 'silent'), metrics });
  });

  afterAll(async () => {
    gateway?.shutdown();
    await ds?.destroy();
  });

  const { newCustomer, newStore, newProduct, newUser } = sqlFixtures(() => ds);

  /** Statements by step and round trips, counted while `fn` runs one order. */
  async function counted(fn: () => Promise<unknown>): Promise<{ roundTrips: number; statements: Record<string, number> }> {
    const read = async () => {
      const trips = (await metrics.orderTxRoundTrips.get()).values.reduce((s, v) => s + v.value, 0);
      const statements: Record<string, number> = {};
      for (const v of (await metrics.orderTxStatements.get()).values) statements[String(v.labels.step)] = (statements[String(v.labels.step)] ?? 0) + v.value;
      return { trips, statements };
    };
    const before = await read();
    await fn();
    const after = await read();
    const statements: Record<string, number> = {};
    for (const [step, n] of Object.entries(after.statements)) if (n - (before.statements[step] ?? 0) > 0) statements[step] = n - (before.statements[step] ?? 0);
    return { roundTrips: after.trips - before.trips, statements };
  }

  async function couponClaimed(userId: number, storeId: number): Promise<number> {
    const admin = await newUser('SELLER');
    const c = await execute(
      ds,
      `INSERT INTO coupons (store_id, created_by, name, kind, value, max_discount, min_order_amount, quantity, claimed, valid_from, valid_until)
       VALUES (?, ?, 'tx test', 'FIXED', 1000, NULL, 0, 10, 1, NOW(3) - INTERVAL 1 DAY, NOW(3) + INTERVAL 1 DAY)`,
      [storeId, admin],
    );
    await execute(ds, `INSERT INTO coupon_claims (coupon_id, user_id, claimed_at) VALUES (?, ?, NOW(3))`, [c.insertId, userId]);
    return c.insertId;
  }

  async function grant(userId: number, amount: number, days: number): Promise<void> {
    await new PointsRepository(ds).grant({
      grantId: `g-${tag()}`,
      adminId: userId,
      userId,
      amount,
      expiresAt: new Date(Date.now() + days * 86_400_000),
      reason: 'tx',
      now: new Date(),
    });
  }

  it('a plain balance order: 3 round trips, 9 statements + 1 a line (the store parts: one multi-row insert)', async () => {
    const storeId = await newStore();
    const [a, b] = [await newProduct(storeId, 1_000, 10), await newProduct(storeId, 2_000, 10)];
    const userId = await newCustomer(10_000);
    const order = acceptedOrderFor(userId, [line(a, 1), line(b, 2)], { fulfillment: DELIVERY });
    const c = await counted(async () => expect((await wf.apply.run({ ...order, rewardBps: 0 })).status).toBe(OrderStatus.PAID));
    expect(c).toEqual({ roundTrips: 3, statements: { tx: 4, order_row: 2, wallet_debit: 2, stock: 2, store_parts: 1 } });
  });

  it('a balance order with a coupon, points from two lots and a reward: still 3 round trips', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 10_000, 10);
    const userId = await newCustomer(10_000);
    const couponId = await couponClaimed(userId, storeId);
    await grant(userId, 300, 5);
    await grant(userId, 500, 9);
    const order: AcceptedOrder = {
      ...acceptedOrderFor(userId, [line(a, 1)], { fulfillment: DELIVERY }),
      coupon: { couponId, kind: 'FIXED', value: 1_000, maxDiscount: null, minOrderAmount: 0, storeId },
      points: 700,
    };
    const c = await counted(async () => expect(await wf.apply.run(order)).toMatchObject({ status: OrderStatus.PAID, reason: null }));
    // point_spend: the locked read of the lots, then the spend, 2 lot decrements, the mapping rows, the movements.
    expect(c).toEqual({ roundTrips: 3, statements: { tx: 4, order_row: 2, point_spend: 6, coupon_use: 1, wallet_debit: 2, stock: 1, reward_lot: 2, store_parts: 1 } });
    const view = await wf.orders.findSettled(order.orderId);
    expect(view).toMatchObject({ discountTotal: 1_000, pointsUsed: 700, cashPaid: 8_300, pointsEarned: 83, couponId });
  });

  it('a refusal found in the locked read costs 2 round trips, one found in the effects 3 (ROLLBACK TO SAVEPOINT, the FAILED mark, COMMIT)', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 1_000, 10);
    const userId = await newCustomer(0);
    await grant(userId, 100, 5);
    const short = { ...acceptedOrderFor(userId, [line(a, 1)], { fulfillment: DELIVERY }), points: 200 };
    const c1 = await counted(async () =>
      expect(await wf.apply.run(short)).toMatchObject({ status: OrderStatus.FAILED, reason: FailureReason.INSUFFICIENT_POINTS }),
    );
    expect(c1).toEqual({ roundTrips: 2, statements: { tx: 5, order_row: 2, point_spend: 1, refusal: 1 } });
    const broke = acceptedOrderFor(userId, [line(a, 1)], { fulfillment: DELIVERY });
    const c2 = await counted(async () =>
      expect(await wf.apply.run(broke)).toMatchObject({ status: OrderStatus.FAILED, reason: FailureReason.INSUFFICIENT_BALANCE }),
    );
    // The effects round trip carried every write (the reward lot too); the savepoint rolled them all back.
    expect(c2).toEqual({ roundTrips: 3, statements: { tx: 5, order_row: 2, wallet_debit: 2, stock: 1, reward_lot: 2, store_parts: 1, refusal: 1 } });
  });

  it('a card reservation: 3 round trips, the payment row in the opening one', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 5_000, 10);
    const userId = await newCustomer(0);
    const order: AcceptedOrder = {
      ...acceptedOrderFor(userId, [line(a, 1)], { fulfillment: DELIVERY }),
      paymentMethod: PaymentMethod.CARD,
      paymentKey: `pk-${tag()}`,
    };
    // The reservation alone: the gateway is unreachable here, so the saga stops after step 1 and the job would retry.
    const c = await counted(() => wf.card.run(order).catch(() => undefined));
    expect(c.statements).toMatchObject({ order_row: 2, payment_row: 1, stock: 1 });
    expect(c.roundTrips).toBe(3);
  });
});
