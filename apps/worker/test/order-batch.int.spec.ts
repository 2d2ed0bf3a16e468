import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus } from '@bazaar/contracts';
import { createDataSource, selectRows } from '@bazaar/db';
import { createLogger, createMetrics, loadConfig } from '@bazaar/platform';
import { DELIVERY } from '../../../test/support/api-harness';
import { acceptedOrderFor, line, sqlFixtures } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { PaymentGatewayClient } from '../src/gateway/payment-gateway.client';
import { BALANCE_ORDER, orderContext } from '../src/workflows/apply-order/apply-order.workflow';
import { OrderTransaction } from '../src/workflows/apply-order/order-transaction';
import { createOrderWorkflows } from '../src/workflows/order-workflows';

/**
 * Group commit (OrderTransaction.runMany through ApplyOrderWorkflow's batcher) against the real MariaDB:
 * several orders in one transaction, each behind its own savepoint. A refused order rolls back alone and is
 * recorded FAILED while its neighbours are PAID; an order settled before is skipped; under hundreds of
 * concurrent orders on one hot product exactly the stock is sold and every wallet equals its ledger.
 */
describe('group commit of BALANCE orders', () => {
  let ds: DataSource;
  let gateway: PaymentGatewayClient;
  const metrics = createMetrics('worker-test');
  const { newCustomer, newStore, newProduct } = sqlFixtures(() => ds);

  beforeAll(async () => {
    const config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 20 }, { multipleStatements: true });
    await ds.initialize();
    gateway = new PaymentGatewayClient({ baseUrl: config.PAYMENT_GATEWAY_URL, secretKey: config.PAYMENT_SECRET_KEY, timeoutMs: 500, retries: 0 });
  });
  afterAll(async () => {
    gateway?.shutdown();
    await ds?.destroy();
  });

  const workflows = (maxSize: number, maxWaitMs = 5) =>
    createOrderWorkflows({ ds, gateway, gate: undefined as never, log: createLogger('worker-test', 'silent'), metrics, batch: { maxSize, maxWaitMs } });
  const statusOf = async (orderId: string) =>
    (await selectRows<{ status: string; failure_reason: string | null }>(ds, 'SELECT status, failure_reason FROM orders WHERE id = ?', [orderId]))[0];
  const balanceOf = async (userId: number) =>
    Number((await selectRows<{ balance: number }>(ds, 'SELECT balance FROM wallet_accounts WHERE user_id = ?', [userId]))[0]?.balance);
  const stockOf = async (productId: number) =>
    Number((await selectRows<{ stock: number }>(ds, 'SELECT stock FROM products WHERE id = ?', [productId]))[0]?.stock);
  const batchCount = async () => {
    const m = await metrics.registry.getSingleMetric('bazaar_order_batch_size')?.get();
    return m?.values.find((v) => (v as { metricName?: string }).metricName === 'bazaar_order_batch_size_count')?.value ?? 0;
  };

  it('one transaction for a batch: a refused order rolls back alone, an order settled before is skipped (one order after the other), the neighbours are PAID', async () => {
    const { tx } = workflows(1);
    const store = await newStore();
    const p = await newProduct(store, 1_000, 100);
    const rich = await Promise.all([newCustomer(50_000), newCustomer(50_000), newCustomer(50_000)]);
    const poor = await newCustomer(500);
    const orders = [
      acceptedOrderFor(rich[0], [line(p, 2)], { fulfillment: DELIVERY }),
      acceptedOrderFor(poor, [line(p, 1)], { fulfillment: DELIVERY }),
      acceptedOrderFor(rich[1], [line(p, 3)], { fulfillment: DELIVERY }),
      acceptedOrderFor(rich[2], [line(p, 1)], { fulfillment: DELIVERY }),
    ];
    // The last one was settled before the batch (a retried job): the batch must skip it, not fail.
    expect(await tx.run(orderContext(orders[3]!, OrderStatus.PAID, new Date()), BALANCE_ORDER)).toEqual({ kind: 'committed' });
    const outcomes = await tx.runMany(orders.map((o) => ({ ctx: orderContext(o, OrderStatus.PAID, new Date()), plan: BALANCE_ORDER })));
    expect(outcomes).toEqual([
      { kind: 'committed' },
      { kind: 'refused', reason: FailureReason.INSUFFICIENT_BALANCE },
      { kind: 'committed' },
      { kind: 'exists' },
    ]);
    expect((await statusOf(orders[0]!.orderId))?.status).toBe('PAID');
    expect(await statusOf(orders[1]!.orderId)).toEqual({ status: 'FAILED', failure_reason: FailureReason.INSUFFICIENT_BALANCE });
    expect((await statusOf(orders[2]!.orderId))?.status).toBe('PAID');
    expect(await balanceOf(poor)).toBe(500);
    expect(await balanceOf(rich[0])).toBe(48_000);
    expect(await balanceOf(rich[1])).toBe(47_000);
    expect(await balanceOf(rich[2])).toBe(49_000);
    // 2 + 3 + 1 sold; the refused order's unit is still there.
    expect(await stockOf(p.id)).toBe(94);
  });

  it('pipelined (about one round trip an order): refusals in the effects and in the reads, first, middle and last, leave their neighbours PAID', async () => {
    const { tx } = workflows(1);
    const store = await newStore();
    const p = await newProduct(store, 1_000, 100);
    const ok = () => newCustomer(50_000);
    const poor = () => newCustomer(500);
    // Refused: #0 (balance, in its effects), #2 (points it does not have, in its locked read), #5 (balance, the last).
    const who = [await poor(), await ok(), await ok(), await ok(), await ok(), await poor()];
    const orders = who.map((userId, i) => ({ ...acceptedOrderFor(userId, [line(p, 1)], { fulfillment: DELIVERY }), ...(i === 2 ? { points: 300 } : {}) }));
    const trips = async () => (await metrics.registry.getSingleMetricAsString('bazaar_order_tx_round_trips_total')).match(/_total\{[^}]*kind="balance"[^}]*\} (\d+)/)?.[1] ?? '0';
    const before = Number(await trips());
    const outcomes = await tx.runMany(orders.map((o) => ({ ctx: orderContext(o, OrderStatus.PAID, new Date()), plan: BALANCE_ORDER })));
    expect(outcomes).toEqual([
      { kind: 'refused', reason: FailureReason.INSUFFICIENT_BALANCE },
      { kind: 'committed' },
      { kind: 'refused', reason: FailureReason.INSUFFICIENT_POINTS },
      { kind: 'committed' },
      { kind: 'committed' },
      { kind: 'refused', reason: FailureReason.INSUFFICIENT_BALANCE },
    ]);
    // 6 opening round trips (each with the previous order's effects) + 1 re-open after #0's refusal + its refusal
    // + the last order's effects with the batch's stock + its refusal with the others' stock again + the COMMIT:
    // 11, where one order at a time takes 6 × 3 = 18.
    expect(Number(await trips()) - before).toBe(11);
    const statuses = await Promise.all(orders.map((o) => statusOf(o.orderId)));
    expect(statuses.map((x) => x?.status)).toEqual(['FAILED', 'PAID', 'FAILED', 'PAID', 'PAID', 'FAILED']);
    expect(await Promise.all(who.map(balanceOf))).toEqual([500, 49_000, 50_000, 49_000, 49_000, 500]);
    expect(await stockOf(p.id)).toBe(97);
  });

  it('400 concurrent orders on one hot product with 150 units, 16 a batch: exactly 150 sold, the rest OUT_OF_STOCK, wallets = ledgers', async () => {
    const { apply } = workflows(16);
    const store = await newStore();
    const hot = await newProduct(store, 700, 150);
    const customers = await Promise.all(Array.from({ length: 400 }, () => newCustomer(10_000)));
    const batchesBefore = await batchCount();
    const orders = customers.map((c) => acceptedOrderFor(c, [line(hot, 1)], { fulfillment: DELIVERY }));
    const outcomes = await Promise.all(orders.map((o) => apply.run(o)));
    expect(outcomes.filter((o) => o.status === OrderStatus.PAID)).toHaveLength(150);
    expect(outcomes.filter((o) => o.status === OrderStatus.FAILED && o.reason === FailureReason.OUT_OF_STOCK)).toHaveLength(250);
    expect(await stockOf(hot.id)).toBe(0);
    // They went in batches (far fewer transactions than orders).
    const batches = (await batchCount()) - batchesBefore;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(400 / 2);
    const marks = customers.map(() => '?').join(',');
    const drift = await selectRows<{ n: number }>(
      ds,
      `SELECT COUNT(*) AS n FROM wallet_accounts a WHERE a.user_id IN (${marks})
         AND a.balance <> (SELECT COALESCE(SUM(e.amount), 0) FROM wallet_entries e WHERE e.user_id = a.user_id)`,
      customers,
    );
    expect(Number(drift[0]?.n)).toBe(0);
    const paidBalances = await selectRows<{ n: number }>(
      ds,
      `SELECT COUNT(*) AS n FROM wallet_accounts WHERE user_id IN (${marks}) AND balance = 9300`,
      customers,
    );
    expect(Number(paidBalances[0]?.n)).toBe(150);
    // Applying them all again changes nothing: each is found settled.
    const again = await Promise.all(orders.map((o) => apply.run(o)));
    expect(again.every((o) => !o.appliedNow)).toBe(true);
    expect(await stockOf(hot.id)).toBe(0);
  });

  it('batches on the same hot products in opposite orders never deadlock: 40 pairs at once, each allowed a single attempt', async () => {
    // attempts = 1: a deadlock (or lock-wait timeout) would throw instead of being retried quietly.
    const tx = new OrderTransaction(ds, metrics, 1);
    const store = await newStore();
    const hot = await Promise.all([newProduct(store, 100, 1_000), newProduct(store, 100, 1_000), newProduct(store, 100, 1_000)]);
    const pairs = 40;
    const customers = await Promise.all(Array.from({ length: pairs * 6 }, () => newCustomer(10_000)));
    const batchOf = (who: number[], products: readonly (typeof hot)[number][]) =>
      who.map((c, i) => ({ ctx: orderContext(acceptedOrderFor(c, [line(products[i % products.length]!, 1)], { fulfillment: DELIVERY }), OrderStatus.PAID, new Date()), plan: BALANCE_ORDER }));
    const runs = Array.from({ length: pairs }, (_, k) => {
      const who = customers.slice(k * 6, k * 6 + 6);
      // One batch takes the products first to last, the other last to first.
      return [tx.runMany(batchOf(who.slice(0, 3), hot)), tx.runMany(batchOf(who.slice(3), [...hot].reverse()))];
    }).flat();
    const outcomes = await Promise.all(runs);
    expect(outcomes.flat().every((o) => o.kind === 'committed')).toBe(true);
    for (const p of hot) expect(await stockOf(p.id)).toBe(1_000 - pairs * 2);
  });
});
