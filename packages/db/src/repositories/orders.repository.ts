import type { DataSource, QueryRunner } from 'typeorm';
import { selectRows } from '../data-source';
import type { FailureReason, Fulfillment, OrderStatus, PaymentMethod } from '@bazaar/contracts';

export interface SettledOrderRow {
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
  /** Cash that completed refunds actually sent back (after any reward already spent was kept). */
  cashRefunded: number;
  acceptedAt: Date;
  settledAt: Date | null;
  items: SettledItemRow[];
}

export interface SettledItemRow {
  id: number;
  lineNo: number;
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
  refundedQuantity: number;
}

type Raw = Record<string, unknown>;
const n = (v: unknown) => Number(v);

function toOrder(r: Raw, items: SettledItemRow[]): SettledOrderRow {
  const f = r.fulfillment;
  return {
    id: String(r.id),
    userId: n(r.user_id),
    status: r.status as OrderStatus,
    failureReason: (r.failure_reason ?? null) as FailureReason | null,
    paymentMethod: r.payment_method as PaymentMethod,
    couponId: r.coupon_id === null || r.coupon_id === undefined ? null : n(r.coupon_id),
    fulfillment: (typeof f === 'string' ? JSON.parse(f) : f) as Fulfillment,
    itemsTotal: n(r.items_total),
    discountTotal: n(r.discount_total),
    pointsUsed: n(r.points_used),
    cashPaid: n(r.cash_paid),
    pointsEarned: n(r.points_earned),
    cashRefunded: n(r.cash_refunded ?? 0),
    acceptedAt: r.accepted_at as Date,
    settledAt: (r.settled_at ?? null) as Date | null,
    items,
  };
}

function toItem(r: Raw): SettledItemRow {
  return {
    id: n(r.id),
    lineNo: n(r.line_no),
    productId: n(r.product_id),
    storeId: n(r.store_id),
    productName: String(r.product_name),
    unitPrice: n(r.unit_price),
    quantity: n(r.quantity),
    subtotal: n(r.subtotal),
    discount: n(r.discount),
    points: n(r.points),
    cash: n(r.cash),
    earned: n(r.earned),
    refundedQuantity: n(r.refunded_quantity),
  };
}

const ORDER_COLUMNS = `id, user_id, status, failure_reason, payment_method, coupon_id, fulfillment, items_total, discount_total, points_used,
  cash_paid, points_earned, cash_refunded, accepted_at, settled_at`;

/** Reads of settled orders. Owner reads go to the primary (read-your-writes). */
export class OrdersRepository {
  constructor(private readonly ds: DataSource) {}

  async findSettled(orderId: string, q?: QueryRunner): Promise<SettledOrderRow | null> {
    const run = (sql: string, params: unknown[]) => (q ? q.query(sql, params) : this.ds.query(sql, params)) as Promise<Raw[]>;
    const [row] = await run(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [orderId]);
    if (!row) return null;
    const items = await run(`SELECT * FROM order_items WHERE order_id = ? ORDER BY line_no`, [orderId]);
    return toOrder(row, items.map(toItem));
  }

  /** The id of the customer's order recorded under this idempotency key (primary), if any. */
  async idOfKey(userId: number, idempotencyKey: string): Promise<string | null> {
    const [row] = await selectRows<{ id: string }>(this.ds, 'SELECT id FROM orders WHERE user_id = ? AND idempotency_key = ?', [userId, idempotencyKey]);
    return row?.id ?? null;
  }

  /**
   * Status of each of these orders that MySQL has settled (primary). A card
   * order still awaiting payment (PENDING) is not settled.
   */
  async settledStatuses(orderIds: string[]): Promise<Map<string, { status: OrderStatus; reason: FailureReason | null }>> {
    if (orderIds.length === 0) return new Map();
    const rows = await selectRows<{
      id: string;
      status: OrderStatus;
      failure_reason: FailureReason | null;
    }>(this.ds, `SELECT id, status, failure_reason FROM orders WHERE id IN (${orderIds.map(() => '?').join(',')})`, orderIds);
    return new Map(rows.filter((r) => r.status !== 'PENDING').map((r) => [r.id, { status: r.status, reason: r.failure_reason }]));
  }

  async listSettled(userId: number, beforeId: string | undefined, limit: number): Promise<SettledOrderRow[]> {
    const rows = await selectRows<Raw>(this.ds, `SELECT ${ORDER_COLUMNS} FROM orders WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, [
      userId,
      beforeId ?? '~',
      limit,
    ]);
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.id));
    const items = await selectRows<Raw>(
      this.ds,
      `SELECT * FROM order_items WHERE order_id IN (${ids.map(() => '?').join(',')}) ORDER BY order_id, line_no`,
      ids,
    );
    const byOrder = new Map<string, SettledItemRow[]>();
    for (const it of items) {
      const key = String(it.order_id);
      const list = byOrder.get(key) ?? [];
      list.push(toItem(it));
      byOrder.set(key, list);
    }
    return rows.map((r) => toOrder(r, byOrder.get(String(r.id)) ?? []));
  }

  /** Card orders still awaiting payment, accepted before `before` (primary). */
  async awaitingPaymentSince(before: Date, limit: number): Promise<{ orderId: string; userId: number }[]> {
    const rows = await selectRows<{ id: string; user_id: number | string }>(
      this.ds,
      `SELECT id, user_id FROM orders WHERE status = 'PENDING' AND accepted_at < ? ORDER BY accepted_at LIMIT ?`,
      [before, limit],
    );
    return rows.map((r) => ({ orderId: r.id, userId: Number(r.user_id) }));
  }

  /** Card payments still open at the gateway for orders that did not complete (FAILED / CANCELLED): to be voided. */
  async openPaymentsOfEndedOrders(limit: number): Promise<{ orderId: string; userId: number }[]> {
    const rows = await selectRows<{ id: string; user_id: number | string }>(
      this.ds,
      `SELECT o.id, o.user_id FROM payments p JOIN orders o ON o.id = p.order_id
       WHERE p.status IN ('CONFIRMING', 'DONE') AND o.status IN ('FAILED', 'CANCELLED') LIMIT ?`,
      [limit],
    );
    return rows.map((r) => ({ orderId: r.id, userId: Number(r.user_id) }));
  }

  /** Which of these orders MySQL has recorded at all (any status). */
  async recordedIds(orderIds: string[]): Promise<Set<string>> {
    if (orderIds.length === 0) return new Set();
    const rows = await selectRows<{ id: string }>(this.ds, `SELECT id FROM orders WHERE id IN (${orderIds.map(() => '?').join(',')})`, orderIds);
    return new Set(rows.map((r) => r.id));
  }
}
