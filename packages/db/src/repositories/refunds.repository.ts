import { createHash } from 'node:crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import { OrderStatus, RefundKind, RefundStatus, Role, type PaymentMethod, type RefundFailureReason } from '@bazaar/contracts';
import type { RefundPlan, RefundableLine } from '@bazaar/domain';
import { execute, selectRows, type SqlRunner } from '../data-source';
import { valuesList } from './sql-batch';
import { FulfillmentRepository } from './fulfillment.repository';

type Raw = Record<string, unknown>;
const num = (v: unknown) => Number(v);
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** An order as a refund request sees it, locked: who bought it, how it was paid, and each line's store and units left. */
export interface RefundableOrder {
  orderId: string;
  userId: number;
  status: OrderStatus;
  paymentMethod: PaymentMethod;
  lines: {
    orderItemId: number;
    productId: number;
    storeId: number;
    sellerId: number;
    quantity: number;
    refundedQuantity: number;
    pendingQuantity: number;
  }[];
}

export interface NewRefund {
  id: string;
  orderId: string;
  userId: number;
  kind: RefundKind;
  requestedBy: number;
  requesterRole: Role;
  idempotencyKey: string;
  requestHash: string;
  requestId: string;
  createdAt: Date;
  items: { orderItemId: number; quantity: number }[];
}

export interface RefundItemRow {
  orderItemId: number;
  productId: number;
  storeId: number;
  sellerId: number;
  productName: string;
  quantity: number;
  refundedBefore: number | null;
  cash: number | null;
  points: number | null;
  clawback: number | null;
}

export interface RefundRow {
  id: string;
  orderId: string;
  userId: number;
  kind: RefundKind;
  status: RefundStatus;
  paymentMethod: PaymentMethod;
  /** The order's status and coupon, as read with the refund. */
  orderStatus: OrderStatus;
  couponId: number | null;
  requestedBy: number;
  requesterRole: Role;
  requestHash: string;
  requestId: string;
  cash: number | null;
  points: number | null;
  clawback: number | null;
  clawbackFromLot: number | null;
  clawbackExpired: number | null;
  clawbackFromCash: number | null;
  clawbackWaived: number | null;
  cashReturned: number | null;
  pricedAt: Date | null;
  couponReturned: boolean;
  gatewayTransactionKey: string | null;
  failureReason: RefundFailureReason | null;
  failureCode: string | null;
  createdAt: Date;
  completedAt: Date | null;
  /** When Redis learnt of the completed refund (null: still owed). */
  effectsDoneAt: Date | null;
  items: RefundItemRow[];
}

const REFUND_COLUMNS = `r.id, r.order_id, r.user_id, r.kind, r.status, o.payment_method, o.status AS order_status, o.coupon_id, r.requested_by, r.requester_role, r.request_hash, r.request_id,
  r.cash, r.points, r.clawback, r.clawback_from_lot, r.clawback_expired, r.clawback_from_cash, r.clawback_waived, r.cash_returned, r.priced_at, r.coupon_returned,
  r.gateway_transaction_key, r.failure_reason, r.failure_code, r.created_at, r.completed_at, r.effects_done_at`;

const ITEM_COLUMNS = `ri.refund_id, ri.order_item_id, ri.quantity, ri.refunded_before, ri.cash, ri.points, ri.clawback,
  i.product_id, i.store_id, i.product_name, s.seller_id`;

