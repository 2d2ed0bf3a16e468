import type { QueryRunner } from 'typeorm';
import { OrderStatus, WalletEntryKind, type FailureReason, type Fulfillment, type PaymentMethod } from '@bazaar/contracts';
import { isDuplicateKey } from '../data-source';

export interface SettlementOrder {
  id: string;
  userId: number;
  status: OrderStatus;
  failureReason: FailureReason | null;
  paymentMethod: PaymentMethod;
  fulfillment: Fulfillment;
  itemsTotal: number;
  discountTotal: number;
  pointsUsed: number;
  cashPaid: number;
  pointsEarned: number;
  idempotencyKey: string;
  requestId: string;
  acceptedAt: Date;
}

export interface SettlementLine {
  productId: number;
  storeId: number;
  productName: string;
  unitPrice: number;
  quantity: number;
  subtotal: number;
  discount: number;
  points: number;
  cash: number;
  earned: number;
}

interface Ok {
  affectedRows: number;
}

/**
 * The SQL of the order transaction, one method a statement, all through the
 * caller's transaction runner so every statement is visible and countable.
 */
export class OrderSettlementRepository {
  /** Inserts the order row; false when it already exists (the order was settled before). */
  async insertOrder(q: QueryRunner, o: SettlementOrder): Promise<boolean> {
    try {
      await q.query(
        `INSERT INTO orders (id, user_id, status, failure_reason, payment_method, fulfillment, items_total, discount_total,
           points_used, cash_paid, points_earned, idempotency_key, request_id, accepted_at, settled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3))`,
        [
          o.id,
          o.userId,
          o.status,
          o.failureReason,
          o.paymentMethod,
          JSON.stringify(o.fulfillment),
          o.itemsTotal,
          o.discountTotal,
          o.pointsUsed,
          o.cashPaid,
          o.pointsEarned,
          o.idempotencyKey,
          o.requestId,
          o.acceptedAt,
        ],
      );
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** One multi-row insert for all lines, in the order they were placed. */
  async insertItems(q: QueryRunner, orderId: string, lines: SettlementLine[]): Promise<void> {
    const values: unknown[] = [];
    lines.forEach((l, i) =>
      values.push(orderId, i, l.productId, l.storeId, l.productName, l.unitPrice, l.quantity, l.subtotal, l.discount, l.points, l.cash, l.earned),
    );
    await q.query(
      `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, discount, points, cash, earned)
       VALUES ${lines.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      values,
    );
  }

  /**
   * A refusal inside the order transaction, after its effects were rolled back
   * to the savepoint: the order and its lines become FAILED, earning nothing.
   */
  async markFailed(q: QueryRunner, orderId: string, reason: FailureReason): Promise<void> {
    await q.query(
      `UPDATE orders o JOIN order_items i ON i.order_id = o.id
       SET o.status = ?, o.failure_reason = ?, o.points_earned = 0, i.earned = 0
       WHERE o.id = ?`,
      [OrderStatus.FAILED, reason, orderId],
    );
  }

  /** Conditional decrement: never below 0, never on a deleted product. False = not enough stock. */
  async takeStock(q: QueryRunner, productId: number, quantity: number): Promise<boolean> {
    const res = (await q.query(`UPDATE products SET stock = stock - ? WHERE id = ? AND status = 'ACTIVE' AND stock >= ?`, [
      quantity,
      productId,
      quantity,
    ])) as Ok;
    return res.affectedRows === 1;
  }

  /**
   * Debits the wallet and writes its ledger row (balance_after read from the
   * row this transaction has just locked). False = insufficient balance.
   */
  async debitWallet(q: QueryRunner, userId: number, amount: number, orderId: string): Promise<boolean> {
    const res = (await q.query(`UPDATE wallet_accounts SET balance = balance - ? WHERE user_id = ? AND balance >= ?`, [amount, userId, amount])) as Ok;
    if (res.affectedRows !== 1) return false;
    await q.query(
      `INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref)
       SELECT user_id, ?, ?, balance, ? FROM wallet_accounts WHERE user_id = ?`,
      [WalletEntryKind.ORDER_PAYMENT, -amount, orderId, userId],
    );
    return true;
  }
}
