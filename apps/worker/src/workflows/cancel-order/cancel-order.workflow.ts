import type { DataSource } from 'typeorm';
import { OrderStatus, PaymentMethod, PaymentStatus } from '@bazaar/contracts';
import { inRetryingTransaction, type OrderSettlementRepository, type PointsRepository, type RefundsRepository } from '@bazaar/db';
import { newId, type Logger } from '@bazaar/platform';
import type { AcceptedOrder } from '@bazaar/queue';
import type { PaymentGatewayClient } from '../../gateway/payment-gateway.client';
import { systemClock, type Clock } from '../apply-order/apply-order.workflow';
import { giveBackUnpaidOrder } from '../give-back';
import type { RefundOutcome, RefundWorkflow } from '../refund/refund.workflow';
import { fullCancelKey, settlementRows, voidOpenCharge } from '../order-rows';

export interface CancelOutcome {
  status: OrderStatus;
  /** false when nothing changed (already cancelled, failed, refunded in part, or paid and not the customer's cancel). */
  changed: boolean;
  /** A PAID order is cancelled by a full refund: its outcomes, for the processor to publish. */
  refunds?: RefundOutcome[];
}

/** What the first transaction decided: done (perhaps with a charge to void), or a paid order (cancelled by a refund). */
type FirstStep = { done: CancelOutcome; voidCard?: boolean } | { refundId: string };

export type CancelReason = 'CUSTOMER' | 'EXPIRED' | 'AUDIT';

/**
 * Cancels an order for its customer (or for expiry), giving everything back:
 *
 * - accepted, not yet applied: recorded CANCELLED in MySQL first, so the
 *   waiting apply job finds the key taken and does nothing;
 * - awaiting card payment: CANCELLED with the stock, points and coupon back,
 *   then any charge that went through is cancelled at the gateway;
 * - PAID (the customer's cancel only: an expiry or audit leaves a paid order
 *   alone): a full refund of kind CANCEL through the refund workflow — the
 *   one mechanism that gives money back — after which the order is CANCELLED.
 * FAILED or CANCELLED orders are left as they are; a partly refunded order,
 * or one with a refund still pending, cannot be cancelled (refund the rest).
 */
export class CancelOrderWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly settlement: OrderSettlementRepository,
    private readonly points: PointsRepository,
    private readonly refundRows: RefundsRepository,
    private readonly refunds: RefundWorkflow,
    private readonly gateway: PaymentGatewayClient,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  async run(orderId: string, accepted: AcceptedOrder | null, reason: CancelReason = 'CUSTOMER', requestId = `cancel-${orderId}`): Promise<CancelOutcome> {
    const now = this.clock();
    const repos = { settlement: this.settlement, points: this.points };
    const ref = fullCancelKey(orderId);
    const first = await inRetryingTransaction(
      this.ds,
      async (q): Promise<FirstStep> => {
        const o = await this.settlement.lockOrder(q, orderId);
        if (!o) {
          if (!accepted) return { done: { status: OrderStatus.CANCELLED, changed: false } };
          const { row, lines } = settlementRows(accepted, OrderStatus.CANCELLED);
          await this.settlement.insertOrderRows(q, row, lines);
          return { done: { status: OrderStatus.CANCELLED, changed: true } };
        }
        if (o.status === OrderStatus.PENDING) {
          // Awaiting card payment: stock back now; the charge, if any, is cancelled below (the payment row stays
          // open until the gateway confirms, so a run that dies in between does it again).
          await this.settlement.transition(q, orderId, OrderStatus.PENDING, OrderStatus.CANCELLED);
          await giveBackUnpaidOrder(q, repos, { ...o, orderId }, { ref, now });
          return { done: { status: OrderStatus.CANCELLED, changed: true }, voidCard: true };
        }
        if (o.status === OrderStatus.PAID && reason === 'CUSTOMER') {
          // Its one cancel refund, recorded here (or found, if a cancel recorded it before); applied below.
          const r = await this.refundRows.recordCancel(q, orderId, o.userId, { id: newId(), requestId, createdAt: now });
          return 'refused' in r ? { done: { status: o.status, changed: false } } : { refundId: r.refundId };
        }
        if (o.status !== OrderStatus.PAID) {
          const payment = o.paymentMethod === PaymentMethod.CARD ? await this.settlement.payment(q, orderId) : null;
          const open = payment !== null && (payment.status === PaymentStatus.CONFIRMING || payment.status === PaymentStatus.DONE);
          return {
            done: { status: o.status, changed: false },
            ...(open && o.status !== OrderStatus.PARTIALLY_REFUNDED && o.status !== OrderStatus.REFUNDED ? { voidCard: true } : {}),
          };
        }
        return { done: { status: o.status, changed: false } };
      },
      5,
      'READ COMMITTED',
    );

    if ('done' in first) {
      if (first.voidCard) await this.voidCardCharge(orderId);
      return first.done;
    }
    return this.cancelPaid(orderId, first.refundId);
  }

  /** A PAID order: its cancel refund, applied now under the customer's lock the caller holds. */
  private async cancelPaid(orderId: string, refundId: string): Promise<CancelOutcome> {
    const outcomes = await this.refunds.run(refundId);
    const own = outcomes[outcomes.length - 1]!;
    this.log.info({ orderId, refundId, refund: own.status }, 'paid order cancelled by a full refund');
    return { status: own.orderStatus, changed: own.changed && own.orderStatus === OrderStatus.CANCELLED, refunds: outcomes };
  }

  /** The order is over: any charge that went through goes back, then the payment row says so. */
  async voidCardCharge(orderId: string): Promise<void> {
    const charged = await voidOpenCharge(this.gateway, orderId, 'order cancelled before payment completed');
    if (charged) this.log.info({ orderId, charged: charged.totalAmount }, 'card charge of an order that did not complete is cancelled');
    await inRetryingTransaction(this.ds, (q) =>
      this.settlement.setPayment(q, orderId, charged ? PaymentStatus.CANCELED : PaymentStatus.FAILED, charged?.totalAmount),
    );
  }
}