function toRefund(r: Raw, items: RefundItemRow[]): RefundRow {
  return {
    id: String(r.id),
    orderId: String(r.order_id),
    userId: num(r.user_id),
    kind: r.kind as RefundKind,
    status: r.status as RefundStatus,
    paymentMethod: r.payment_method as PaymentMethod,
    orderStatus: r.order_status as OrderStatus,
    couponId: numOrNull(r.coupon_id),
    requestedBy: num(r.requested_by),
    requesterRole: r.requester_role as Role,
    requestHash: String(r.request_hash),
    requestId: String(r.request_id),
    cash: numOrNull(r.cash),
    points: numOrNull(r.points),
    clawback: numOrNull(r.clawback),
    clawbackFromLot: numOrNull(r.clawback_from_lot),
    clawbackExpired: numOrNull(r.clawback_expired),
    clawbackFromCash: numOrNull(r.clawback_from_cash),
    clawbackWaived: numOrNull(r.clawback_waived),
    cashReturned: numOrNull(r.cash_returned),
    pricedAt: (r.priced_at ?? null) as Date | null,
    couponReturned: num(r.coupon_returned) === 1,
    gatewayTransactionKey: (r.gateway_transaction_key ?? null) as string | null,
    failureReason: (r.failure_reason ?? null) as RefundFailureReason | null,
    failureCode: (r.failure_code ?? null) as string | null,
    createdAt: r.created_at as Date,
    completedAt: (r.completed_at ?? null) as Date | null,
    effectsDoneAt: (r.effects_done_at ?? null) as Date | null,
    items,
  };
}

function toItem(r: Raw): RefundItemRow {
  return {
    orderItemId: num(r.order_item_id),
    productId: num(r.product_id),
    storeId: num(r.store_id),
    sellerId: num(r.seller_id),
    productName: String(r.product_name),
    quantity: num(r.quantity),
    refundedBefore: numOrNull(r.refunded_before),
    cash: numOrNull(r.cash),
    points: numOrNull(r.points),
    clawback: numOrNull(r.clawback),
  };
}

/** The idempotency key of the refund that orders.cancel makes of a paid order (a ':' that no client key can hold). */
export const cancelRefundKey = (orderId: string) => `cancel:${orderId}`;

/** Same parameters ⇔ same hash: the kind, the order and the lines, sorted (a retry may list them in another order). */
export function refundRequestHash(kind: RefundKind, orderId: string, items: readonly { orderItemId: number; quantity: number }[]): string {
  const lines = [...items].sort((a, b) => a.orderItemId - b.orderItemId).map((i) => [i.orderItemId, i.quantity]);
  return createHash('sha256')
    .update(JSON.stringify([kind, orderId, lines]))
    .digest('hex');
}

/** A priced refund's amounts as they were frozen (the plan the worker applies). */
export function frozenPlan(r: RefundRow): RefundPlan {
  if (r.pricedAt === null) throw new Error(`refund ${r.id} is not priced`);
  const n = (v: number | null) => v ?? 0;
  return {
    lines: r.items.map((i) => ({
      orderItemId: i.orderItemId,
      quantity: i.quantity,
      refundedBefore: n(i.refundedBefore),
      cash: n(i.cash),
      points: n(i.points),
      clawback: n(i.clawback),
    })),
    cash: n(r.cash),
    points: n(r.points),
    clawback: n(r.clawback),
    clawbackFromLot: n(r.clawbackFromLot),
    clawbackExpired: n(r.clawbackExpired),
    clawbackFromCash: n(r.clawbackFromCash),
    clawbackWaived: n(r.clawbackWaived),
    cashReturned: n(r.cashReturned),
  };
}

/**
 * Refunds: the request (by the API, in one transaction under the order's row
 * lock), the worker's pricing and application (inside its transactions), and
 * the reads. Every writer of a line's refund counters holds the order row's
 * lock first, so the counters never race.
 */
export class RefundsRepository {
  constructor(private readonly ds: DataSource) {}

  // ---- the request (API) ----

