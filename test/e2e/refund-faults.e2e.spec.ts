import { OrderStatus, RefundFailureReason, RefundStatus, type OrderView, type RefundView } from '@bazaar/contracts';
import { selectRows } from '@bazaar/db';
import type { FakeGateway } from '@bazaar/fake-gateway';
import { DELIVERY, eventually, type TestApi } from '../support/api-harness';
import { balanceFromLedger, ledgerProblems, moneyFixtures } from '../support/money-fixtures';
import type { RunningProcess } from '../support/processes';
import {
  cardBookProblems,
  freshKey,
  gatewayControls,
  startRefundFleet,
  storeWith,
  type RefundFleet,
  type CancelAttempt,
  type Client,
} from '../support/refund-fixtures';

const DAY = 86_400_000;
/** The workers' gateway client: 500 ms per HTTP attempt, one retry of its own; then BullMQ retries the job (3 attempts), then the reconciler. */
const PAYMENT_TIMEOUT_MS = 500;
const JOB_ATTEMPTS = 3;

/**
 * Card refunds against a misbehaving gateway (money.md §4.6, api.md
 * "Failures"): 5xx, a cancel applied but answered after the worker's
 * timeout, a cancel applied whose connection dropped, a refusal, a gateway
 * down for a while, and two refunds of one order behind a fault. Every
 * refund ends COMPLETED exactly once, or FAILED with nothing given back,
 * and the gateway's books agree with ours to the won.
 *
 * Two real worker processes (the gateway client's own retries, then
 * BullMQ's) and a scheduler (reconcile-refunds retries a job that ran out of
 * attempts while the gateway was down); the api in this process.
 */
