import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus, PaymentStatus } from '@bazaar/contracts';
import { OrderSettlementRepository, inRetryingTransaction, type BillingKeysRepository, type OrdersRepository, type PointsRepository } from '@bazaar/db';
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
import { billingPaymentKeyStep } from './steps/10-billing-payment-key.step';

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

/**
 * After the charge: PENDING → PAID with the payment DONE (the guard), then the reward lot, the cart lines and
 * the store parts; a billing charge's payment row also takes the gateway's paymentKey.
 */
const CARD_COMMIT_STEPS = [rewardLotStep, cartLinesStep, storePartsStep, billingPaymentKeyStep];

/** What a billing charge shows on the customer's statement: the first line's name, "외 N건" for the others (Toss's orderName, 1 to 100 characters). */
export function billingOrderName(order: AcceptedOrder): string {
  const [first] = order.lines;
  const name = (first?.name ?? '').trim() || 'order';
  const more = order.lines.length > 1 ? ` 외 ${order.lines.length - 1}건` : '';
  return `${name.slice(0, 100 - more.length)}${more}`;
}

/** How the gateway is asked for the money: confirm a paymentKey, or charge a billing key. */
type Charge = (orderId: string, amount: number, resumed: boolean) => Promise<GatewayPayment | 'declined' | 'error'>;

