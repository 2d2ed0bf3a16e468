import type { QueryRunner } from 'typeorm';
import { OrderStatus, PaymentStatus, WalletEntryKind, type FailureReason, type Fulfillment, type PaymentMethod } from '@bazaar/contracts';
import { assertTransition } from '@bazaar/domain';
import { execute, isDuplicateKey, selectRows } from '../data-source';
import { valuesList, type Statement } from './sql-batch';

export interface SettlementOrder {
  id: string;
  userId: number;
  status: OrderStatus;
  failureReason: FailureReason | null;
  paymentMethod: PaymentMethod;
  couponId: number | null;
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

const ORDER_INSERT = `INSERT INTO orders (id, user_id, status, failure_reason, payment_method, coupon_id, fulfillment, items_total, discount_total,
    points_used, cash_paid, points_earned, idempotency_key, request_id, accepted_at, settled_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, IF(? = 'PENDING', NULL, CURRENT_TIMESTAMP(3)))`;

/** A wallet ledger row whose balance_after is read from the account row this transaction has just changed. Params: kind, amount, ref, user. */
const LEDGER_ROW_FROM_ACCOUNT = `INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref)
  SELECT user_id, ?, ?, balance, ? FROM wallet_accounts WHERE user_id = ?`;

/**
 * The SQL of the order transaction. The hot path takes its statements from
 * the static builders (the worker's order-transaction steps batch them into
 * round trips); the methods below run one statement each through the
 * caller's transaction runner, for the paths that are not hot (cancel,
 * compensation). Every statement is visible here and counted by its caller.
 */
export class OrderSettlementRepository {
  // ---- statements ----

  /** The order row. Its primary key makes a second application impossible (a duplicate fails with ER_DUP_ENTRY). */
  static orderInsert(o: SettlementOrder): Statement {
    // The row is born in its first status: a move out of PENDING, so it follows the state table too.
    if (o.status !== OrderStatus.PENDING) assertTransition(OrderStatus.PENDING, o.status);
    return {
      sql: ORDER_INSERT,
      params: [
        o.id,
        o.userId,
        o.status,
        o.failureReason,
        o.paymentMethod,
        o.couponId,
        JSON.stringify(o.fulfillment),
        o.itemsTotal,
        o.discountTotal,
        o.pointsUsed,
        o.cashPaid,
        o.pointsEarned,
        o.idempotencyKey,
        o.requestId,
        o.acceptedAt,
        o.status,
      ],
    };
  }

  /** All lines in one multi-row insert, in the order they were placed. */
  static itemsInsert(orderId: string, lines: readonly SettlementLine[]): Statement {
    return {
      sql: `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, discount, points, cash, earned)
       VALUES ${valuesList(lines.length, 12)}`,
      params: lines.flatMap((l, i) => [orderId, i, l.productId, l.storeId, l.productName, l.unitPrice, l.quantity, l.subtotal, l.discount, l.points, l.cash, l.earned]),
    };
  }

  /** The customer's claim of the coupon becomes this order's: exactly one row, or the coupon is not theirs to use (held by another order, or never claimed). */
  static couponUse(userId: number, couponId: number, orderId: string, now: Date): Statement {
    return {
      sql: `UPDATE coupon_claims SET order_id = ?, used_at = ? WHERE coupon_id = ? AND user_id = ? AND order_id IS NULL`,
      params: [orderId, now, couponId, userId],
    };
  }

  /** The wallet debit (never below 0: one row or none) and its ledger row: 2 statements. */
  static walletDebit(userId: number, orderId: string, cash: number): Statement[] {
    return [
      { sql: 'UPDATE wallet_accounts SET balance = balance - ? WHERE user_id = ? AND balance >= ?', params: [cash, userId, cash] },
      { sql: LEDGER_ROW_FROM_ACCOUNT, params: [WalletEntryKind.ORDER_PAYMENT, -cash, orderId, userId] },
    ];
  }

  /**
   * A batch's stock rows locked up front, in id order (InnoDB walks the primary key's IN list ascending). Orders
   * of a batch come in arrival order, so without it two batches taking products 3 and 5 in opposite orders
   * deadlock, and a batch on a few hot products is retried whole again and again.
   */
  static stockLock(productIds: readonly number[]): Statement {
    const ids = [...new Set(productIds)].sort((a, b) => a - b);
    return { sql: `SELECT id FROM products WHERE id IN (${ids.map(() => '?').join(', ')}) ORDER BY id FOR UPDATE`, params: ids };
  }

