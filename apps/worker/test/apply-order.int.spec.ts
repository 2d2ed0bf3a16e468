import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus, PaymentMethod, ProductStatus, WalletEntryKind } from '@bazaar/contracts';
import { OrdersRepository, createDataSource, selectRows } from '@bazaar/db';
import { createLogger, loadConfig } from '@bazaar/platform';
import type { AcceptedLine } from '@bazaar/queue';
import { DELIVERY } from '../../../test/support/api-harness';
import { acceptedOrderFor, line, sqlFixtures } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { PaymentGatewayClient } from '../src/gateway/payment-gateway.client';
import { createOrderWorkflows } from '../src/workflows/order-workflows';
import type { ApplyOrderWorkflow, ApplyOutcome } from '../src/workflows/apply-order/apply-order.workflow';

/**
 * ApplyOrderWorkflow against the real MariaDB: one transaction per order,
 * refusals recorded as FAILED with nothing else changed, idempotent by the
 * orders primary key, and consistent under concurrency.
 */
describe('ApplyOrderWorkflow (MariaDB)', () => {
  let ds: DataSource;
  let workflow: ApplyOrderWorkflow;
  let gateway: PaymentGatewayClient;

  beforeAll(async () => {
    const config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 20 }, { multipleStatements: true });
    await ds.initialize();
    // CARD orders go to the payment saga; every order here pays from the wallet, so the gateway is never called.
    gateway = new PaymentGatewayClient({
      baseUrl: config.PAYMENT_GATEWAY_URL,
      secretKey: config.PAYMENT_SECRET_KEY,
      timeoutMs: config.PAYMENT_TIMEOUT_MS,
      retries: config.PAYMENT_RETRIES,
    });
    workflow = createOrderWorkflows({ ds, gateway, gate: undefined as never, log: createLogger('worker-test', 'silent') }).apply;
  });

  afterAll(async () => {
    gateway?.shutdown();
    await ds?.destroy();
  });

  // ---- fixtures: plain SQL, fresh rows for every test ----

  const { newCustomer, newStore, newProduct } = sqlFixtures(() => ds);
  const acceptedOrder = (userId: number, lines: AcceptedLine[]) => acceptedOrderFor(userId, lines, { fulfillment: DELIVERY });

  // ---- reads ----

  async function stockOf(productId: number): Promise<number> {
    const [row] = await selectRows<{ stock: number | string }>(ds, `SELECT stock FROM products WHERE id = ?`, [productId]);
    if (!row) throw new Error(`no product ${productId}`);
    return Number(row.stock);
  }

  async function balanceOf(userId: number): Promise<number> {
    const [row] = await selectRows<{ balance: number | string }>(ds, `SELECT balance FROM wallet_accounts WHERE user_id = ?`, [userId]);
    if (!row) throw new Error(`no wallet for user ${userId}`);
    return Number(row.balance);
  }

  interface LedgerRow {
    kind: WalletEntryKind;
    amount: number;
    balanceAfter: number;
    ref: string;
  }

  async function ledgerOf(userId: number): Promise<LedgerRow[]> {
    const rows = await selectRows<{ kind: WalletEntryKind; amount: number | string; balance_after: number | string; ref: string }>(
      ds,
      `SELECT kind, amount, balance_after, ref FROM wallet_entries WHERE user_id = ? ORDER BY id`,
      [userId],
    );
    return rows.map((r) => ({ kind: r.kind, amount: Number(r.amount), balanceAfter: Number(r.balance_after), ref: r.ref }));
  }

  async function countOf(sql: string, params: unknown[]): Promise<number> {
    const [row] = await selectRows<{ n: number | string }>(ds, sql, params);
    return Number(row?.n ?? 0);
  }

  const orders = () => new OrdersRepository(ds);

  // ---- single orders ----

  it('applies a BALANCE order of 3 lines: PAID, items in line order, stock per line, one ledger row', async () => {
    const storeId = await newStore();
    const a = await newProduct(storeId, 1_000, 10);
    const b = await newProduct(storeId, 2_500, 5);
    const c = await newProduct(storeId, 700, 20);
    const userId = await newCustomer(50_000);
    // Lines deliberately not in product id order: line_no must follow the customer's order.
    const order = acceptedOrder(userId, [line(c, 2), line(a, 1), line(b, 3)]);
    const total = 700 * 2 + 1_000 * 1 + 2_500 * 3;

    const outcome = await workflow.run(order);

    expect(outcome).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: true });
    const settled = await orders().findSettled(order.orderId);
    expect(settled).toMatchObject({
      id: order.orderId,
      userId,
      status: OrderStatus.PAID,
      failureReason: null,
      paymentMethod: PaymentMethod.BALANCE,
      itemsTotal: total,
      discountTotal: 0,
      pointsUsed: 0,
      cashPaid: total,
    });
    expect(settled?.settledAt).toBeInstanceOf(Date);
    expect(settled?.items.map((i) => [i.lineNo, i.productId, i.unitPrice, i.quantity, i.subtotal, i.cash])).toEqual([
      [0, c.id, 700, 2, 1_400, 1_400],
      [1, a.id, 1_000, 1, 1_000, 1_000],
      [2, b.id, 2_500, 3, 7_500, 7_500],
    ]);

    expect(await stockOf(a.id)).toBe(9);
    expect(await stockOf(b.id)).toBe(2);
    expect(await stockOf(c.id)).toBe(18);

    expect(await balanceOf(userId)).toBe(50_000 - total);
    const payments = (await ledgerOf(userId)).filter((e) => e.kind === WalletEntryKind.ORDER_PAYMENT);
    expect(payments).toEqual([{ kind: WalletEntryKind.ORDER_PAYMENT, amount: -total, balanceAfter: 50_000 - total, ref: order.orderId }]);
  });

  it('applies the same order run 50 times concurrently exactly once', async () => {
    const storeId = await newStore();
    const p = await newProduct(storeId, 1_200, 100);
    const q = await newProduct(storeId, 300, 100);
    const userId = await newCustomer(100_000);
    const order = acceptedOrder(userId, [line(p, 2), line(q, 5)]);
    const total = 1_200 * 2 + 300 * 5;

    const outcomes = await Promise.all(Array.from({ length: 50 }, () => workflow.run(order)));

    expect(outcomes.every((o) => o.status === OrderStatus.PAID && o.reason === null)).toBe(true);
    expect(outcomes.filter((o) => o.appliedNow)).toHaveLength(1);
    expect(await countOf(`SELECT COUNT(*) n FROM orders WHERE id = ?`, [order.orderId])).toBe(1);
    expect(await countOf(`SELECT COUNT(*) n FROM order_items WHERE order_id = ?`, [order.orderId])).toBe(2);
    expect(await stockOf(p.id)).toBe(98);
    expect(await stockOf(q.id)).toBe(95);
    expect(await balanceOf(userId)).toBe(100_000 - total);
    const payments = (await ledgerOf(userId)).filter((e) => e.kind === WalletEntryKind.ORDER_PAYMENT);
    expect(payments).toEqual([{ kind: WalletEntryKind.ORDER_PAYMENT, amount: -total, balanceAfter: 100_000 - total, ref: order.orderId }]);
  });

  it("never applies a second order under an idempotency key MySQL already holds (Redis lost the first one's record)", async () => {
    const storeId = await newStore();
    const p = await newProduct(storeId, 1_000, 10);
    const userId = await newCustomer(10_000);
    const first = acceptedOrder(userId, [line(p, 2)]);
    expect(await workflow.run(first)).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: true });
    // Redis came back without the key's record and accepted the client's retry anew, under a new order id.
    const again = { ...acceptedOrder(userId, [line(p, 2)]), idempotencyKey: first.idempotencyKey };

    const outcomes = await Promise.all([workflow.run(again), workflow.run(again)]);

    // FAILED for Redis (its units and coupon go back), nothing written: the key's order is the first one.
    expect(outcomes).toEqual([1, 2].map(() => ({ status: OrderStatus.FAILED, reason: null, appliedNow: false, duplicateOf: first.orderId })));
    expect(await countOf(`SELECT COUNT(*) n FROM orders WHERE user_id = ?`, [userId])).toBe(1);
    expect(await stockOf(p.id)).toBe(8);
    expect(await balanceOf(userId)).toBe(8_000);
    // A refused retry under the same key (its pricing refuses it) is not recorded either.
    const refused = { ...again, coupon: { couponId: 1, kind: 'FIXED' as const, value: 100, maxDiscount: null, minOrderAmount: 1_000_000, storeId: null } };
    expect(await workflow.run(refused)).toEqual({ status: OrderStatus.FAILED, reason: null, appliedNow: false, duplicateOf: first.orderId });
  });

  it('fails an order with a line out of stock, changes nothing else, and records it FAILED once', async () => {
    const storeId = await newStore();
    const plenty = await newProduct(storeId, 500, 10);
    const scarce = await newProduct(storeId, 800, 1);
    const userId = await newCustomer(20_000);
    const order = acceptedOrder(userId, [line(plenty, 2), line(scarce, 2)]);
    const ledgerBefore = await ledgerOf(userId);

    const first = await workflow.run(order);

    expect(first).toEqual({ status: OrderStatus.FAILED, reason: FailureReason.OUT_OF_STOCK, appliedNow: true });
    expect(await stockOf(plenty.id)).toBe(10);
    expect(await stockOf(scarce.id)).toBe(1);
    expect(await balanceOf(userId)).toBe(20_000);
    expect(await ledgerOf(userId)).toEqual(ledgerBefore);
    const settled = await orders().findSettled(order.orderId);
    expect(settled).toMatchObject({ status: OrderStatus.FAILED, failureReason: FailureReason.OUT_OF_STOCK, itemsTotal: 2_600, pointsEarned: 0 });
    expect(settled?.items.map((i) => [i.lineNo, i.productId, i.quantity])).toEqual([
      [0, plenty.id, 2],
      [1, scarce.id, 2],
    ]);

    const again = await workflow.run(order);

    expect(again).toEqual({ status: OrderStatus.FAILED, reason: FailureReason.OUT_OF_STOCK, appliedNow: false });
    expect(await stockOf(plenty.id)).toBe(10);
    expect(await stockOf(scarce.id)).toBe(1);
    expect(await balanceOf(userId)).toBe(20_000);
    expect(await ledgerOf(userId)).toEqual(ledgerBefore);
    expect(await countOf(`SELECT COUNT(*) n FROM orders WHERE id = ?`, [order.orderId])).toBe(1);
    expect(await countOf(`SELECT COUNT(*) n FROM order_items WHERE order_id = ?`, [order.orderId])).toBe(2);
  });

  it('answers 50 concurrent runs of the same refused order with one FAILED order and no error', async () => {
    const storeId = await newStore();
    const plenty = await newProduct(storeId, 500, 10);
    const scarce = await newProduct(storeId, 800, 1);
    const userId = await newCustomer(20_000);
    const order = acceptedOrder(userId, [line(plenty, 1), line(scarce, 2)]);

    const results = await Promise.allSettled(Array.from({ length: 50 }, () => workflow.run(order)));

    expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
    const outcomes = results.map((r) => (r as PromiseFulfilledResult<ApplyOutcome>).value);
    expect(outcomes.every((o) => o.status === OrderStatus.FAILED && o.reason === FailureReason.OUT_OF_STOCK)).toBe(true);
    expect(outcomes.filter((o) => o.appliedNow)).toHaveLength(1);
    expect(await countOf(`SELECT COUNT(*) n FROM orders WHERE id = ?`, [order.orderId])).toBe(1);
    expect(await countOf(`SELECT COUNT(*) n FROM order_items WHERE order_id = ?`, [order.orderId])).toBe(2);
    expect(await stockOf(plenty.id)).toBe(10);
    expect(await stockOf(scarce.id)).toBe(1);
    expect(await balanceOf(userId)).toBe(20_000);
    expect((await ledgerOf(userId)).filter((e) => e.kind === WalletEntryKind.ORDER_PAYMENT)).toEqual([]);
  });

  it('fails an order the wallet cannot pay with INSUFFICIENT_BALANCE and leaves stock alone', async () => {
    const storeId = await newStore();
    const p = await newProduct(storeId, 1_000, 5);
    const userId = await newCustomer(1_999);
    const order = acceptedOrder(userId, [line(p, 2)]);

    const outcome = await workflow.run(order);

    expect(outcome).toEqual({ status: OrderStatus.FAILED, reason: FailureReason.INSUFFICIENT_BALANCE, appliedNow: true });
    expect(await stockOf(p.id)).toBe(5);
    expect(await balanceOf(userId)).toBe(1_999);
    expect((await ledgerOf(userId)).filter((e) => e.kind === WalletEntryKind.ORDER_PAYMENT)).toEqual([]);
    expect(await orders().findSettled(order.orderId)).toMatchObject({ status: OrderStatus.FAILED, failureReason: FailureReason.INSUFFICIENT_BALANCE });
  });

  it('fails an order for a deleted product with OUT_OF_STOCK', async () => {
    const storeId = await newStore();
    const gone = await newProduct(storeId, 400, 50, ProductStatus.DELETED);
    const userId = await newCustomer(10_000);
    const order = acceptedOrder(userId, [line(gone, 1)]);

    const outcome = await workflow.run(order);

    expect(outcome).toEqual({ status: OrderStatus.FAILED, reason: FailureReason.OUT_OF_STOCK, appliedNow: true });
    expect(await stockOf(gone.id)).toBe(50);
    expect(await balanceOf(userId)).toBe(10_000);
    expect((await ledgerOf(userId)).filter((e) => e.kind === WalletEntryKind.ORDER_PAYMENT)).toEqual([]);
  });

  // ---- concurrency ----

  /** mulberry32: a small seeded PRNG, so a failing shuffle can be replayed. */
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('keeps stock, wallets and ledger consistent under 300 concurrent orders from 30 customers on 5 products', async () => {
    const seed = Date.now() % 2 ** 31;
    const random = rng(seed);
    const pick = (n: number) => Math.floor(random() * n);

    const storeId = await newStore();
    const initialStock = [40, 25, 30, 15, 35];
    const prices = [300, 500, 700, 1_100, 1_300];
    const products = await Promise.all(initialStock.map((stock, i) => newProduct(storeId, prices[i]!, stock)));
    // Balances from tight to generous, so some orders fail for money as well as stock.
    const customers = await Promise.all(Array.from({ length: 30 }, (_, i) => newCustomer(2_000 + i * 700)));

    const placed = Array.from({ length: 300 }, (_, k) => {
      const userId = customers[k % customers.length]!;
      const shuffled = [...products].sort(() => random() - 0.5);
      const lines = shuffled.slice(0, 2 + pick(3)).map((p) => line(p, 1 + pick(3)));
      return acceptedOrder(userId, lines);
    });
    const demand = placed.flatMap((o) => o.lines).reduce((s, l) => s + l.quantity, 0);
    expect(demand).toBeGreaterThan(initialStock.reduce((s, n) => s + n, 0));

    const results = await Promise.allSettled(placed.map((o) => workflow.run(o)));
    const escaped = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    expect({ seed, escaped }).toEqual({ seed, escaped: [] });
    const outcomes = results.map((r) => (r as PromiseFulfilledResult<ApplyOutcome>).value);
    expect(outcomes.every((o) => o.appliedNow)).toBe(true);

    const ids = placed.map((o) => o.orderId);
    const marks = ids.map(() => '?').join(',');
    const rows = await selectRows<{ id: string; status: OrderStatus; failure_reason: FailureReason | null; cash_paid: number | string }>(
      ds,
      `SELECT id, status, failure_reason, cash_paid FROM orders WHERE id IN (${marks})`,
      ids,
    );
    expect(rows).toHaveLength(300);
    const byId = new Map(rows.map((r) => [r.id, r]));
    placed.forEach((o, i) => {
      const row = byId.get(o.orderId)!;
      expect([row.status, row.failure_reason]).toEqual([outcomes[i]!.status, outcomes[i]!.reason]);
    });
    const paidCount = rows.filter((r) => r.status === OrderStatus.PAID).length;
    expect(paidCount).toBeGreaterThan(0);
    expect(rows.filter((r) => r.status === OrderStatus.FAILED).length).toBeGreaterThan(0);

    // Units: initial - final = sum of PAID items, per product; never below zero.
    for (const [i, p] of products.entries()) {
      const final = await stockOf(p.id);
      const sold = await countOf(
        `SELECT COALESCE(SUM(i.quantity), 0) n FROM order_items i JOIN orders o ON o.id = i.order_id
         WHERE i.product_id = ? AND o.status = 'PAID'`,
        [p.id],
      );
      expect(final).toBeGreaterThanOrEqual(0);
      expect({ product: i, sold: initialStock[i]! - final }).toEqual({ product: i, sold });
    }

    // Wallets: every balance is the sum of its ledger; the last ledger row carries it.
    for (const userId of customers) {
      const balance = await balanceOf(userId);
      const ledger = await ledgerOf(userId);
      expect({ userId, sum: ledger.reduce((s, e) => s + e.amount, 0), last: ledger[ledger.length - 1]?.balanceAfter }).toEqual({
        userId,
        sum: balance,
        last: balance,
      });
    }

    // Every PAID order has exactly one payment row (for its cash), no FAILED order has one.
    const payments = await selectRows<{ ref: string; n: number | string; amount: number | string }>(
      ds,
      `SELECT ref, COUNT(*) n, SUM(amount) amount FROM wallet_entries WHERE kind = 'ORDER_PAYMENT' AND ref IN (${marks}) GROUP BY ref`,
      ids,
    );
    const paymentByRef = new Map(payments.map((p) => [p.ref, { n: Number(p.n), amount: Number(p.amount) }]));
    for (const row of rows) {
      const payment = paymentByRef.get(row.id);
      if (row.status === OrderStatus.PAID) expect({ id: row.id, payment }).toEqual({ id: row.id, payment: { n: 1, amount: -Number(row.cash_paid) } });
      else expect({ id: row.id, payment }).toEqual({ id: row.id, payment: undefined });
    }
    expect(payments).toHaveLength(paidCount);
  });
});
