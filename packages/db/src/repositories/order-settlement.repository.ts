import type { QueryRunner } from 'typeorm';
import { OrderStatus, WalletEntryKind, type FailureReason, type Fulfillment, type PaymentMethod } from '@bazaar/contracts';
import { execute, isDuplicateKey, selectRows } from '../data-source';

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

const ORDER_INSERT = `INSERT INTO orders (id, user_id, status, failure_reason, payment_method, fulfillment, items_total, discount_total,
    points_used, cash_paid, points_earned, idempotency_key, request_id, accepted_at, settled_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, IF(? = 'PENDING', NULL, CURRENT_TIMESTAMP(3)))`;

const orderParams = (o: SettlementOrder): unknown[] => [
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
  o.status,
];

/** A wallet ledger row whose balance_after is read from the account row this transaction has just changed. Params: kind, amount, ref, user. */
const LEDGER_ROW_FROM_ACCOUNT = `INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref)
  SELECT user_id, ?, ?, balance, ? FROM wallet_accounts WHERE user_id = ?`;

/** A refusal: the order and its lines FAILED, earning nothing. Params: status, reason, order id. */
const MARK_FAILED = `UPDATE orders o JOIN order_items i ON i.order_id = o.id
  SET o.status = ?, o.failure_reason = ?, o.points_earned = 0, i.earned = 0
  WHERE o.id = ?`;

/**
 * A paid fromCart order's lines leave the cart, in two statements on the cart's primary key: the lines the
 * order covers fully are deleted, the others lowered by the ordered quantity (units the customer added after
 * ordering stay). Lines the customer removed meanwhile are simply not there. Params follow the SQL in order.
 */
