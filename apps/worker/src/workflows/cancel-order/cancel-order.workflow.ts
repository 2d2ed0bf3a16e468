import type { DataSource } from 'typeorm';
import { OrderStatus, PaymentMethod, PaymentStatus, WalletEntryKind } from '@bazaar/contracts';
import { inRetryingTransaction, type OrderSettlementRepository, type PointsRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import type { AcceptedOrder, SoldOutGate } from '@bazaar/queue';
import type { PaymentGatewayClient } from '../../gateway/payment-gateway.client';
import { systemClock, type Clock } from '../apply-order/apply-order.workflow';
import { giveBackOrder } from '../give-back';
import { fullCancelKey, settlementRows, voidOpenCharge } from '../order-rows';

export interface CancelOutcome {
  status: OrderStatus;
  /** false when nothing changed (already cancelled, failed, or refunded in part). */
  changed: boolean;
  /** A paid order's coupon that went back to its customer (its window still open): Redis learns it too. */
  couponReturned?: number;
}

/** What the first transaction decided: done (perhaps with a charge to void or units to give the gate), or a paid card order. */
type FirstStep = { done: CancelOutcome; voidCard?: boolean; returnLines?: { productId: number; quantity: number }[] } | { paidByCard: true };

/**
 * Cancels an order for its customer (or for expiry), giving everything back:
 *
 * - accepted, not yet applied: recorded CANCELLED in MySQL first, so the
 *   waiting apply job finds the key taken and does nothing;
 * - awaiting card payment: CANCELLED with the stock, points and coupon back,
 *   then any charge that went through is cancelled at the gateway;
 * - PAID by balance: CANCELLED, stock and points back, the reward clawed
 *   back, the coupon returned while still valid, the wallet credited (ledger
 *   ORDER_REFUND, unique per order) — one transaction;
 * - PAID by card: the charge cancelled at the gateway first (idempotency key
 *   per order), then CANCELLED with the rest given back as for balance.
 * Reward points the customer already spent cannot be clawed back: that
 * shortfall is kept from the cash given back (money.md §4), never below 0.
 * FAILED or CANCELLED orders are left as they are; a partly refunded order
 * cannot be cancelled (refund the rest instead).
 */
export class CancelOrderWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly settlement: OrderSettlementRepository,
    private readonly points: PointsRepository,
    private readonly gateway: PaymentGatewayClient,
    private readonly gate: SoldOutGate,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  async run(orderId: string, accepted: AcceptedOrder | null): Promise<CancelOutcome> {
    const now = this.clock();
    const repos = { settlement: this.settlement, points: this.points };
    const ref = fullCancelKey(orderId);
    const first = await inRetryingTransaction(this.ds, async (q): Promise<FirstStep> => {
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
        await giveBackOrder(q, repos, { ...o, orderId }, { ref, now, wasPaid: false });
        return { done: { status: OrderStatus.CANCELLED, changed: true }, voidCard: true };
      }
      if (o.status !== OrderStatus.PAID) {
        const payment = o.paymentMethod === PaymentMethod.CARD ? await this.settlement.payment(q, orderId) : null;
        const open = payment !== null && (payment.status === PaymentStatus.CONFIRMING || payment.status === PaymentStatus.DONE);
        return { done: { status: o.status, changed: false }, ...(open ? { voidCard: true } : {}) };
      }
      if (o.paymentMethod === PaymentMethod.BALANCE) {
        await this.settlement.transition(q, orderId, OrderStatus.PAID, OrderStatus.CANCELLED);
        const back = await giveBackOrder(q, repos, { ...o, orderId }, { ref, now, wasPaid: true });
        const cash = Math.max(0, o.cashPaid - back.clawbackShortfall);
        if (cash > 0) await this.settlement.creditWallet(q, o.userId, cash, WalletEntryKind.ORDER_REFUND, orderId);
        return {
          done: { status: OrderStatus.CANCELLED, changed: true, ...(back.couponFreed && o.couponId !== null ? { couponReturned: o.couponId } : {}) },
          returnLines: o.lines,
        };
      }
      return { paidByCard: true };
    });

    if ('done' in first) {
      if (first.voidCard) await this.voidCardCharge(orderId);
      if (first.returnLines) await this.gate.returnUnits(fullCancelKey(orderId), first.returnLines);
      return first.done;
    }
    return this.cancelPaidCard(orderId, now);
  }

  /**
   * PAID by card: money back at the gateway first (retried until it answers), then the order, stock, points
   * and coupon. The reward already spent (a clawback shortfall) is kept from the card cancel: a partial cancel.
   */
  private async cancelPaidCard(orderId: string, now: Date): Promise<CancelOutcome> {
    const before = await inRetryingTransaction(this.ds, async (q) => {
      const payment = await this.settlement.payment(q, orderId);
      const o = await this.settlement.lockOrder(q, orderId);
      const reward = o ? await this.points.rewardRemaining(q, o.userId, orderId) : 0;
      return { payment, shortfall: o ? Math.max(0, o.pointsEarned - reward) : 0 };
    });
    const { payment, shortfall } = before;
    if (!payment) throw new Error(`card order ${orderId} has no payment row`);
    const open = payment.amount - payment.canceledAmount;
    const cancelAmount = Math.max(0, open - shortfall);
    if (cancelAmount > 0) {
      await this.gateway.cancel(
        payment.paymentKey,
        { cancelReason: 'cancelled by the customer', ...(cancelAmount < open ? { cancelAmount } : {}) },
        fullCancelKey(orderId),
      );
    }
    const repos = { settlement: this.settlement, points: this.points };
    const result = await inRetryingTransaction(this.ds, async (q) => {
      const o = await this.settlement.lockOrder(q, orderId);
      if (!o || o.status !== OrderStatus.PAID) return { status: o?.status ?? OrderStatus.CANCELLED, changed: false, lines: [] };
      await this.settlement.transition(q, orderId, OrderStatus.PAID, OrderStatus.CANCELLED);
      const back = await giveBackOrder(q, repos, { ...o, orderId }, { ref: fullCancelKey(orderId), now, wasPaid: true });
      if (back.clawbackShortfall !== shortfall) {
        this.log.warn({ orderId, expected: shortfall, found: back.clawbackShortfall }, 'reward spent between the card cancel and its record');
      }
      await this.settlement.setPayment(
        q,
        orderId,
        cancelAmount === open ? PaymentStatus.CANCELED : PaymentStatus.PARTIAL_CANCELED,
        payment.canceledAmount + cancelAmount,
      );
      return { status: OrderStatus.CANCELLED, changed: true, lines: o.lines, ...(back.couponFreed && o.couponId !== null ? { couponReturned: o.couponId } : {}) };
    });
    if (result.changed) await this.gate.returnUnits(fullCancelKey(orderId), result.lines);
    const { lines: _lines, ...outcome } = result;
    return outcome;
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
