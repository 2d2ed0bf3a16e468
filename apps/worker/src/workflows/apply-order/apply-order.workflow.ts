import { OrderStatus, PaymentMethod, type FailureReason } from '@bazaar/contracts';
import type { OrdersRepository } from '@bazaar/db';
import type { Metrics } from '@bazaar/platform';
import type { AcceptedOrder } from '@bazaar/queue';
import { priceAccepted, settlementRows, type ApplyOutcome } from '../order-rows';
import type { CardPaymentWorkflow } from './card-payment.workflow';
import type { OrderBatcher } from './order-batcher';
import type { OrderTransaction, OrderTxPlan } from './order-transaction';
import { orderRowStep } from './steps/1-order-row.step';
import { couponUseStep } from './steps/2-coupon-use.step';
import { pointSpendStep } from './steps/3-point-spend.step';
import { walletDebitStep } from './steps/4-wallet-debit.step';
import { stockStep } from './steps/5-stock.step';
import { rewardLotStep } from './steps/6-reward-lot.step';
import { cartLinesStep } from './steps/7-cart-lines.step';
import { storePartsStep } from './steps/9-store-parts.step';
import type { OrderTxContext } from './steps/order-step';

export type { ApplyOutcome } from '../order-rows';

/** A clock the workflows read their "now" from (tests move it). */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

/**
 * BALANCE: one transaction, in three round trips (order-transaction.ts):
 * open (order row + lines, the point spend's locked read), effects (coupon
 * use, point spend, wallet debit, stock, reward lot, cart lines, store parts), COMMIT —
 * or a refusal recorded FAILED in the same transaction.
 */
export const BALANCE_ORDER: OrderTxPlan = {
  kind: 'balance',
  opening: [orderRowStep],
  effects: [couponUseStep, pointSpendStep, walletDebitStep, stockStep, rewardLotStep, cartLinesStep, storePartsStep],
};

/** An order its own pricing refuses (its coupon does not apply): the order row and lines, FAILED, nothing else. */
export const REFUSED_ORDER: OrderTxPlan = { kind: 'refused', opening: [orderRowStep], effects: [] };

/** The transaction context of an order written in `status`, priced from its frozen terms. */
export function orderContext(order: AcceptedOrder, status: OrderStatus, now: Date, reason: FailureReason | null = null): OrderTxContext {
  const { row, lines, priced } = settlementRows(order, status, reason);
  return { order, row, lines, priced, now, spendPlan: [] };
}

/**
 * Applies an accepted order to MySQL, once: BALANCE in one transaction
 * ({@link BALANCE_ORDER}, shared with other orders when a batcher groups them), CARD through the payment saga
 * (card-payment.workflow.ts). A business refusal (coupon not applicable or
 * unavailable, points, balance or stock short) never throws: the order is
 * recorded FAILED with its reason and the job completes.
 */
export class ApplyOrderWorkflow {
  constructor(
    private readonly tx: OrderTransaction,
    private readonly orders: OrdersRepository,
    private readonly card: CardPaymentWorkflow,
    private readonly clock: Clock = systemClock,
    private readonly metrics?: Pick<Metrics, 'points'>,
    /** BALANCE orders go through it: one transaction for several orders (group commit), or one each. */
    private readonly batcher?: OrderBatcher,
  ) {}

  async run(order: AcceptedOrder): Promise<ApplyOutcome> {
    const refused = refusedByPricing(order);
    if (refused) return recordRefused(this.tx, this.orders, order, refused, this.clock());
    if (order.paymentMethod === PaymentMethod.CARD) return this.card.run(order);

    const ctx = orderContext(order, OrderStatus.PAID, this.clock());
    const outcome = await (this.batcher ? this.batcher.apply(ctx, BALANCE_ORDER) : this.tx.run(ctx, BALANCE_ORDER));
    if (outcome.kind === 'exists') return existingOutcome(this.orders, order.orderId, order);
    if (outcome.kind === 'refused') return { status: OrderStatus.FAILED, reason: outcome.reason, appliedNow: true };
    countPoints(this.metrics, ctx.priced.pointsUsed, ctx.priced.earned);
    return { status: OrderStatus.PAID, reason: null, appliedNow: true };
  }
}

/** The pricing's own refusal (the coupon does not apply to these lines), if any. */
export function refusedByPricing(order: AcceptedOrder): FailureReason | null {
  const priced = priceAccepted(order);
  return priced.ok ? null : priced.reason;
}

/** Records an order its pricing refused: FAILED with the reason, in one transaction. */
export async function recordRefused(
  tx: OrderTransaction,
  orders: OrdersRepository,
  order: AcceptedOrder,
  reason: FailureReason,
  now: Date,
): Promise<ApplyOutcome> {
  const outcome = await tx.run(orderContext(order, OrderStatus.FAILED, now, reason), REFUSED_ORDER);
  if (outcome.kind === 'exists') return existingOutcome(orders, order.orderId, order);
  return { status: OrderStatus.FAILED, reason, appliedNow: true };
}

export function countPoints(metrics: Pick<Metrics, 'points'> | undefined, spent: number, earned: number): void {
  if (!metrics) return;
  if (spent > 0) metrics.points.inc({ movement: 'spend' }, spent);
  if (earned > 0) metrics.points.inc({ movement: 'earn' }, earned);
}

/**
 * The outcome of an order whose row MySQL refused as a duplicate: its own row (a job that ran again), or, when
 * `order` is given and MySQL holds another order under its idempotency key, a duplicate never applied
 * (ApplyOutcome.duplicateOf), FAILED so that Redis gives its units and coupon back.
 */
export async function existingOutcome(
  orders: OrdersRepository,
  orderId: string,
  order?: Pick<AcceptedOrder, 'userId' | 'idempotencyKey'>,
): Promise<ApplyOutcome> {
  const o = await orders.findSettled(orderId);
  if (!o && order) {
    const first = await orders.idOfKey(order.userId, order.idempotencyKey);
    if (first !== null && first !== orderId) return { status: OrderStatus.FAILED, reason: null, appliedNow: false, duplicateOf: first };
  }
  if (!o) throw new Error(`order ${orderId} reported settled but not found`);
  return { status: o.status, reason: o.failureReason, appliedNow: false };
}