  /** The order and its lines, the order row locked for this transaction (null: no such order). */
  async lockRefundableOrder(q: QueryRunner, orderId: string): Promise<RefundableOrder | null> {
    const [o] = await selectRows<Raw>(q, 'SELECT id, user_id, status, payment_method FROM orders WHERE id = ? FOR UPDATE', [orderId]);
    if (!o) return null;
    const lines = await selectRows<Raw>(
      q,
      `SELECT i.id, i.product_id, i.store_id, s.seller_id, i.quantity, i.refunded_quantity, i.refund_pending_quantity
       FROM order_items i JOIN stores s ON s.id = i.store_id WHERE i.order_id = ? ORDER BY i.line_no`,
      [orderId],
    );
    return {
      orderId,
      userId: num(o.user_id),
      status: o.status as OrderStatus,
      paymentMethod: o.payment_method as PaymentMethod,
      lines: lines.map((l) => ({
        orderItemId: num(l.id),
        productId: num(l.product_id),
        storeId: num(l.store_id),
        sellerId: num(l.seller_id),
        quantity: num(l.quantity),
        refundedQuantity: num(l.refunded_quantity),
        pendingQuantity: num(l.refund_pending_quantity),
      })),
    };
  }

  /** The refund a caller's idempotency key already made, if any. */
  async findByKey(
    db: SqlRunner,
    requestedBy: number,
    idempotencyKey: string,
  ): Promise<{ id: string; orderId: string; status: RefundStatus; requestHash: string } | null> {
    const [r] = await selectRows<Raw>(db, 'SELECT id, order_id, status, request_hash FROM refunds WHERE requested_by = ? AND idempotency_key = ?', [
      requestedBy,
      idempotencyKey,
    ]);
    return r ? { id: String(r.id), orderId: String(r.order_id), status: r.status as RefundStatus, requestHash: String(r.request_hash) } : null;
  }

  /** Refunds of the order still PENDING. */
  async pendingCount(db: SqlRunner, orderId: string): Promise<number> {
    const [r] = await selectRows<Raw>(db, `SELECT COUNT(*) AS n FROM refunds WHERE order_id = ? AND status = 'PENDING'`, [orderId]);
    return num(r?.n ?? 0);
  }

  /**
   * The refund row, its lines, and the lines' units held as pending: each
   * line's guarded increment must change its row (never more than is left,
   * counting refunds still pending), or this throws and the caller's
   * transaction rolls back. 3 statements.
   */
  async insertRequest(q: QueryRunner, r: NewRefund): Promise<void> {
    await execute(
      q,
      `INSERT INTO refunds (id, order_id, user_id, kind, requested_by, requester_role, idempotency_key, request_hash, request_id, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING', ?)`,
      [r.id, r.orderId, r.userId, r.kind, r.requestedBy, r.requesterRole, r.idempotencyKey, r.requestHash, r.requestId, r.createdAt],
    );
    await execute(
      q,
      `INSERT INTO refund_items (refund_id, order_item_id, quantity) VALUES ${valuesList(r.items.length, 3)}`,
      r.items.flatMap((i) => [r.id, i.orderItemId, i.quantity]),
    );
    const held = await execute(
      q,
      `UPDATE order_items i JOIN refund_items ri ON ri.order_item_id = i.id AND ri.refund_id = ?
       SET i.refund_pending_quantity = i.refund_pending_quantity + ri.quantity
       WHERE i.order_id = ? AND i.refunded_quantity + i.refund_pending_quantity + ri.quantity <= i.quantity`,
      [r.id, r.orderId],
    );
    if (held.affectedRows !== r.items.length) throw new Error(`refund ${r.id}: a line has fewer units left than asked`);
  }