  /** Conditional decrements in the given order (callers pass product id order): never below 0, never a deleted product; each must change one row. */
  static stockTake(lines: readonly { productId: number; quantity: number }[]): Statement[] {
    return lines.map((l) => ({
      sql: `UPDATE products SET stock = stock - ? WHERE id = ? AND status = 'ACTIVE' AND stock >= ?`,
      params: [l.quantity, l.productId, l.quantity],
    }));
  }

  /**
   * A paid fromCart order's lines leave the cart, in two statements on the cart's primary key: the lines the
   * order covers fully are deleted, the others lowered by the ordered quantity (units the customer added after
   * ordering stay). Lines the customer removed meanwhile are simply not there.
   */
  static cartTake(userId: number, lines: readonly { productId: number; quantity: number }[]): Statement[] {
    if (lines.length === 0) return [];
    const ids = lines.map((l) => l.productId);
    const inList = ids.map(() => '?').join(', ');
    const ordered = `CASE product_id ${lines.map(() => 'WHEN ? THEN ?').join(' ')} END`;
    const orderedParams = lines.flatMap((l) => [l.productId, l.quantity]);
    return [
      {
        sql: `DELETE FROM cart_items WHERE user_id = ? AND product_id IN (${inList}) AND quantity <= ${ordered}`,
        params: [userId, ...ids, ...orderedParams],
      },
      {
        sql: `UPDATE cart_items SET quantity = quantity - ${ordered} WHERE user_id = ? AND product_id IN (${inList}) AND quantity > ${ordered}`,
        params: [...orderedParams, userId, ...ids, ...orderedParams],
      },
    ];
  }

  /** The card payment row, CONFIRMING until the gateway answers. */
  static paymentInsert(p: { orderId: string; userId: number; paymentKey: string; amount: number }): Statement {
    return {
      sql: `INSERT INTO payments (order_id, user_id, payment_key, amount, status) VALUES (?, ?, ?, ?, ?)`,
      params: [p.orderId, p.userId, p.paymentKey, p.amount, PaymentStatus.CONFIRMING],
    };
  }

  static paymentStatus(orderId: string, status: PaymentStatus, canceledAmount?: number): Statement {
    return {
      sql: `UPDATE payments SET status = ?, canceled_amount = COALESCE(?, canceled_amount),
         approved_at = IF(? = 'DONE', COALESCE(approved_at, CURRENT_TIMESTAMP(3)), approved_at) WHERE order_id = ?`,
      params: [status, canceledAmount ?? null, status, orderId],
    };
  }

  /**
   * A status change through the state table (packages/domain): `from → to`
   * must be one of its moves, and the row must still be in `from` (one row,
   * or someone else moved it first).
   */
  static transitionStmt(orderId: string, from: OrderStatus, to: OrderStatus, reason: FailureReason | null = null): Statement {
    assertTransition(from, to);
    return {
      sql: `UPDATE orders SET status = ?, failure_reason = ?, settled_at = COALESCE(settled_at, CURRENT_TIMESTAMP(3)) WHERE id = ? AND status = ?`,
      params: [to, reason, orderId, from],
    };
  }

  /**
   * A refusal, after the effects were rolled back to the savepoint: the order
   * row was written in `from` (PAID for a balance order, PENDING for a card
   * reservation) and is recorded FAILED with its lines earning nothing.
   */
  static markFailed(orderId: string, from: OrderStatus, reason: FailureReason): Statement {
    // The refused order never was PAID: its move is PENDING → FAILED.
    assertTransition(OrderStatus.PENDING, OrderStatus.FAILED);
    return {
      sql: `UPDATE orders o JOIN order_items i ON i.order_id = o.id
        SET o.status = ?, o.failure_reason = ?, o.points_earned = 0, i.earned = 0, o.settled_at = COALESCE(o.settled_at, CURRENT_TIMESTAMP(3))
        WHERE o.id = ? AND o.status = ?`,
      params: [OrderStatus.FAILED, reason, orderId, from],
    };
  }

  // ---- one statement a call, inside the caller's transaction ----

  async run(q: QueryRunner, st: Statement): Promise<{ affectedRows: number; insertId: number }> {
    return execute(q, st.sql, st.params);
  }

