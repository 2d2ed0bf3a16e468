import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus } from '@bazaar/contracts';
import { inRetryingTransaction, type OrderSettlementRepository, type OrdersRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
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
import { byProductId, settlementRows, voidOpenCharge, type ApplyOutcome } from '../order-rows';
import { existingOutcome } from './apply-order.workflow';

/** The payment could not be settled either way yet: the job retries later; the order stays reserved. */
export class PaymentUndecidedError extends Error {}

/**
 * CARD orders are a saga, each step idempotent so a job that runs again
 * resumes where the last run stopped:
 *
 * 1. reserve — one MySQL transaction: the order (awaiting payment, status
 *    PENDING), its lines, the payment row (CONFIRMING) and the stock.
 * 2. confirm at the gateway, outside any transaction. A decline compensates
 *    (stock back, FAILED / PAYMENT_DECLINED). A timeout or an outage looks the
 *    payment up before deciding: charged → go on; not charged → try again
 *    later (the order stays reserved; expiry ends it if it never resolves).
 * 3. commit PAID (an order from the cart: its lines leave the cart in the
 *    same transaction) — if MySQL then fails, or the order was cancelled meanwhile,
 *    the charge is cancelled at the gateway (one idempotency key for every
 *    full cancellation of the order), and a later run compensates.
 *
 * No path leaves money taken without a PAID order, or a PAID order without money.
 */
export class CardPaymentWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly settlement: OrderSettlementRepository,
    private readonly orders: OrdersRepository,
    private readonly gateway: PaymentGatewayClient,
    private readonly log: Logger,
  ) {}

  async run(order: AcceptedOrder): Promise<ApplyOutcome> {
    const paymentKey = order.paymentKey;
    if (!paymentKey) return this.refuseWithoutPayment(order);
    const reserved = await this.reserve(order, paymentKey);
    if (reserved !== 'reserved' && reserved !== 'resume') return reserved;
    const amount = settlementRows(order, OrderStatus.PENDING).row.cashPaid;

    const payment = await this.confirm(order.orderId, paymentKey, amount);
    if (payment === 'declined') return this.compensate(order.orderId, FailureReason.PAYMENT_DECLINED);
    if (payment === 'error') return this.compensate(order.orderId, FailureReason.PAYMENT_ERROR);
    if (payment.status !== 'DONE' || payment.totalAmount !== amount || payment.orderId !== order.orderId) {
      // Cancelled at the gateway (a void by an earlier run after a MySQL failure), or not the charge we asked for.
      if (payment.status === 'DONE') await this.voidCharge(order.orderId);
      return this.compensate(order.orderId, FailureReason.PAYMENT_ERROR, 'CANCELED');
    }
    return this.commitPaid(order);
  }

  /** Step 1. 'resume' when an earlier run reserved it and the payment is still open. */
  private async reserve(order: AcceptedOrder, paymentKey: string): Promise<'reserved' | 'resume' | ApplyOutcome> {
    const { row, lines } = settlementRows(order, OrderStatus.PENDING);
    const result = await inRetryingTransaction(this.ds, async (q): Promise<'reserved' | 'resume' | 'settled' | ApplyOutcome> => {
      if (!(await this.settlement.insertOrder(q, row))) {
        const existing = await this.settlement.lockOrder(q, order.orderId);
        return existing?.status === OrderStatus.PENDING ? 'resume' : 'settled';
      }
      await this.settlement.insertItems(q, row.id, lines);
      await this.settlement.insertPayment(q, { orderId: row.id, userId: row.userId, paymentKey, amount: row.cashPaid });
      await q.query('SAVEPOINT reserve_stock');
      for (const l of byProductId(lines)) {
        if (!(await this.settlement.takeStock(q, l.productId, l.quantity))) {
          await q.query('ROLLBACK TO SAVEPOINT reserve_stock');
          await this.settlement.markFailed(q, row.id, FailureReason.OUT_OF_STOCK);
          await this.settlement.setPayment(q, row.id, 'FAILED');
          return { status: OrderStatus.FAILED, reason: FailureReason.OUT_OF_STOCK, appliedNow: true };
        }
      }
      return 'reserved';
    });
    return result === 'settled' ? existingOutcome(this.orders, order.orderId) : result;
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
    let moved: boolean;
    try {
      moved = await inRetryingTransaction(this.ds, async (q) => {
        if (!(await this.settlement.transition(q, orderId, [OrderStatus.PENDING], OrderStatus.PAID))) return false;
        await this.settlement.setPayment(q, orderId, 'DONE');
        if (order.fromCart) await this.settlement.takeFromCart(q, order.userId, byProductId(order.lines));
        return true;
      });
    } catch (err) {
      // Money taken, but the order cannot be recorded PAID: give the money back; a later run compensates the order.
      this.log.error({ orderId, err }, 'MySQL failed after the card was charged; cancelling the charge');
      await this.voidCharge(orderId);
      throw err;
    }
    if (!moved) {
      // Cancelled or expired while we were at the gateway: that path returned the stock; the money goes back too.
      await this.voidCharge(orderId);
      return existingOutcome(this.orders, orderId);
    }
    return { status: OrderStatus.PAID, reason: null, appliedNow: true };
  }

  /** Compensation: the reserved stock goes back, the order FAILED with its reason. */
  private async compensate(orderId: string, reason: FailureReason, paymentStatus: 'FAILED' | 'CANCELED' = 'FAILED'): Promise<ApplyOutcome> {
    const moved = await inRetryingTransaction(this.ds, async (q) => {
      const o = await this.settlement.lockOrder(q, orderId);
      if (!o || o.status !== OrderStatus.PENDING) return false;
      await this.settlement.transition(q, orderId, [OrderStatus.PENDING], OrderStatus.FAILED, reason);
      await this.settlement.returnStock(q, o.lines);
      await this.settlement.setPayment(q, orderId, paymentStatus);
      return true;
    });
    if (!moved) return existingOutcome(this.orders, orderId);
    return { status: OrderStatus.FAILED, reason, appliedNow: true };
  }

  private async voidCharge(orderId: string): Promise<void> {
    await voidOpenCharge(this.gateway, orderId, 'order could not be completed');
  }

  /** A CARD order without a paymentKey cannot be accepted by the API; recorded FAILED if one ever arrives. */
  private async refuseWithoutPayment(order: AcceptedOrder): Promise<ApplyOutcome> {
    const { row, lines } = settlementRows(order, OrderStatus.FAILED, FailureReason.PAYMENT_ERROR);
    const inserted = await inRetryingTransaction(this.ds, async (q) => {
      if (!(await this.settlement.insertOrder(q, row))) return false;
      await this.settlement.insertItems(q, row.id, lines);
      return true;
    });
    if (!inserted) return existingOutcome(this.orders, order.orderId);
    return { status: OrderStatus.FAILED, reason: FailureReason.PAYMENT_ERROR, appliedNow: true };
  }
}