  /**
   * orders.cancel's refund of a PAID order, recorded once, in the caller's
   * READ COMMITTED transaction: every unit of every line, kind CANCEL,
   * requested by the customer under the order's one cancel key. Locks the
   * order row first, so a duplicate that committed meanwhile is seen and
   * answered. Refused (nothing written) when the order is not the
   * customer's, not PAID, or has a refund still pending.
   */
  async recordCancel(
    q: QueryRunner,
    orderId: string,
    customerId: number,
    r: { id: string; requestId: string; createdAt: Date },
  ): Promise<{ refundId: string; status: RefundStatus; created: boolean } | { refused: 'NOT_FOUND' | 'NOT_PAID' | 'REFUND_PENDING' | 'ALREADY_FULFILLED'; orderStatus?: OrderStatus }> {
    const o = await this.lockRefundableOrder(q, orderId);
    if (!o || o.userId !== customerId) return { refused: 'NOT_FOUND' };
    const seen = await this.findByKey(q, customerId, cancelRefundKey(orderId));
    if (seen) return { refundId: seen.id, status: seen.status, created: false };
    if (o.status !== OrderStatus.PAID) return { refused: 'NOT_PAID', orderStatus: o.status };
    if ((await this.pendingCount(q, orderId)) > 0) return { refused: 'REFUND_PENDING' };
    // Under the order's lock, as a fulfillment move takes it: a store that shipped (or readied a pickup) first wins.
    if (await FulfillmentRepository.anyPartMoved(q, orderId)) return { refused: 'ALREADY_FULFILLED' };
    await this.insertRequest(q, {
      id: r.id,
      orderId,
      userId: o.userId,
      kind: RefundKind.CANCEL,
      requestedBy: o.userId,
      requesterRole: Role.CUSTOMER,
      idempotencyKey: cancelRefundKey(orderId),
      requestHash: refundRequestHash(RefundKind.CANCEL, orderId, []),
      requestId: r.requestId,
      createdAt: r.createdAt,
      items: o.lines.map((l) => ({ orderItemId: l.orderItemId, quantity: l.quantity - l.refundedQuantity })).filter((l) => l.quantity > 0),
    });
    return { refundId: r.id, status: RefundStatus.PENDING, created: true };
  }

  // ---- the worker ----

  /** The refund with its lines, locked for this transaction. */
  async lock(q: QueryRunner, refundId: string): Promise<RefundRow | null> {
    return this.read(q, refundId, true);
  }

  /** The oldest refund of the order still PENDING (refunds of one order apply in the order they were requested). */
  async oldestPending(q: SqlRunner, orderId: string): Promise<string | null> {
    const [r] = await selectRows<Raw>(q, `SELECT id FROM refunds WHERE order_id = ? AND status = 'PENDING' ORDER BY id LIMIT 1`, [orderId]);
    return r ? String(r.id) : null;
  }

  /** Each line's frozen shares and the units refunded before (the caller holds the order row's lock). */
  async refundableLines(q: QueryRunner, orderId: string): Promise<(RefundableLine & { productId: number })[]> {
    const rows = await selectRows<Raw>(
      q,
      'SELECT id, product_id, quantity, refunded_quantity, cash, points, earned FROM order_items WHERE order_id = ? ORDER BY line_no',
      [orderId],
    );
    return rows.map((r) => ({
      orderItemId: num(r.id),
      productId: num(r.product_id),
      quantity: num(r.quantity),
      refundedBefore: num(r.refunded_quantity),
      cash: num(r.cash),
      points: num(r.points),
      earned: num(r.earned),
    }));
  }

  /** Freezes the refund's amounts: the refund's totals and each line's shares (1 + lines statements). */
  async savePlan(q: QueryRunner, refundId: string, plan: RefundPlan, now: Date): Promise<void> {
    await execute(
      q,
      `UPDATE refunds SET cash = ?, points = ?, clawback = ?, clawback_from_lot = ?, clawback_expired = ?, clawback_from_cash = ?, clawback_waived = ?,
         cash_returned = ?, priced_at = ?
       WHERE id = ? AND status = 'PENDING' AND priced_at IS NULL`,
      [plan.cash, plan.points, plan.clawback, plan.clawbackFromLot, plan.clawbackExpired, plan.clawbackFromCash, plan.clawbackWaived, plan.cashReturned, now, refundId],
    );
    for (const l of plan.lines) {
      await execute(q, 'UPDATE refund_items SET refunded_before = ?, cash = ?, points = ?, clawback = ? WHERE refund_id = ? AND order_item_id = ?', [
        l.refundedBefore,
        l.cash,
        l.points,
        l.clawback,
        refundId,
        l.orderItemId,
      ]);
    }
  }

