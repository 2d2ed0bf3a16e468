import type { DataSource, QueryRunner } from 'typeorm';
import { FailureReason, OrderStatus } from '@bazaar/contracts';
import { createDataSource, execute, selectRows } from '@bazaar/db';
import { createLogger, loadConfig } from '@bazaar/platform';
import type { AcceptedLine, AcceptedOrder } from '@bazaar/queue';
import { DELIVERY } from '../../../test/support/api-harness';
import { acceptedOrderFor, line, sqlFixtures } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { PaymentGatewayClient } from '../src/gateway/payment-gateway.client';
import { createOrderWorkflows } from '../src/workflows/order-workflows';
import type { ApplyOrderWorkflow } from '../src/workflows/apply-order/apply-order.workflow';

/**
 * A BALANCE order placed from the cart, against the real MariaDB: when it is
 * PAID its lines leave the cart in the same transaction (units added after
 * ordering stay); a refused order leaves the cart exactly as it was; and it
 * costs two statements more than the same order not from the cart, in the
 * same three round trips.
 */
describe('ApplyOrderWorkflow, orders from the cart (MariaDB)', () => {
  let ds: DataSource;
  let workflow: ApplyOrderWorkflow;
  let gateway: PaymentGatewayClient;

  beforeAll(async () => {
    const config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 5 }, { multipleStatements: true });
    await ds.initialize();
    gateway = new PaymentGatewayClient({ baseUrl: config.PAYMENT_GATEWAY_URL, secretKey: config.PAYMENT_SECRET_KEY, timeoutMs: 1000, retries: 0 });
    workflow = createOrderWorkflows({ ds, gateway, gate: undefined as never, log: createLogger('worker-test', 'silent') }).apply;
  });

  afterAll(async () => {
    gateway?.shutdown();
    await ds?.destroy();
  });

  const { newCustomer, newStore, newProduct } = sqlFixtures(() => ds);
  const fromCart = (userId: number, lines: AcceptedLine[]): AcceptedOrder => ({
    ...acceptedOrderFor(userId, lines, { fulfillment: DELIVERY }),
    fromCart: true,
  });

  async function putInCart(userId: number, lines: [productId: number, quantity: number][]): Promise<void> {
    for (const [productId, quantity] of lines) {
      await execute(ds, `INSERT INTO cart_items (user_id, product_id, quantity) VALUES (?, ?, ?)`, [userId, productId, quantity]);
    }
  }

  async function cartOf(userId: number): Promise<[productId: number, quantity: number][]> {
    const rows = await selectRows<{ product_id: number | string; quantity: number | string }>(
      ds,
      `SELECT product_id, quantity FROM cart_items WHERE user_id = ? ORDER BY product_id`,
      [userId],
    );
    return rows.map((r) => [Number(r.product_id), Number(r.quantity)]);
  }

  async function balanceOf(userId: number): Promise<number> {
    const [row] = await selectRows<{ balance: number | string }>(ds, `SELECT balance FROM wallet_accounts WHERE user_id = ?`, [userId]);
    return Number(row?.balance);
  }

  /** The SQL each query runner the workflow opens sends, one entry per round trip. */
  async function roundTripsOf(run: () => Promise<unknown>): Promise<string[]> {
    const sent: string[] = [];
    const original = ds.createQueryRunner.bind(ds);
    const spy = jest.spyOn(ds, 'createQueryRunner').mockImplementation((mode) => {
      const q: QueryRunner = original(mode);
      const query = q.query.bind(q);
      q.query = ((sql: string, params?: unknown[]) => {
        sent.push(sql);
        return query(sql, params);
      }) as QueryRunner['query'];
      return q;
    });
    try {
      await run();
    } finally {
      spy.mockRestore();
    }
    return sent;
  }
  const statements = (roundTrips: string[]) => roundTrips.reduce((n, sql) => n + sql.split(';').filter((s) => s.trim()).length, 0);

  it('PAID: the ordered quantities leave the cart, units added after ordering stay, other lines are untouched', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 1_000, 10);
    const b = await newProduct(storeId, 2_000, 10);
    const c = await newProduct(storeId, 500, 10);
    const userId = await newCustomer(50_000);
    // Ordered: 2 of a, 1 of b. Since then the customer raised a to 5 and added c.
    const order = fromCart(userId, [line(a, 2), line(b, 1)]);
    await putInCart(userId, [
      [a.id, 5],
      [b.id, 1],
      [c.id, 3],
    ]);

    expect(await workflow.run(order)).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: true });

    expect(await cartOf(userId)).toEqual([
      [a.id, 3],
      [c.id, 3],
    ]);
    expect(await balanceOf(userId)).toBe(50_000 - 4_000);

    // Run again (a job that ran twice): nothing more leaves the cart.
    expect(await workflow.run(order)).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: false });
    expect(await cartOf(userId)).toEqual([
      [a.id, 3],
      [c.id, 3],
    ]);
  });

  it('PAID after the customer removed or lowered a line: only what is there leaves', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 100, 10);
    const b = await newProduct(storeId, 100, 10);
    const userId = await newCustomer(10_000);
    const order = fromCart(userId, [line(a, 4), line(b, 2)]);
    // a was removed from the cart meanwhile, b lowered to 1.
    await putInCart(userId, [[b.id, 1]]);

    expect((await workflow.run(order)).status).toBe(OrderStatus.PAID);
    expect(await cartOf(userId)).toEqual([]);
  });

  it.each([
    ['INSUFFICIENT_BALANCE', 1_000, 10],
    ['OUT_OF_STOCK', 50_000, 1],
  ] as const)('FAILED with %s: the cart stays exactly as it was', async (reason, balance, stockOfB) => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 1_000, 10);
    const b = await newProduct(storeId, 2_000, stockOfB);
    const userId = await newCustomer(balance);
    const order = fromCart(userId, [line(a, 2), line(b, 2)]);
    await putInCart(userId, [
      [a.id, 2],
      [b.id, 2],
    ]);

    expect(await workflow.run(order)).toEqual({ status: OrderStatus.FAILED, reason: FailureReason[reason], appliedNow: true });
    expect(await cartOf(userId)).toEqual([
      [a.id, 2],
      [b.id, 2],
    ]);
    expect(await balanceOf(userId)).toBe(balance);
  });

  it('an order not from the cart leaves the cart alone', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 1_000, 10);
    const userId = await newCustomer(10_000);
    await putInCart(userId, [[a.id, 2]]);
    const order = acceptedOrderFor(userId, [line(a, 2)], { fulfillment: DELIVERY });

    expect((await workflow.run(order)).status).toBe(OrderStatus.PAID);
    expect(await cartOf(userId)).toEqual([[a.id, 2]]);
  });

  it('costs two statements more than the same order not from the cart, in the same three round trips', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 100, 100);
    const b = await newProduct(storeId, 100, 100);
    const plainBuyer = await newCustomer(10_000);
    const cartBuyer = await newCustomer(10_000);
    await putInCart(cartBuyer, [
      [a.id, 1],
      [b.id, 1],
    ]);

    const plain = await roundTripsOf(() => workflow.run(acceptedOrderFor(plainBuyer, [line(a, 1), line(b, 1)], { fulfillment: DELIVERY })));
    const cart = await roundTripsOf(() => workflow.run(fromCart(cartBuyer, [line(a, 1), line(b, 1)])));

    expect(plain).toHaveLength(3);
    expect(cart).toHaveLength(3);
    expect(statements(cart)).toBe(statements(plain) + 2);
    expect(await cartOf(cartBuyer)).toEqual([]);
  });
});