function takeFromCartSql(userId: number, lines: { productId: number; quantity: number }[]): { sql: string; params: unknown[] }[] {
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

/**
 * The SQL of the order transaction, one method a statement, all through the
 * caller's transaction runner so every statement is visible and countable.
 */
export class OrderSettlementRepository {
  /** Inserts the order row; false when it already exists (the order was settled before). */
  async insertOrder(q: QueryRunner, o: SettlementOrder): Promise<boolean> {
    try {
      await q.query(ORDER_INSERT, orderParams(o));
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /**
   * Hot path, one round trip (needs a DataSource with multipleStatements):
   * START TRANSACTION, the order row, its lines, SAVEPOINT order_effects.
   * False when the order row already exists (settled before); the caller
   * then ends the transaction.
   */
  async openOrderBatch(q: QueryRunner, o: SettlementOrder, lines: SettlementLine[]): Promise<boolean> {
    const items = this.itemsInsert(o.id, lines);
    try {
      await q.query(`START TRANSACTION; ${ORDER_INSERT}; ${items.sql}; SAVEPOINT order_effects`, [...orderParams(o), ...items.params]);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /**
   * Hot path, one round trip: the wallet debit with its ledger row (when
   * there is cash to pay), the conditional stock decrements in the given
   * order, and for an order from the cart the two statements that take its
   * lines out of the cart (after the stock rows, the order cart.add locks
   * them in). The caller rolls back to the savepoint when this says no,
   * which also puts the cart back as it was.
   */
  async applyEffectsBatch(
    q: QueryRunner,
    userId: number,
    orderId: string,
    cash: number,
    stock: { productId: number; quantity: number }[],
    fromCart: { productId: number; quantity: number }[] = [],
  ): Promise<'ok' | 'INSUFFICIENT_BALANCE' | 'OUT_OF_STOCK'> {
    const sql: string[] = [];
    const params: unknown[] = [];
    if (cash > 0) {
      sql.push('UPDATE wallet_accounts SET balance = balance - ? WHERE user_id = ? AND balance >= ?');
      params.push(cash, userId, cash);
      sql.push(LEDGER_ROW_FROM_ACCOUNT);
      params.push(WalletEntryKind.ORDER_PAYMENT, -cash, orderId, userId);
    }
    for (const l of stock) {
      sql.push(`UPDATE products SET stock = stock - ? WHERE id = ? AND status = 'ACTIVE' AND stock >= ?`);
      params.push(l.quantity, l.productId, l.quantity);
    }
    if (fromCart.length > 0) {
      for (const st of takeFromCartSql(userId, fromCart)) {
        sql.push(st.sql);
        params.push(...st.params);
      }
    }
    const raw = (await q.query(sql.join('; '), params)) as Ok | Ok[];
    const results = Array.isArray(raw) ? raw : [raw];
    if (cash > 0 && results[0]?.affectedRows !== 1) return 'INSUFFICIENT_BALANCE';
    const first = cash > 0 ? 2 : 0;
    const stockResults = results.slice(first, first + stock.length);
    return stockResults.every((r) => r.affectedRows === 1) ? 'ok' : 'OUT_OF_STOCK';
  }

  /** Hot path, one round trip: undo the effects, record the refusal, commit. */
  async failAndCommitBatch(q: QueryRunner, orderId: string, reason: FailureReason): Promise<void> {
    await q.query(`ROLLBACK TO SAVEPOINT order_effects; ${MARK_FAILED}; COMMIT`, [OrderStatus.FAILED, reason, orderId]);
  }

  private itemsInsert(orderId: string, lines: SettlementLine[]): { sql: string; params: unknown[] } {
    const params: unknown[] = [];
    lines.forEach((l, i) =>
      params.push(orderId, i, l.productId, l.storeId, l.productName, l.unitPrice, l.quantity, l.subtotal, l.discount, l.points, l.cash, l.earned),
    );
    return {
      sql: `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, discount, points, cash, earned)
       VALUES ${lines.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      params,
    };
  }

  /** One multi-row insert for all lines, in the order they were placed. */
  async insertItems(q: QueryRunner, orderId: string, lines: SettlementLine[]): Promise<void> {
    const items = this.itemsInsert(orderId, lines);
    await q.query(items.sql, items.params);
  }

  /**
   * A refusal inside the order transaction, after its effects were rolled back
   * to the savepoint: the order and its lines become FAILED, earning nothing.
   */
  async markFailed(q: QueryRunner, orderId: string, reason: FailureReason): Promise<void> {
    await q.query(MARK_FAILED, [OrderStatus.FAILED, reason, orderId]);
  }

  /** A paid fromCart order's lines leave the customer's cart (see takeFromCartSql): two statements. */
  async takeFromCart(q: QueryRunner, userId: number, lines: { productId: number; quantity: number }[]): Promise<void> {
    if (lines.length === 0) return;
    for (const st of takeFromCartSql(userId, lines)) await execute(q, st.sql, st.params);
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

  /** The order row, locked for this transaction (null when MySQL has not seen the order). */
  async lockOrder(q: QueryRunner, orderId: string): Promise<LockedOrder | null> {
    const [row] = await selectRows<{ user_id: number | string; status: OrderStatus; payment_method: PaymentMethod; cash_paid: number | string }>(
      q,
      'SELECT user_id, status, payment_method, cash_paid FROM orders WHERE id = ? FOR UPDATE',
      [orderId],
    );
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
      cashPaid: Number(row.cash_paid),
      lines: lines.map((l) => ({ productId: Number(l.product_id), quantity: Number(l.quantity) })),
    };
  }

  /** Moves the order from one of `from` to `to`; false when it is in none of them (someone else moved it). */
  async transition(q: QueryRunner, orderId: string, from: OrderStatus[], to: OrderStatus, reason: FailureReason | null = null): Promise<boolean> {
    const res = await execute(
      q,
      `UPDATE orders SET status = ?, failure_reason = ?, settled_at = COALESCE(settled_at, CURRENT_TIMESTAMP(3))
       WHERE id = ? AND status IN (${from.map(() => '?').join(',')})`,
      [to, reason, orderId, ...from],
    );
    return res.affectedRows === 1;
  }

  /** Units go back to stock, in product id order (the same lock order as takeStock). */
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

  async insertPayment(q: QueryRunner, p: { orderId: string; userId: number; paymentKey: string; amount: number }): Promise<void> {
    await execute(q, `INSERT INTO payments (order_id, user_id, payment_key, amount, status) VALUES (?, ?, ?, ?, 'CONFIRMING')`, [
      p.orderId,
      p.userId,
      p.paymentKey,
      p.amount,
    ]);
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
    await execute(
      q,
      `UPDATE payments SET status = ?, canceled_amount = COALESCE(?, canceled_amount),
         approved_at = IF(? = 'DONE', COALESCE(approved_at, CURRENT_TIMESTAMP(3)), approved_at) WHERE order_id = ?`,
      [status, canceledAmount ?? null, status, orderId],
    );
  }
}

export type PaymentStatus = 'CONFIRMING' | 'DONE' | 'FAILED' | 'PARTIAL_CANCELED' | 'CANCELED';

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
  cashPaid: number;
  /** Units per line not yet refunded. */
  lines: { productId: number; quantity: number }[];
}