  /**
   * The refunded units move from pending to refunded, each line guarded (it
   * must still be where the plan priced it: refunded_quantity = refunded_before),
   * and the order's cash_refunded grows. Throws unless every line moved.
   */
  async applyUnits(q: QueryRunner, refundId: string, orderId: string, plan: RefundPlan): Promise<void> {
    const moved = await execute(
      q,
      `UPDATE order_items i JOIN refund_items ri ON ri.order_item_id = i.id AND ri.refund_id = ?
       SET i.refunded_quantity = i.refunded_quantity + ri.quantity, i.refund_pending_quantity = i.refund_pending_quantity - ri.quantity
       WHERE i.order_id = ? AND i.refunded_quantity = ri.refunded_before AND i.refund_pending_quantity >= ri.quantity`,
      [refundId, orderId],
    );
    if (moved.affectedRows !== plan.lines.length) throw new Error(`refund ${refundId}: the order's lines are not where the refund priced them`);
    await execute(q, 'UPDATE orders SET cash_refunded = cash_refunded + ? WHERE id = ?', [plan.cashReturned, orderId]);
  }

  /** Expired reward points earlier refunds of the order already counted against their clawback (priced and not failed). */
  async clawbackCoveredByExpiry(q: QueryRunner, orderId: string): Promise<number> {
    const [r] = await selectRows<Raw>(
      q,
      `SELECT COALESCE(SUM(clawback_expired), 0) AS n FROM refunds WHERE order_id = ? AND priced_at IS NOT NULL AND status <> 'FAILED'`,
      [orderId],
    );
    return num(r?.n ?? 0);
  }

  /** Units still not refunded, over the whole order (0: everything is refunded). */
  async unitsLeft(q: QueryRunner, orderId: string): Promise<number> {
    const [r] = await selectRows<Raw>(q, 'SELECT COALESCE(SUM(quantity - refunded_quantity), 0) AS n FROM order_items WHERE order_id = ?', [orderId]);
    return num(r?.n ?? 0);
  }

  /** PENDING → COMPLETED, exactly once (false: it was not PENDING any more). */
  async complete(
    q: QueryRunner,
    refundId: string,
    done: { now: Date; couponReturned: boolean; transactionKey: string | null; clawbackGap: number },
  ): Promise<boolean> {
    const res = await execute(
      q,
      `UPDATE refunds SET status = 'COMPLETED', completed_at = ?, coupon_returned = ?, gateway_transaction_key = ?,
         clawback_from_lot = clawback_from_lot - ?, clawback_waived = clawback_waived + ?
       WHERE id = ? AND status = 'PENDING'`,
      [done.now, done.couponReturned ? 1 : 0, done.transactionKey, done.clawbackGap, done.clawbackGap, refundId],
    );
    return res.affectedRows === 1;
  }

  /** PENDING → FAILED with nothing given back: its units are no longer held (2 statements). */
  async fail(q: QueryRunner, refundId: string, reason: RefundFailureReason, code: string | null, now: Date): Promise<boolean> {
    const res = await execute(
      q,
      `UPDATE refunds SET status = 'FAILED', failure_reason = ?, failure_code = ?, completed_at = ? WHERE id = ? AND status = 'PENDING'`,
      [reason, code, now, refundId],
    );
    if (res.affectedRows !== 1) return false;
    await execute(
      q,
      `UPDATE order_items i JOIN refund_items ri ON ri.order_item_id = i.id AND ri.refund_id = ?
       SET i.refund_pending_quantity = i.refund_pending_quantity - ri.quantity`,
      [refundId],
    );
    return true;
  }

  // ---- reads (primary: a caller sees their own refund at once) ----

  async get(refundId: string): Promise<RefundRow | null> {
    return this.read(this.ds, refundId, false);
  }