  /** The order row and its lines (2 statements); false when the order row already exists. */
  async insertOrderRows(q: QueryRunner, o: SettlementOrder, lines: readonly SettlementLine[]): Promise<boolean> {
    try {
      await this.run(q, OrderSettlementRepository.orderInsert(o));
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
    await this.run(q, OrderSettlementRepository.itemsInsert(o.id, lines));
    return true;
  }

  /** The order row, locked for this transaction (null when MySQL has not seen the order). */
  async lockOrder(q: QueryRunner, orderId: string): Promise<LockedOrder | null> {
    const [row] = await selectRows<{
      user_id: number | string;
      status: OrderStatus;
      payment_method: PaymentMethod;
      coupon_id: number | string | null;
      cash_paid: number | string;
      points_used: number | string;
      points_earned: number | string;
    }>(q, 'SELECT user_id, status, payment_method, coupon_id, cash_paid, points_used, points_earned FROM orders WHERE id = ? FOR UPDATE', [orderId]);
    if (!row) return null;
    const lines = await selectRows<{ product_id: number | string; quantity: number | string }>(
      q,
      'SELECT product_id, quantity - refunded_quantity AS quantity FROM order_items WHERE order_id = ? ORDER BY line_no',
      [orderId],
    );
    return {
      userId: Number(row.user_id),
      status: row.status,
      paymentMethod: row.payment_method,
      couponId: row.coupon_id === null ? null : Number(row.coupon_id),
      cashPaid: Number(row.cash_paid),
      pointsUsed: Number(row.points_used),
      pointsEarned: Number(row.points_earned),
      lines: lines.map((l) => ({ productId: Number(l.product_id), quantity: Number(l.quantity) })),
    };
  }

  /** See {@link OrderSettlementRepository.transitionStmt}. False when the order is no longer in `from`. */
  async transition(q: QueryRunner, orderId: string, from: OrderStatus, to: OrderStatus, reason: FailureReason | null = null): Promise<boolean> {
    return (await this.run(q, OrderSettlementRepository.transitionStmt(orderId, from, to, reason))).affectedRows === 1;
  }

  /** Units go back to stock, in product id order (the same lock order as stockTake). */
  async returnStock(q: QueryRunner, lines: { productId: number; quantity: number }[]): Promise<void> {
    for (const l of [...lines].sort((a, b) => a.productId - b.productId)) {
      if (l.quantity > 0) await execute(q, 'UPDATE products SET stock = stock + ? WHERE id = ?', [l.quantity, l.productId]);
    }
  }

  /** Credits the wallet with its ledger row; (user, kind, ref) unique makes a second credit for the same ref impossible. */
  async creditWallet(q: QueryRunner, userId: number, amount: number, kind: WalletEntryKind, ref: string): Promise<void> {
    await execute(q, 'UPDATE wallet_accounts SET balance = balance + ? WHERE user_id = ?', [amount, userId]);
    await execute(q, LEDGER_ROW_FROM_ACCOUNT, [kind, amount, ref, userId]);
  }

  async payment(q: QueryRunner, orderId: string): Promise<PaymentRow | null> {
    const [row] = await selectRows<{ payment_key: string; amount: number | string; canceled_amount: number | string; status: PaymentStatus }>(
      q,
      'SELECT payment_key, amount, canceled_amount, status FROM payments WHERE order_id = ?',
      [orderId],
    );
    return row ? { paymentKey: row.payment_key, amount: Number(row.amount), canceledAmount: Number(row.canceled_amount), status: row.status } : null;
  }

  async setPayment(q: QueryRunner, orderId: string, status: PaymentStatus, canceledAmount?: number): Promise<void> {
    await this.run(q, OrderSettlementRepository.paymentStatus(orderId, status, canceledAmount));
  }

  /**
   * The order's coupon goes back to its customer (a failed card payment, a
   * cancel): the claim is free again. With `validAt`, only while the coupon's
   * window is still open then (money.md: a coupon comes back only while
   * valid). True when a claim was freed.
   */
  async freeCoupon(q: QueryRunner, orderId: string, validAt?: Date): Promise<boolean> {
    const res = validAt
      ? await execute(
          q,
          `UPDATE coupon_claims c JOIN coupons k ON k.id = c.coupon_id SET c.order_id = NULL, c.used_at = NULL
           WHERE c.order_id = ? AND k.valid_until > ?`,
          [orderId, validAt],
        )
      : await execute(q, `UPDATE coupon_claims SET order_id = NULL, used_at = NULL WHERE order_id = ?`, [orderId]);
    return res.affectedRows > 0;
  }
}

export interface PaymentRow {
  paymentKey: string;
  amount: number;
  canceledAmount: number;
  status: PaymentStatus;
}

export interface LockedOrder {
  userId: number;
  status: OrderStatus;
  paymentMethod: PaymentMethod;
  couponId: number | null;
  cashPaid: number;
  pointsUsed: number;
  pointsEarned: number;
  /** Units per line not yet refunded. */
  lines: { productId: number; quantity: number }[];
}