/**
 * CARD orders are a saga, each step idempotent so a job that runs again
 * resumes where the last run stopped:
 *
 * 1. reserve — one MySQL transaction ({@link CARD_RESERVE}): the order
 *    (awaiting payment, status PENDING), its lines, the payment row
 *    (CONFIRMING), the coupon use, the point spend and the stock.
 * 2. charge at the gateway, outside any transaction: confirm the order's
 *    paymentKey, or (a subscription's cycle) charge its billing key, with
 *    the customerKey of an ACTIVE key of the order's customer, under the
 *    order's Idempotency-Key. A decline compensates (stock, points and
 *    coupon back, FAILED / PAYMENT_DECLINED). A timeout or an outage looks
 *    the payment up before deciding: charged → go on; not charged → try
 *    again later (the order stays reserved; expiry ends it if it never
 *    resolves). A billing charge that runs again (a retried job) looks the
 *    order up first and charges only when the gateway has no payment for it;
 *    its Idempotency-Key and the gateway's one-charge-per-orderId make even
 *    a second request charge nothing.
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
    private readonly repos: { settlement: OrderSettlementRepository; points: PointsRepository; orders: OrdersRepository; billingKeys: BillingKeysRepository },
    private readonly gateway: PaymentGatewayClient,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly metrics?: Pick<Metrics, 'points'>,
  ) {}

  async run(order: AcceptedOrder): Promise<ApplyOutcome> {
    const charge = this.chargeOf(order);
    if (!charge) return this.refuseWithoutPayment(order);
    const reserved = await this.reserve(order);
    if (reserved !== 'reserved' && reserved !== 'resume') return reserved;
    const amount = settlementRows(order, OrderStatus.PENDING).row.cashPaid;

    const payment = await charge(order.orderId, amount, reserved === 'resume');
    if (payment === 'declined') return this.compensate(order.orderId, FailureReason.PAYMENT_DECLINED);
    if (payment === 'error') return this.compensate(order.orderId, FailureReason.PAYMENT_ERROR);
    if (payment.status !== 'DONE' || payment.totalAmount !== amount || payment.orderId !== order.orderId) {
      // Cancelled at the gateway (a void by an earlier run after a MySQL failure), or not the charge we asked for.
      if (payment.status === 'DONE') await this.voidCharge(order.orderId);
      return this.compensate(order.orderId, FailureReason.PAYMENT_ERROR, PaymentStatus.CANCELED);
    }
    // A billing charge's commit records the paymentKey the gateway gave it.
    return this.commitPaid(order.billingKey === undefined ? order : { ...order, paymentKey: payment.paymentKey });
  }

  /** Step 2's request for this order: confirm its paymentKey, charge its billing key, or null when it has neither. */
  private chargeOf(order: AcceptedOrder): Charge | null {
    const { paymentKey, billingKey } = order;
    if (paymentKey) return (orderId, amount) => this.confirm(orderId, paymentKey, amount);
    if (billingKey) return (orderId, amount, resumed) => this.chargeBillingKey(order, billingKey, amount, resumed);
    return null;
  }

  /** Step 1. 'resume' when an earlier run reserved it and the payment is still open. */
  private async reserve(order: AcceptedOrder): Promise<'reserved' | 'resume' | ApplyOutcome> {
    const outcome = await this.tx.run(orderContext(order, OrderStatus.PENDING, this.clock()), CARD_RESERVE);
    if (outcome.kind === 'committed') return 'reserved';
    if (outcome.kind === 'refused') return { status: OrderStatus.FAILED, reason: outcome.reason, appliedNow: true };
    const existing = await this.repos.orders.findSettled(order.orderId);
    if (existing?.status === OrderStatus.PENDING) return 'resume';
    return existingOutcome(this.repos.orders, order.orderId, order);
  }

  /** Step 2 (paymentKey): the gateway's answer, looked up when the confirm's own answer was lost. */
  private async confirm(orderId: string, paymentKey: string, amount: number): Promise<GatewayPayment | 'declined' | 'error'> {
    return this.settleCharge(orderId, 'confirm', () => this.gateway.confirm({ paymentKey, orderId, amount }));
  }

  /**
   * Step 2 (billing key): a run after one that may have charged (a retried job) asks the gateway first; the
   * key must still be an ACTIVE key of the order's customer (a deleted or foreign one → PAYMENT_ERROR, nothing
   * sent); then the charge, under the order's Idempotency-Key. The gateway refusing the orderId as already
   * charged (DUPLICATED_ORDER_ID) means "look it up", as ALREADY_PROCESSED_PAYMENT does for a confirm.
   */
  private async chargeBillingKey(order: AcceptedOrder, billingKey: string, amount: number, resumed: boolean): Promise<GatewayPayment | 'declined' | 'error'> {
    const orderId = order.orderId;
    if (resumed) {
      const found = await this.lookup(orderId);
      if (found) return found;
    }
    const key = await this.repos.billingKeys.activeKey(order.userId, billingKey);
    if (!key) {
      this.log.warn({ orderId }, 'billing key is not an active key of the customer; nothing charged');
      return 'error';
    }
    return this.settleCharge(orderId, 'billing', () =>
      this.gateway.chargeBillingKey(billingKey, { customerKey: key.customerKey, amount, orderId, orderName: billingOrderName(order) }),
    );
  }

  /** The charge's answer: the payment, a decline, a refusal ('error'); looked up when the answer was lost or the gateway says it was already made. */
  private async settleCharge(
    orderId: string,
    kind: 'confirm' | 'billing',
    send: () => Promise<GatewayPayment>,
  ): Promise<GatewayPayment | 'declined' | 'error'> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof PaymentDeclinedError) {
        this.log.info({ orderId, code: err.code }, 'card declined');
        return 'declined';
      }
      const alreadyMade =
        err instanceof PaymentAlreadyProcessedError || (kind === 'billing' && err instanceof GatewayRequestError && err.code === 'DUPLICATED_ORDER_ID');
      if (alreadyMade || err instanceof GatewayTimeoutError || err instanceof GatewayUnavailableError) {
        // Did the charge happen? Ask before deciding (a lookup that fails too leaves the job to retry).
        const found = await this.lookup(orderId);
        if (found) return found;
        if (alreadyMade) return 'error';
        throw new PaymentUndecidedError(`payment of order ${orderId} not confirmed yet (${(err as Error).message}); will try again`);
      }
      if (err instanceof GatewayRequestError) {
        this.log.warn(
          { orderId, code: err.code, err: err.message },
          kind === 'confirm' ? 'gateway refused the confirm request' : 'gateway refused the billing charge',
        );
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
        [
          OrderSettlementRepository.transitionStmt(orderId, OrderStatus.PENDING, OrderStatus.PAID),
          OrderSettlementRepository.paymentStatus(orderId, PaymentStatus.DONE),
        ],
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

  /** A CARD order with neither a paymentKey nor a billing key cannot be accepted by the API; recorded FAILED if one ever arrives. */
  private async refuseWithoutPayment(order: AcceptedOrder): Promise<ApplyOutcome> {
    const { row, lines } = settlementRows(order, OrderStatus.FAILED, FailureReason.PAYMENT_ERROR);
    const inserted = await inRetryingTransaction(this.ds, (q) => this.repos.settlement.insertOrderRows(q, row, lines));
    if (!inserted) return existingOutcome(this.repos.orders, order.orderId, order);
    return { status: OrderStatus.FAILED, reason: FailureReason.PAYMENT_ERROR, appliedNow: true };
  }
}