  /** Who may see the order's refunds: its customer and the sellers of its lines' stores (null: no such order). */
  async orderParties(orderId: string): Promise<{ userId: number; sellerIds: number[] } | null> {
    const [o] = await selectRows<Raw>(this.ds, 'SELECT user_id FROM orders WHERE id = ?', [orderId]);
    if (!o) return null;
    const sellers = await selectRows<Raw>(this.ds, 'SELECT DISTINCT s.seller_id FROM order_items i JOIN stores s ON s.id = i.store_id WHERE i.order_id = ?', [
      orderId,
    ]);
    return { userId: num(o.user_id), sellerIds: sellers.map((r) => num(r.seller_id)) };
  }

  /** The order's refunds, newest first. */
  async listOfOrder(orderId: string): Promise<RefundRow[]> {
    const rows = await selectRows<Raw>(
      this.ds,
      `SELECT ${REFUND_COLUMNS} FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.order_id = ? ORDER BY r.id DESC`,
      [orderId],
    );
    if (rows.length === 0) return [];
    const items = await selectRows<Raw>(
      this.ds,
      `SELECT ${ITEM_COLUMNS} FROM refund_items ri JOIN order_items i ON i.id = ri.order_item_id JOIN stores s ON s.id = i.store_id
       WHERE ri.refund_id IN (${rows.map(() => '?').join(', ')}) ORDER BY ri.refund_id, i.line_no`,
      rows.map((r) => r.id),
    );
    return rows.map((r) => toRefund(r, items.filter((i) => i.refund_id === r.id).map(toItem)));
  }

  /** Redis has learnt of the completed refund (its gate units, coupon hold and cached view): the outbox entry is done. */
  async markEffectsDone(refundId: string): Promise<void> {
    await execute(this.ds, 'UPDATE refunds SET effects_done_at = CURRENT_TIMESTAMP(3) WHERE id = ? AND effects_done_at IS NULL', [refundId]);
  }

  /** COMPLETED refunds whose Redis effects are still owed, completed before `before` (the worker died after its commit). */
  async effectsOwedSince(before: Date, limit: number): Promise<RefundRow[]> {
    const ids = await selectRows<Raw>(
      this.ds,
      `SELECT id FROM refunds WHERE status = 'COMPLETED' AND effects_done_at IS NULL AND completed_at < ? ORDER BY completed_at LIMIT ?`,
      [before, limit],
    );
    const rows = await Promise.all(ids.map((r) => this.get(String(r.id))));
    return rows.filter((r): r is RefundRow => r !== null);
  }

  /** PENDING refunds requested before `before`, oldest first (the reconciler makes sure each has a job). */
  async pendingSince(before: Date, limit: number): Promise<{ refundId: string; orderId: string; userId: number }[]> {
    const rows = await selectRows<Raw>(
      this.ds,
      `SELECT id, order_id, user_id FROM refunds WHERE status = 'PENDING' AND created_at < ? ORDER BY created_at LIMIT ?`,
      [before, limit],
    );
    return rows.map((r) => ({ refundId: String(r.id), orderId: String(r.order_id), userId: num(r.user_id) }));
  }

  private async read(db: SqlRunner, refundId: string, forUpdate: boolean): Promise<RefundRow | null> {
    const [r] = await selectRows<Raw>(
      db,
      `SELECT ${REFUND_COLUMNS} FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.id = ?${forUpdate ? ' FOR UPDATE' : ''}`,
      [refundId],
    );
    if (!r) return null;
    const items = await selectRows<Raw>(
      db,
      `SELECT ${ITEM_COLUMNS} FROM refund_items ri JOIN order_items i ON i.id = ri.order_item_id JOIN stores s ON s.id = i.store_id
       WHERE ri.refund_id = ? ORDER BY i.line_no`,
      [refundId],
    );
    return toRefund(r, items.map(toItem));
  }
}
