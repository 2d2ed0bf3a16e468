import type { DataSource } from 'typeorm';
import { OrderStatus, PaymentMethod, WalletEntryKind } from '@bazaar/contracts';
import { inRetryingTransaction, type OrderSettlementRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import type { AcceptedOrder, SoldOutGate } from '@bazaar/queue';
import type { PaymentGatewayClient } from '../../gateway/payment-gateway.client';
import { fullCancelKey, settlementRows, voidOpenCharge } from '../order-rows';

export interface CancelOutcome {
  status: OrderStatus;
  /** false when nothing changed (already cancelled, failed, or refunded in part). */
  changed: boolean;
}

/** What the first transaction decided: done (perhaps with a charge to void or units to give the gate), or a paid card order. */
type FirstStep = { done: CancelOutcome; voidCard?: boolean; returnLines?: { productId: number; quantity: number }[] } | { paidByCard: true };

/**
 * Cancels an order for its customer (or for expiry), giving everything back:
 *
 * - accepted, not yet applied: recorded CANCELLED in MySQL first, so the
 *   waiting apply job finds the key taken and does nothing;
 * - awaiting card payment: CANCELLED with the stock back, then any charge
 *   that went through is cancelled at the gateway;
 * - PAID by balance: CANCELLED, stock back, the wallet credited (ledger
 *   ORDER_REFUND, unique per order) — one transaction;
 * - PAID by card: the charge cancelled at the gateway first (idempotency key
 *   per order), then CANCELLED with the stock back.
 * FAILED or CANCELLED orders are left as they are; a partly refunded order
 * cannot be cancelled (refund the rest instead).
 */
export class CancelOrderWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly settlement: OrderSettlementRepository,
    private readonly gateway: PaymentGatewayClient,
    private readonly gate: SoldOutGate,
    private readonly log: Logger,
  ) {}

  async run(orderId: string, accepted: AcceptedOrder | null): Promise<CancelOutcome> {
    const first = await inRetryingTransaction(this.ds, async (q): Promise<FirstStep> => {
      const o = await this.settlement.lockOrder(q, orderId);
      if (!o) {
        if (!accepted) return { done: { status: OrderStatus.CANCELLED, changed: false } };
        const { row, lines } = settlementRows(accepted, OrderStatus.CANCELLED);
        await this.settlement.insertOrder(q, row);
        await this.settlement.insertItems(q, row.id, lines);
        return { done: { status: OrderStatus.CANCELLED, changed: true } };
      }
      if (o.status === OrderStatus.PENDING) {
        // Awaiting card payment: stock back now; the charge, if any, is cancelled below (the payment row stays
        // open until the gateway confirms, so a run that dies in between does it again).
        await this.settlement.transition(q, orderId, [OrderStatus.PENDING], OrderStatus.CANCELLED);
        await this.settlement.returnStock(q, o.lines);
        return { done: { status: OrderStatus.CANCELLED, changed: true }, voidCard: true };
      }
      if (o.status !== OrderStatus.PAID) {
        const payment = o.paymentMethod === PaymentMethod.CARD ? await this.settlement.payment(q, orderId) : null;
        const open = payment !== null && (payment.status === 'CONFIRMING' || payment.status === 'DONE');
        return { done: { status: o.status, changed: false }, ...(open ? { voidCard: true } : {}) };
      }
      if (o.paymentMethod === PaymentMethod.BALANCE) {
        await this.settlement.transition(q, orderId, [OrderStatus.PAID], OrderStatus.CANCELLED);
        await this.settlement.returnStock(q, o.lines);
        if (o.cashPaid > 0) await this.settlement.creditWallet(q, o.userId, o.cashPaid, WalletEntryKind.ORDER_REFUND, orderId);
        return { done: { status: OrderStatus.CANCELLED, changed: true }, returnLines: o.lines };
      }
      return { paidByCard: true };
    });

    if ('done' in first) {
      if (first.voidCard) await this.voidCardCharge(orderId);
      if (first.returnLines) await this.gate.returnUnits(fullCancelKey(orderId), first.returnLines);
      return first.done;
    }
    return this.cancelPaidCard(orderId);
  }

  /** PAID by card: money back at the gateway first (retried until it answers), then the order and stock. */
  private async cancelPaidCard(orderId: string): Promise<CancelOutcome> {
    const payment = await inRetryingTransaction(this.ds, (q) => this.settlement.payment(q, orderId));
    if (!payment) throw new Error(`card order ${orderId} has no payment row`);
    if (payment.amount - payment.canceledAmount > 0) {
      await this.gateway.cancel(payment.paymentKey, { cancelReason: 'cancelled by the customer' }, fullCancelKey(orderId));
    }
    const result = await inRetryingTransaction(this.ds, async (q) => {
      const o = await this.settlement.lockOrder(q, orderId);
      if (!o || o.status !== OrderStatus.PAID) return { status: o?.status ?? OrderStatus.CANCELLED, changed: false, lines: [] };
      await this.settlement.transition(q, orderId, [OrderStatus.PAID], OrderStatus.CANCELLED);
      await this.settlement.returnStock(q, o.lines);
      await this.settlement.setPayment(q, orderId, 'CANCELED', payment.amount);
      return { status: OrderStatus.CANCELLED, changed: true, lines: o.lines };
    });
    if (result.changed) await this.gate.returnUnits(fullCancelKey(orderId), result.lines);
    return { status: result.status, changed: result.changed };
  }

  /** The order is over: any charge that went through goes back, then the payment row says so. */
  async voidCardCharge(orderId: string): Promise<void> {
    const charged = await voidOpenCharge(this.gateway, orderId, 'order cancelled before payment completed');
    if (charged) this.log.info({ orderId, charged: charged.totalAmount }, 'card charge of an order that did not complete is cancelled');
    await inRetryingTransaction(this.ds, (q) => this.settlement.setPayment(q, orderId, charged ? 'CANCELED' : 'FAILED', charged?.totalAmount));
  }
}
