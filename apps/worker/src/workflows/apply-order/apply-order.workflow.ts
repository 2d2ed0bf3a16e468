import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus, PaymentMethod } from '@bazaar/contracts';
import { inRetryingTransaction, type OrderSettlementRepository, type OrdersRepository } from '@bazaar/db';
import type { AcceptedOrder } from '@bazaar/queue';
import { byProductId, settlementRows, type ApplyOutcome } from '../order-rows';
import type { CardPaymentWorkflow } from './card-payment.workflow';

export type { ApplyOutcome } from '../order-rows';

/** A business refusal inside the transaction. */
class Refusal extends Error {
  constructor(readonly reason: FailureReason) {
    super(reason);
  }
}

class AlreadySettled extends Error {}

/**
 * Applies an accepted order to MySQL, once.
 *
 * BALANCE, one transaction: insert the order row (its primary key makes a
 * second application impossible — a concurrent duplicate waits on that key
 * and then finds it taken), the lines, then the wallet debit with its ledger
 * row and last the conditional stock decrements in product id order (hot
 * stock rows are held for the shortest time, always locked in the same
 * order). A refusal rolls the effects back to a savepoint taken after the
 * lines and records the order FAILED in the same transaction: the order row
 * (and its lock) never goes away, so duplicates of a refused order also just
 * find the key taken. Statements: 5 + one per line; a refusal adds 2.
 *
 * CARD: the payment saga (card-payment.workflow.ts).
 */
export class ApplyOrderWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly settlement: OrderSettlementRepository,
    private readonly orders: OrdersRepository,
    private readonly card: CardPaymentWorkflow,
  ) {}

  async run(order: AcceptedOrder): Promise<ApplyOutcome> {
    if (order.paymentMethod === PaymentMethod.CARD) return this.card.run(order);
    const { row, lines } = settlementRows(order, OrderStatus.PAID);
    try {
      return await inRetryingTransaction(this.ds, async (q): Promise<ApplyOutcome> => {
        if (!(await this.settlement.insertOrder(q, row))) throw new AlreadySettled();
        await this.settlement.insertItems(q, row.id, lines);
        await q.query('SAVEPOINT order_effects');
        try {
          if (row.cashPaid > 0 && !(await this.settlement.debitWallet(q, row.userId, row.cashPaid, row.id))) {
            throw new Refusal(FailureReason.INSUFFICIENT_BALANCE);
          }
          for (const l of byProductId(lines)) {
            if (!(await this.settlement.takeStock(q, l.productId, l.quantity))) throw new Refusal(FailureReason.OUT_OF_STOCK);
          }
        } catch (err) {
          if (!(err instanceof Refusal)) throw err;
          // Undo the wallet and stock effects, keep the order row: it is recorded FAILED in this same transaction.
          await q.query('ROLLBACK TO SAVEPOINT order_effects');
          await this.settlement.markFailed(q, row.id, err.reason);
          return { status: OrderStatus.FAILED, reason: err.reason, appliedNow: true };
        }
        return { status: OrderStatus.PAID, reason: null, appliedNow: true };
      });
    } catch (err) {
      if (err instanceof AlreadySettled) return existingOutcome(this.orders, order.orderId);
      throw err;
    }
  }
}

export async function existingOutcome(orders: OrdersRepository, orderId: string): Promise<ApplyOutcome> {
  const o = await orders.findSettled(orderId);
  if (!o) throw new Error(`order ${orderId} reported settled but not found`);
  return { status: o.status, reason: o.failureReason, appliedNow: false };
}
