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
 * rolls everything back and records the order FAILED with its reason.
 * Statements: 4 + one per line.
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
    if (!priced.ok) return this.fail(order, priced.reason, null);
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
      await inRetryingTransaction(this.ds, async (q) => {
        if (!(await this.settlement.insertOrder(q, row))) throw new AlreadySettled();
        await this.settlement.insertItems(q, row.id, lines);
        if (row.cashPaid > 0 && !(await this.settlement.debitWallet(q, row.userId, row.cashPaid, row.id))) {
          throw new Refusal(FailureReason.INSUFFICIENT_BALANCE);
        }
        for (const l of byProduct) {
          if (!(await this.settlement.takeStock(q, l.productId, l.quantity))) throw new Refusal(FailureReason.OUT_OF_STOCK);
        }
      });
      return { status: OrderStatus.PAID, reason: null, appliedNow: true };
    } catch (err) {
      if (err instanceof AlreadySettled) return this.existing(order.orderId);
      if (err instanceof Refusal) return this.fail(order, err.reason, { row, lines });
      throw err;
    }
  }

  /** Records the refusal: the order and its lines as FAILED, nothing else changed. */
  private async fail(order: AcceptedOrder, reason: FailureReason, built: { row: SettlementOrder; lines: SettlementLine[] } | null): Promise<ApplyOutcome> {
    const lines =
      built?.lines ??
      order.lines.map((l) => ({
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
    const row: SettlementOrder = built?.row ?? {
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
      if (!(await this.settlement.insertOrder(q, { ...row, status: OrderStatus.FAILED, failureReason: reason, pointsEarned: 0 }))) return false;
      await this.settlement.insertItems(
        q,
        row.id,
        lines.map((l) => ({ ...l, earned: 0 })),
      );
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
