import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus, PaymentMethod } from '@bazaar/contracts';
import { isRetryableTxError, type OrderSettlementRepository, type OrdersRepository } from '@bazaar/db';
import type { AcceptedOrder } from '@bazaar/queue';
import { byProductId, settlementRows, type ApplyOutcome } from '../order-rows';
import type { CardPaymentWorkflow } from './card-payment.workflow';

export type { ApplyOutcome } from '../order-rows';

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
 * find the key taken. Statements: 8 + one per line, sent in three round
 * trips (multi-statement batches); a refusal sends the same three. An order
 * from the cart adds two statements to the effects round trip (its lines
 * leave the cart), which a refusal rolls back with the rest.
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
    const stock = byProductId(lines).map((l) => ({ productId: l.productId, quantity: l.quantity }));
    const fromCart = order.fromCart ? stock : [];
    for (let attempt = 1; ; attempt++) {
      // Three round trips: open (transaction, order, lines, savepoint), effects, commit — or refuse and commit.
      const q = this.ds.createQueryRunner('master');
      await q.connect();
      let settledBefore = false;
      try {
        if (!(await this.settlement.openOrderBatch(q, row, lines))) {
          await q.query('ROLLBACK');
          settledBefore = true;
        } else {
          const verdict = await this.settlement.applyEffectsBatch(q, row.userId, row.id, row.cashPaid, stock, fromCart);
          if (verdict === 'ok') {
            await q.query('COMMIT');
            return { status: OrderStatus.PAID, reason: null, appliedNow: true };
          }
          // Undo the wallet and stock effects, keep the order row: it is recorded FAILED in this same transaction.
          const reason = verdict === 'INSUFFICIENT_BALANCE' ? FailureReason.INSUFFICIENT_BALANCE : FailureReason.OUT_OF_STOCK;
          await this.settlement.failAndCommitBatch(q, row.id, reason);
          return { status: OrderStatus.FAILED, reason, appliedNow: true };
        }
      } catch (err) {
        await q.query('ROLLBACK').catch(() => undefined);
        if (attempt >= 5 || !isRetryableTxError(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20 * attempt)));
      } finally {
        // Released before any other query: holding it while waiting for a second connection could starve the pool.
        await q.release();
      }
      if (settledBefore) return existingOutcome(this.orders, order.orderId);
    }
  }
}

export async function existingOutcome(orders: OrdersRepository, orderId: string): Promise<ApplyOutcome> {
  const o = await orders.findSettled(orderId);
  if (!o) throw new Error(`order ${orderId} reported settled but not found`);
  return { status: o.status, reason: o.failureReason, appliedNow: false };
}