describe('card refunds when the gateway misbehaves', () => {
  jest.setTimeout(90_000);
  let fleet: RefundFleet;
  let api: TestApi;
  let gw: FakeGateway;
  let scheduler: RunningProcess;
  const fx = moneyFixtures(() => api);
  const gateway = gatewayControls(() => gw.url);

  beforeAll(async () => {
    fleet = await startRefundFleet('rfaults', {
      workers: 2,
      api: { ORDER_JOB_ATTEMPTS: String(JOB_ATTEMPTS) },
      worker: {
        WORKER_CONCURRENCY: '8',
        WORKER_LOCK_MS: '5000',
        CUSTOMER_LOCK_MS: '5000',
        ORDER_JOB_ATTEMPTS: String(JOB_ATTEMPTS),
        PAYMENT_TIMEOUT_MS: String(PAYMENT_TIMEOUT_MS),
        PAYMENT_RETRIES: '1',
        PAYMENT_BREAKER_RESET_MS: '1000',
      },
      scheduler: { ORDER_JOB_ATTEMPTS: String(JOB_ATTEMPTS), RECONCILE_AFTER_SECONDS: '2' },
    });
    ({ api, gw, scheduler } = fleet);
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  const paid = (client: Client, orderId: string) =>
    eventually(
      () => client.orders.get.query({ orderId }),
      (v) => v.status !== OrderStatus.PENDING,
      30_000,
    );

  const settled = (client: Client, refundId: string, timeoutMs = 30_000) =>
    eventually(
      () => client.refunds.get.query({ refundId }),
      (r) => r.status !== RefundStatus.PENDING,
      timeoutMs,
      100,
    );

  /** A customer's card order of `quantity` units of one product, paid (points used when given, from a grant). */
  async function cardOrder(opts: { price: number; quantity: number; points?: number }) {
    const { products } = await storeWith(fx, [{ name: 'fault item', price: opts.price, stock: 50 }]);
    const product = products[0]!;
    const customer = await fx.customer(10_000);
    const points = opts.points ?? 0;
    if (points > 0) {
      const admin = await fx.admin();
      await admin.client.points.grant.mutate({
        userId: customer.id,
        amount: points,
        expiresAt: new Date(Date.now() + 30 * DAY).toISOString(),
        reason: 'faults',
      });
    }
    const cash = opts.price * opts.quantity - points;
    const paymentKey = await gateway.mint(cash);
    const placed = await customer.client.orders.place.mutate({
      idempotencyKey: freshKey('fault-order'),
      items: [{ productId: product.id, quantity: opts.quantity }],
      ...(points > 0 ? { points } : {}),
      paymentMethod: 'CARD',
      paymentKey,
      fulfillment: DELIVERY,
    });
    const order = await paid(customer.client, placed.orderId);
    expect(order).toMatchObject({ status: OrderStatus.PAID, cashPaid: cash, pointsUsed: points });
    return { customer, product, paymentKey, order, orderId: placed.orderId, line: order.items[0]!.orderItemId! };
  }

  const request = async (client: Client, orderId: string, orderItemId: number, quantity: number) => {
    const r = await client.refunds.request.mutate({ orderId, idempotencyKey: freshKey('fault-refund'), items: [{ orderItemId, quantity }] });
    expect(r.status).toBe(RefundStatus.PENDING);
    return r.refundId;
  };

  const attemptsOf = async (orderId: string, refundId: string): Promise<CancelAttempt[]> =>
    (await gateway.ledger(orderId)).cancelAttempts.filter((a) => a.idempotencyKey === refundId);

  /** The gateway and our books agree for the order, and orders.get shows what its completed refunds gave back. */
  async function expectBooksAgree(client: Client, orderId: string): Promise<OrderView> {
    expect(await cardBookProblems(api.deps.ds, await gateway.ledger(orderId), [orderId])).toEqual([]);
    const refunds = (await client.refunds.list.query({ orderId })).items.filter((r) => r.status === RefundStatus.COMPLETED);
    const sum = (f: (r: RefundView) => number | null) => refunds.reduce((s, r) => s + (f(r) ?? 0), 0);
    const view = await client.orders.get.query({ orderId });
    expect(view.refunded).toEqual({
      cash: sum((r) => r.cash),
      points: sum((r) => r.points),
      clawback: sum((r) => r.clawback),
      cashReturned: sum((r) => r.cashReturned),
    });
    expect(view.items.reduce((s, i) => s + i.refundedQuantity, 0)).toBe(refunds.reduce((s, r) => s + r.items.reduce((t, i) => t + i.quantity, 0), 0));
    return view;
  }

  /** Everything a refund could change, for a "nothing applied" comparison. */
  async function books(customer: { id: number; client: Client }, orderId: string, productId: number) {
    const q = <T>(sql: string, params: unknown[]) => selectRows<T & Record<string, unknown>>(api.deps.ds, sql, params);
    const ledger = await gateway.ledger(orderId);
    return {
      points: (await customer.client.points.balance.query()).balance,
      lots: (await q<{ id: number; remaining: number }>('SELECT id, remaining FROM point_lots WHERE user_id = ? ORDER BY id', [customer.id])).map((l) => [
        Number(l.id),
        Number(l.remaining),
      ]),
      movements: (await q<{ n: number }>('SELECT COUNT(*) n FROM point_movements m JOIN point_lots l ON l.id = m.lot_id WHERE l.user_id = ?', [customer.id]))
        .map((r) => Number(r.n))
        .pop(),
      wallet: await customer.client.wallet.balance.query(),
      walletEntries: (await q<{ n: number }>('SELECT COUNT(*) n FROM wallet_entries WHERE user_id = ?', [customer.id])).map((r) => Number(r.n)).pop(),
      stock: (await q<{ stock: number }>('SELECT stock FROM products WHERE id = ?', [productId])).map((r) => Number(r.stock)).pop(),
      gate: await api.deps.gate.available(productId),
      order: (await q<{ status: string; cash_refunded: number }>('SELECT status, cash_refunded FROM orders WHERE id = ?', [orderId])).map((r) => [
        r.status,
        Number(r.cash_refunded),
      ]),
      lines: (
        await q<{ r: number; p: number }>('SELECT refunded_quantity r, refund_pending_quantity p FROM order_items WHERE order_id = ? ORDER BY line_no', [
          orderId,
        ])
      ).map((l) => [Number(l.r), Number(l.p)]),
      payment: (await q<{ status: string; canceled_amount: number }>('SELECT status, canceled_amount FROM payments WHERE order_id = ?', [orderId])).map((r) => [
        r.status,
        Number(r.canceled_amount),
      ]),
      gatewayBalance: ledger.payments.map((p) => [p.status, p.balanceAmount]),
      applied: ledger.cancels.length,
    };
  }

  it('retries a cancel that met 500 twice (the client, then BullMQ) and completes it once', async () => {
    const o = await cardOrder({ price: 7_000, quantity: 3 });
    await gateway.cancelFault(o.paymentKey, 'fail5xx', { times: 2 });
    const refundId = await request(o.customer.client, o.orderId, o.line, 1);
    const done = await settled(o.customer.client, refundId);
    expect(done).toMatchObject({ status: RefundStatus.COMPLETED, cash: 7_000, cashReturned: 7_000, failureReason: null, failureCode: null });

    // Two 500s (the client's attempt and its one retry: that job attempt failed), then the cancel, applied once.
    const attempts = await attemptsOf(o.orderId, refundId);
    expect(attempts.slice(0, 3).map((a) => [a.status, a.replayed])).toEqual([
      [500, false],
      [500, false],
      [200, false],
    ]);
    expect(attempts.slice(3).every((a) => a.status === 200 && a.replayed)).toBe(true);
    const job = await api.deps.refundsQueue.getJob(refundId);
    expect(job?.attemptsStarted).toBeGreaterThanOrEqual(2);
    const view = await expectBooksAgree(o.customer.client, o.orderId);
    expect(view).toMatchObject({ status: OrderStatus.PARTIALLY_REFUNDED, refunded: { cash: 7_000, cashReturned: 7_000 } });
    expect((await gateway.ledger(o.orderId)).payments[0]).toMatchObject({ balanceAmount: 14_000, status: 'PARTIAL_CANCELED' });
  });

  it('re-sends a cancel that was applied but answered after the timeout under the same key, and completes it once', async () => {
    const o = await cardOrder({ price: 5_500, quantity: 4 });
    await gateway.cancelFault(o.paymentKey, 'slow', { delayMs: PAYMENT_TIMEOUT_MS * 4 });
    const refundId = await request(o.customer.client, o.orderId, o.line, 2);
    const done = await settled(o.customer.client, refundId);
    expect(done).toMatchObject({ status: RefundStatus.COMPLETED, cashReturned: 11_000 });

    // The first cancel was applied (answered too late); every later one with the same key got its result replayed.
    const attempts = await attemptsOf(o.orderId, refundId);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts[0]).toMatchObject({ status: 200, replayed: false, amount: 11_000 });
    expect(attempts.slice(1).every((a) => a.status === 200 && a.replayed)).toBe(true);
    const ledger = await gateway.ledger(o.orderId);
    expect(ledger.cancels).toHaveLength(1);
    expect(ledger.payments[0]).toMatchObject({ balanceAmount: 11_000, status: 'PARTIAL_CANCELED' });
    await expectBooksAgree(o.customer.client, o.orderId);
  });

  it('re-sends a cancel whose connection dropped after it was applied, and completes it once', async () => {
    const o = await cardOrder({ price: 3_000, quantity: 2 });
    await gateway.cancelFault(o.paymentKey, 'lost');
    const refundId = await request(o.customer.client, o.orderId, o.line, 1);
    const done = await settled(o.customer.client, refundId);
    expect(done).toMatchObject({ status: RefundStatus.COMPLETED, cashReturned: 3_000 });

    const attempts = await attemptsOf(o.orderId, refundId);
    expect(attempts[0]).toMatchObject({ status: null, replayed: false });
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.slice(1).every((a) => a.status === 200 && a.replayed)).toBe(true);
    expect((await gateway.ledger(o.orderId)).cancels).toHaveLength(1);
    await expectBooksAgree(o.customer.client, o.orderId);

    // The rest of the order, no fault: REFUNDED, the card fully cancelled.
    const rest = await settled(o.customer.client, await request(o.customer.client, o.orderId, o.line, 1));
    expect(rest).toMatchObject({ status: RefundStatus.COMPLETED, cashReturned: 3_000 });
    const view = await expectBooksAgree(o.customer.client, o.orderId);
    expect(view).toMatchObject({ status: OrderStatus.REFUNDED, refunded: { cash: 6_000, cashReturned: 6_000 } });
    expect((await gateway.ledger(o.orderId)).payments[0]).toMatchObject({ balanceAmount: 0, status: 'CANCELED' });
  });

  it('fails a refund the gateway refuses with nothing given back, and lets the same units be refunded again', async () => {
    // 3 × 10,000 with 3,000 points: 27,000 by card, 270 points earned. One unit: 9,000 cash, 1,000 points, 90 clawed back.
    const o = await cardOrder({ price: 10_000, quantity: 3, points: 3_000 });
    expect(o.order.pointsEarned).toBe(270);
    await gateway.cancelFault(o.paymentKey, 'decline');
    const before = await books(o.customer, o.orderId, o.product.id);
    expect(before).toMatchObject({ points: 270, stock: 47, gate: 47, order: [['PAID', 0]], lines: [[0, 0]], payment: [['DONE', 0]], applied: 0 });

    const refundId = await request(o.customer.client, o.orderId, o.line, 1);
    const failed = await settled(o.customer.client, refundId);
    expect(failed).toMatchObject({
      status: RefundStatus.FAILED,
      failureReason: RefundFailureReason.PAYMENT_CANCEL_REFUSED,
      failureCode: 'NOT_CANCELABLE_PAYMENT',
      // Nothing went back: no amounts.
      cash: null,
      points: null,
      clawback: null,
      cashReturned: null,
    });
    expect(failed.items.every((i) => i.cash === null && i.points === null && i.clawback === null)).toBe(true);
    expect(failed.completedAt).not.toBeNull();
    expect((await o.customer.client.refunds.list.query({ orderId: o.orderId })).items).toMatchObject([
      { id: refundId, status: RefundStatus.FAILED, failureReason: RefundFailureReason.PAYMENT_CANCEL_REFUSED, failureCode: 'NOT_CANCELABLE_PAYMENT' },
    ]);
    const attempts = await attemptsOf(o.orderId, refundId);
    expect(attempts[0]).toMatchObject({ status: 400, code: 'NOT_CANCELABLE_PAYMENT', replayed: false });
    // Nothing moved: points, lots, wallet, stock (MySQL and the gate), units, the order, the payment, the gateway.
    expect(await books(o.customer, o.orderId, o.product.id)).toEqual(before);
    const view = await expectBooksAgree(o.customer.client, o.orderId);
    expect(view).toMatchObject({ status: OrderStatus.PAID, refunded: { cash: 0, points: 0, clawback: 0, cashReturned: 0 } });
    expect(view.items[0]).toMatchObject({ refundedQuantity: 0, refunded: { cash: 0, points: 0, clawback: 0 } });
    expect(await ledgerProblems(api.deps.ds, [o.customer.id])).toEqual([]);

    // The same unit again, the switch cleared: it completes, priced as if the first had never been.
    await gateway.cancelFault(o.paymentKey, 'clear');
    const again = await settled(o.customer.client, await request(o.customer.client, o.orderId, o.line, 1));
    expect(again).toMatchObject({ status: RefundStatus.COMPLETED, cash: 9_000, points: 1_000, clawback: 90, clawbackFromCash: 0, cashReturned: 9_000 });
    const after = await expectBooksAgree(o.customer.client, o.orderId);
    expect(after).toMatchObject({ status: OrderStatus.PARTIALLY_REFUNDED, refunded: { cash: 9_000, points: 1_000, clawback: 90, cashReturned: 9_000 } });
    expect(await books(o.customer, o.orderId, o.product.id)).toMatchObject({
      points: 270 + 1_000 - 90,
      stock: 48,
      gate: 48,
      order: [['PARTIALLY_REFUNDED', 9_000]],
      lines: [[1, 0]],
      payment: [['PARTIAL_CANCELED', 9_000]],
      gatewayBalance: [['PARTIAL_CANCELED', 18_000]],
      applied: 1,
      wallet: before.wallet,
      walletEntries: before.walletEntries,
    });
    expect(await ledgerProblems(api.deps.ds, [o.customer.id])).toEqual([]);
    expect(await o.customer.client.points.balance.query()).toEqual({ balance: await balanceFromLedger(api.deps.ds, o.customer.id) });
  });

  it('keeps a refund PENDING with nothing applied while the gateway is down, then completes it once when it recovers', async () => {
    const o = await cardOrder({ price: 4_000, quantity: 2 });
    await gateway.cancelFault(o.paymentKey, 'fail5xx', { times: 1_000 });
    const before = await books(o.customer, o.orderId, o.product.id);
    const refundId = await request(o.customer.client, o.orderId, o.line, 1);

    // Down for 6 s: longer than the job's attempts last (3, with 0.5 s and 1 s backoff), so the reconciler retries it.
    const downUntil = Date.now() + 6_000;
    while (Date.now() < downUntil) {
      const r = await o.customer.client.refunds.get.query({ refundId });
      expect(r.status).toBe(RefundStatus.PENDING);
      const now = await books(o.customer, o.orderId, o.product.id);
      expect({ ...now, lines: undefined }).toEqual({ ...before, lines: undefined });
      expect(now.lines).toEqual([[0, 1]]); // the unit is held by the pending refund, not refunded
      await new Promise((res) => setTimeout(res, 500));
    }
    const during = await attemptsOf(o.orderId, refundId);
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.every((a) => a.status === 500)).toBe(true);
    await eventually(
      async () => scheduler.logs.filter((l) => l.includes(refundId) && l.includes('retrying a failed refund job')).length,
      (n) => n > 0,
      5_000,
    );

    await gateway.cancelFault(o.paymentKey, 'clear');
    const done = await settled(o.customer.client, refundId, 20_000);
    expect(done).toMatchObject({ status: RefundStatus.COMPLETED, cashReturned: 4_000 });
    const attempts = await attemptsOf(o.orderId, refundId);
    expect(attempts.filter((a) => a.status === 200 && !a.replayed)).toHaveLength(1);
    const view = await expectBooksAgree(o.customer.client, o.orderId);
    expect(view).toMatchObject({ status: OrderStatus.PARTIALLY_REFUNDED, refunded: { cash: 4_000, cashReturned: 4_000 } });
    expect((await gateway.ledger(o.orderId)).payments[0]).toMatchObject({ balanceAmount: 4_000 });
  });

  it('applies two refunds of one card order in the order requested, the first behind a fault', async () => {
    // 5 × 3,000 with 997 points: 14,003 by card. Its cumulative shares are 2,800, 5,601, 8,401, … so the first
    // unit refunded gives back 2,800 and the second 2,801, whichever refund asks for it.
    const o = await cardOrder({ price: 3_000, quantity: 5, points: 997 });
    await gateway.cancelFault(o.paymentKey, 'fail5xx', { times: 3 });
    const first = await request(o.customer.client, o.orderId, o.line, 1);
    const second = await request(o.customer.client, o.orderId, o.line, 1);
    const [a, b] = await Promise.all([settled(o.customer.client, first), settled(o.customer.client, second)]);
    expect(a).toMatchObject({ status: RefundStatus.COMPLETED, cash: 2_800, cashReturned: 2_800 });
    expect(b).toMatchObject({ status: RefundStatus.COMPLETED, cash: 2_801, cashReturned: 2_801 });
    expect(Date.parse(a.completedAt!)).toBeLessThanOrEqual(Date.parse(b.completedAt!));

    // The gateway saw the first refund's cancel go through before the second's, each once, each on the balance left.
    const ledger = await gateway.ledger(o.orderId);
    expect(ledger.cancels.map((c) => [c.idempotencyKey, c.amount])).toEqual([
      [first, 2_800],
      [second, 2_801],
    ]);
    expect(ledger.payments[0]!.cancels.map((c) => [c.cancelAmount, c.refundableAmount])).toEqual([
      [2_800, 11_203],
      [2_801, 8_402],
    ]);
    const firstOk = ledger.cancelAttempts.findIndex((x) => x.idempotencyKey === first && x.status === 200);
    const secondAny = ledger.cancelAttempts.findIndex((x) => x.idempotencyKey === second);
    expect(firstOk).toBeGreaterThanOrEqual(0);
    expect(secondAny).toBeGreaterThan(firstOk);
    expect(ledger.cancelAttempts.filter((x) => x.status === 500).every((x) => x.idempotencyKey === first)).toBe(true);
    const before = await selectRows<{ refund_id: string; refunded_before: number }>(
      api.deps.ds,
      'SELECT refund_id, refunded_before FROM refund_items WHERE refund_id IN (?, ?) ORDER BY refund_id',
      [first, second],
    );
    expect(before.map((r) => [r.refund_id, Number(r.refunded_before)])).toEqual([
      [first, 0],
      [second, 1],
    ]);
    const view = await expectBooksAgree(o.customer.client, o.orderId);
    expect(view).toMatchObject({ status: OrderStatus.PARTIALLY_REFUNDED, refunded: { cash: 5_601, cashReturned: 5_601 } });
    expect(ledger.payments[0]).toMatchObject({ balanceAmount: 14_003 - 5_601 });
    expect(await ledgerProblems(api.deps.ds, [o.customer.id])).toEqual([]);
  });
});
