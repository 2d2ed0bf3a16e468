import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus } from '@bazaar/contracts';
import {
  inRetryingTransaction,
  inTransaction,
  type OrderSettlementRepository,
  type OrdersRepository,
  type SettlementLine,
  type SettlementOrder,
} from '@bazaar/db';
import { priceOrder } from '@bazaar/domain';
import type { AcceptedOrder } from '@bazaar/queue';

export interface ApplyOutcome {
  status: OrderStatus;
  reason: FailureReason | null;
  /** false when the order had already been settled (a job that ran again). */
  appliedNow: boolean;
}

/** A business refusal inside the transaction: roll back, then record the order as FAILED. */
class Refusal extends Error {
  constructor(readonly reason: FailureReason) {
    super(reason);
  }
}

class AlreadySettled extends Error {}

/**
 * Applies an accepted order to MySQL, once.
 *
 * One transaction: insert the order row (its primary key makes a second
 * application impossible — a concurrent duplicate waits on that key and then
 * finds it taken), the lines, the wallet debit with its ledger row, and last
 * the conditional stock decrements in product id order (so hot stock rows are
 * held for the shortest time and always locked in the same order). A refusal
 * rolls the effects back to a savepoint taken after the lines and records the
 * order FAILED with its reason in the same transaction: the order row (and
 * its lock) never goes away, so concurrent duplicates of a refused order also
 * just find the key taken, instead of racing to re-insert it and deadlocking.
 * Statements: 5 + one per line; a refusal adds 2.
 */
export class ApplyOrderWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly settlement: OrderSettlementRepository,
    private readonly orders: OrdersRepository,
  ) {}

  async run(order: AcceptedOrder): Promise<ApplyOutcome> {
    // Points and rewards arrive with the points ledger; until then every won is cash and nothing is earned.
    const priced = priceOrder({ lines: order.lines, points: 0, pointBalance: 0, rewardBps: 0 });
    if (!priced.ok) return this.fail(order, priced.reason);
    const lines: SettlementLine[] = order.lines.map((l, i) => {
      const p = priced.lines[i]!;
      return { productId: l.productId, storeId: l.storeId, productName: l.name, unitPrice: l.unitPrice, quantity: l.quantity, ...p };
    });
    const row: SettlementOrder = {
      id: order.orderId,
      userId: order.userId,
      status: OrderStatus.PAID,
      failureReason: null,
      paymentMethod: order.paymentMethod,
      fulfillment: order.fulfillment,
      itemsTotal: priced.itemsTotal,
      discountTotal: priced.discount,
      pointsUsed: priced.pointsUsed,
      cashPaid: priced.cashPaid,
      pointsEarned: priced.earned,
      idempotencyKey: order.idempotencyKey,
      requestId: order.requestId,
      acceptedAt: new Date(order.acceptedAt),
    };
    const byProduct = [...lines].sort((a, b) => a.productId - b.productId);

    try {
      return await inRetryingTransaction(this.ds, async (q): Promise<ApplyOutcome> => {
        if (!(await this.settlement.insertOrder(q, row))) throw new AlreadySettled();
        await this.settlement.insertItems(q, row.id, lines);
        await q.query('SAVEPOINT order_effects');
        try {
          if (row.cashPaid > 0 && !(await this.settlement.debitWallet(q, row.userId, row.cashPaid, row.id))) {
            throw new Refusal(FailureReason.INSUFFICIENT_BALANCE);
          }
          for (const l of byProduct) {
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
      if (err instanceof AlreadySettled) return this.existing(order.orderId);
      throw err;
    }
  }

  /** Records a refusal found before the transaction (pricing): the order and its lines as FAILED, nothing else changed. */
  private async fail(order: AcceptedOrder, reason: FailureReason): Promise<ApplyOutcome> {
    const lines: SettlementLine[] = order.lines.map((l) => ({
      productId: l.productId,
      storeId: l.storeId,
      productName: l.name,
      unitPrice: l.unitPrice,
      quantity: l.quantity,
      subtotal: l.unitPrice * l.quantity,
      discount: 0,
      points: 0,
      cash: l.unitPrice * l.quantity,
      earned: 0,
    }));
    const itemsTotal = lines.reduce((s, l) => s + l.subtotal, 0);
    const row: SettlementOrder = {
      id: order.orderId,
      userId: order.userId,
      status: OrderStatus.FAILED,
      failureReason: reason,
      paymentMethod: order.paymentMethod,
      fulfillment: order.fulfillment,
      itemsTotal,
      discountTotal: 0,
      pointsUsed: 0,
      cashPaid: itemsTotal,
      pointsEarned: 0,
      idempotencyKey: order.idempotencyKey,
      requestId: order.requestId,
      acceptedAt: new Date(order.acceptedAt),
    };
    const inserted = await inTransaction(this.ds, async (q) => {
      if (!(await this.settlement.insertOrder(q, row))) return false;
      await this.settlement.insertItems(q, row.id, lines);
      return true;
    });
    if (!inserted) return this.existing(order.orderId);
    return { status: OrderStatus.FAILED, reason, appliedNow: true };
  }

  private async existing(orderId: string): Promise<ApplyOutcome> {
    const o = await this.orders.findSettled(orderId);
    if (!o) throw new Error(`order ${orderId} reported settled but not found`);
    return { status: o.status, reason: o.failureReason, appliedNow: false };
  }
}
