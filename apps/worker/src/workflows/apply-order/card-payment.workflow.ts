import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus, PaymentStatus } from '@bazaar/contracts';
import { OrderSettlementRepository, inRetryingTransaction, type OrdersRepository, type PointsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import type { AcceptedOrder } from '@bazaar/queue';
import {
  GatewayRequestError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  PaymentAlreadyProcessedError,
  PaymentDeclinedError,
  type GatewayPayment,
  type PaymentGatewayClient,
} from '../../gateway/payment-gateway.client';
import { giveBackUnpaidOrder } from '../give-back';
import { settlementRows, voidOpenCharge, type ApplyOutcome } from '../order-rows';
import { countPoints, existingOutcome, orderContext, systemClock, type Clock } from './apply-order.workflow';
import type { OrderTransaction, OrderTxPlan } from './order-transaction';
import { orderRowStep } from './steps/1-order-row.step';
import { couponUseStep } from './steps/2-coupon-use.step';
import { pointSpendStep } from './steps/3-point-spend.step';
import { stockStep } from './steps/5-stock.step';
import { rewardLotStep } from './steps/6-reward-lot.step';
import { cartLinesStep } from './steps/7-cart-lines.step';
import { paymentRowStep } from './steps/8-payment-row.step';
import { storePartsStep } from './steps/9-store-parts.step';

/** The payment could not be settled either way yet: the job retries later; the order stays reserved. */
export class PaymentUndecidedError extends Error {}

/**
 * The saga's reservation, one transaction in three round trips: the order
 * (PENDING) with its lines and payment row, then the coupon use, point spend
 * and stock — the same steps as a balance order, without the wallet.
 */
export const CARD_RESERVE: OrderTxPlan = {
  kind: 'card_reserve',
  opening: [orderRowStep, paymentRowStep],
  effects: [couponUseStep, pointSpendStep, stockStep],
};

/** After the charge: PENDING → PAID with the payment DONE (the guard), then the reward lot and the cart lines. */
const CARD_COMMIT_STEPS = [rewardLotStep, cartLinesStep, storePartsStep];

/**
 * CARD orders are a saga, each step idempotent so a job that runs again
 * resumes where the last run stopped:
 *
 * 1. reserve — one MySQL transaction ({@link CARD_RESERVE}): the order
 *    (awaiting payment, status PENDING), its lines, the payment row
 *    (CONFIRMING), the coupon use, the point spend and the stock.
 * 2. confirm at the gateway, outside any transaction. A decline compensates
 *    (stock, points and coupon back, FAILED / PAYMENT_DECLINED). A timeout or an outage looks the
 *    payment up before deciding: charged → go on; not charged → try again
 *    later (the order stays reserved; expiry ends it if it never resolves).
 * 3. commit PAID with the reward lot (an order from the cart: its lines
 *    leave the cart in the same transaction) — if MySQL then fails, or the order was cancelled meanwhile,
 *    the charge is cancelled at the gateway (one idempotency key for every
 *    full cancellation of the order), and a later run compensates.
 *
 * No path leaves money taken without a PAID order, or a PAID order without money.
 */
export class CardPaymentWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly tx: OrderTransaction,
    private readonly repos: { settlement: OrderSettlementRepository; points: PointsRepository; orders: OrdersRepository },
    private readonly gateway: PaymentGatewayClient,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly metrics?: Pick<Metrics, 'points'>,
  ) {}

  async run(order: AcceptedOrder): Promise<ApplyOutcome> {
    const paymentKey = order.paymentKey;
    if (!paymentKey) return this.refuseWithoutPayment(order);
    const reserved = await this.reserve(order);
    if (reserved !== 'reserved' && reserved !== 'resume') return reserved;
    const amount = settlementRows(order, OrderStatus.PENDING).row.cashPaid;

    const payment = await this.confirm(order.orderId, paymentKey, amount);
    if (payment === 'declined') return this.compensate(order.orderId, FailureReason.PAYMENT_DECLINED);
    if (payment === 'error') return this.compensate(order.orderId, FailureReason.PAYMENT_ERROR);
    if (payment.status !== 'DONE' || payment.totalAmount !== amount || payment.orderId !== order.orderId) {
      // Cancelled at the gateway (a void by an earlier run after a MySQL failure), or not the charge we asked for.
      if (payment.status === 'DONE') await this.voidCharge(order.orderId);
      return this.compensate(order.orderId, FailureReason.PAYMENT_ERROR, PaymentStatus.CANCELED);
    }
    return this.commitPaid(order);
  }

  /** Step 1. 'resume' when an earlier run reserved it and the payment is still open. */
  private async reserve(order: AcceptedOrder): Promise<'reserved' | 'resume' | ApplyOutcome> {
    const outcome = await this.tx.run(orderContext(order, OrderStatus.PENDING, this.clock()), CARD_RESERVE);
    if (outcome.kind === 'committed') return 'reserved';
    if (outcome.kind === 'refused') return { status: OrderStatus.FAILED, reason: outcome.reason, appliedNow: true };
    const existing = await this.repos.orders.findSettled(order.orderId);
    if (existing?.status === OrderStatus.PENDING) return 'resume';
    return existingOutcome(this.repos.orders, order.orderId);
  }

  /** Step 2: the gateway's answer, looked up when the confirm's own answer was lost. */
  private async confirm(orderId: string, paymentKey: string, amount: number): Promise<GatewayPayment | 'declined' | 'error'> {
    try {
      return await this.gateway.confirm({ paymentKey, orderId, amount });
    } catch (err) {
      if (err instanceof PaymentDeclinedError) {
        this.log.info({ orderId, code: err.code }, 'card declined');
        return 'declined';
      }
      if (err instanceof PaymentAlreadyProcessedError || err instanceof GatewayTimeoutError || err instanceof GatewayUnavailableError) {
        // Did the charge happen? Ask before deciding (a lookup that fails too leaves the job to retry).
        const found = await this.lookup(orderId);
        if (found) return found;
        if (err instanceof PaymentAlreadyProcessedError) return 'error';
        throw new PaymentUndecidedError(`payment of order ${orderId} not confirmed yet (${err.message}); will try again`);
      }
      if (err instanceof GatewayRequestError) {
        this.log.warn({ orderId, err: err.message }, 'gateway refused the confirm request');
        return 'error';
      }
      throw err;
    }
  }

  private async lookup(orderId: string): Promise<GatewayPayment | null> {
    try {
      return await this.gateway.findByOrderId(orderId);
    } catch (err) {
      throw new PaymentUndecidedError(`payment of order ${orderId} could not be looked up: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Step 3. */
  private async commitPaid(order: AcceptedOrder): Promise<ApplyOutcome> {
    const orderId = order.orderId;
    const ctx = orderContext(order, OrderStatus.PAID, this.clock());
    let moved: 'committed' | 'moved';
    try {
      moved = await this.tx.runGuarded(
        ctx,
        'card_commit',
        [OrderSettlementRepository.transitionStmt(orderId, OrderStatus.PENDING, OrderStatus.PAID), OrderSettlementRepository.paymentStatus(orderId, PaymentStatus.DONE)],
        CARD_COMMIT_STEPS,
      );
    } catch (err) {
      // Money taken, but the order cannot be recorded PAID: give the money back; a later run compensates the order.
      this.log.error({ orderId, err }, 'MySQL failed after the card was charged; cancelling the charge');
      await this.voidCharge(orderId);
      throw err;
    }
    if (moved === 'moved') {
      const now = await existingOutcome(this.repos.orders, orderId);
      // Another run of this job got there first: the charge is that order's. Otherwise the order was cancelled
      // or expired while we were at the gateway: that path gave the rest back; the money goes back too.
      if (now.status !== OrderStatus.PAID) await this.voidCharge(orderId);
      return now;
    }
    countPoints(this.metrics, ctx.priced.pointsUsed, ctx.priced.earned);
    return { status: OrderStatus.PAID, reason: null, appliedNow: true };
  }

  /** Compensation: the reserved stock, points and coupon go back, the order FAILED with its reason. */
  private async compensate(orderId: string, reason: FailureReason, paymentStatus: PaymentStatus = PaymentStatus.FAILED): Promise<ApplyOutcome> {
    const now = this.clock();
    const moved = await inRetryingTransaction(this.ds, async (q) => {
      const o = await this.repos.settlement.lockOrder(q, orderId);
      if (!o || o.status !== OrderStatus.PENDING) return false;
      // FAILED, its lines earning nothing (the reward was never credited: it comes with PAID).
      await this.repos.settlement.run(q, OrderSettlementRepository.markFailed(orderId, OrderStatus.PENDING, reason));
      await giveBackUnpaidOrder(q, this.repos, { ...o, orderId }, { ref: `fail-${orderId}`, now });
      await this.repos.settlement.setPayment(q, orderId, paymentStatus);
      return true;
    });
    if (!moved) return existingOutcome(this.repos.orders, orderId);
    return { status: OrderStatus.FAILED, reason, appliedNow: true };
  }

  private async voidCharge(orderId: string): Promise<void> {
    await voidOpenCharge(this.gateway, orderId, 'order could not be completed');
  }

  /** A CARD order without a paymentKey cannot be accepted by the API; recorded FAILED if one ever arrives. */
  private async refuseWithoutPayment(order: AcceptedOrder): Promise<ApplyOutcome> {
    const { row, lines } = settlementRows(order, OrderStatus.FAILED, FailureReason.PAYMENT_ERROR);
    const inserted = await inRetryingTransaction(this.ds, (q) => this.repos.settlement.insertOrderRows(q, row, lines));
    if (!inserted) return existingOutcome(this.repos.orders, order.orderId);
    return { status: OrderStatus.FAILED, reason: FailureReason.PAYMENT_ERROR, appliedNow: true };
  }
}
