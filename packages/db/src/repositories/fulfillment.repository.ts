import type { DataSource, QueryRunner } from 'typeorm';
import { FulfillmentType, type FulfillmentStatus, type Fulfillment, type InboxLineView, type OrderStatus } from '@bazaar/contracts';
import { inRetryingTransaction, selectRows } from '../data-source';
import { valuesList, type Statement } from './sql-batch';

type Raw = Record<string, unknown>;
const num = (v: unknown) => Number(v);

/** One store's part of an order, as its seller and the customer see it. */
export interface StorePartRow {
  orderId: string;
  storeId: number;
  userId: number;
  fulfillmentType: FulfillmentType;
  status: FulfillmentStatus;
  trackingNumber: string | null;
  pickupAt: Date | null;
  updatedAt: Date;
}

/** A part in the seller's inbox: the part, its order's status and fulfillment details, and the store's own lines. */
export interface InboxRow extends StorePartRow {
  orderStatus: OrderStatus;
  fulfillment: Fulfillment;
  acceptedAt: Date;
  lines: InboxLine[];
}

/** A line of the store's part, as the inbox shows it (the contract's shape). */
export type InboxLine = InboxLineView;

/** What a fulfillment move sees, locked: the order's status, the part, and the units of the store's lines still to hand over. */
export interface LockedPart {
  orderStatus: OrderStatus;
  part: StorePartRow;
  /** Units of the store's lines neither refunded nor being refunded. */
  unitsLeft: number;
}

const toPart = (r: Raw): StorePartRow => ({
  orderId: String(r.order_id),
  storeId: num(r.store_id),
  userId: num(r.user_id),
  fulfillmentType: r.fulfillment_type as FulfillmentType,
  status: r.status as FulfillmentStatus,
  trackingNumber: (r.tracking_number ?? null) as string | null,
  pickupAt: (r.pickup_at ?? null) as Date | null,
  updatedAt: r.updated_at as Date,
});

/**
 * The inbox walks one store's slice of an index backwards from the cursor. Without the hint, MySQL and MariaDB
 * may walk the primary key in order instead (it also satisfies ORDER BY order_id ... LIMIT) and filter by store:
 * fine for a big store, a full scan for a small one.
 */
const inboxIndex = (status: FulfillmentStatus | undefined) => `FORCE INDEX (${status ? 'idx_parts_store_status' : 'idx_parts_store'})`;

const PART_COLUMNS = 'p.order_id, p.store_id, p.user_id, p.fulfillment_type, p.status, p.tracking_number, p.pickup_at, p.updated_at';

/**
 * The stores' parts of paid orders (order_store_parts): created by the order
 * transaction, moved by fulfillment.update, read by the seller's inbox and the
 * customer's order view. Reads go to the primary: a seller sees the move they
 * just made, a customer the status they were just told of.
 */
export class FulfillmentRepository {
  constructor(private readonly ds: DataSource) {}

  /** The parts of a newly paid order, one per store, PREPARING (one statement, in the order's transaction). */
  static partsInsert(o: { orderId: string; userId: number; fulfillment: Fulfillment; storeIds: number[] }): Statement {
    const stores = [...new Set(o.storeIds)].sort((a, b) => a - b);
    const pickupAt = o.fulfillment.type === FulfillmentType.PICKUP ? new Date(o.fulfillment.pickupAt) : null;
    return {
      sql: `INSERT INTO order_store_parts (order_id, store_id, user_id, fulfillment_type, pickup_at) VALUES ${valuesList(stores.length, 5)}`,
      params: stores.flatMap((s) => [o.orderId, s, o.userId, o.fulfillment.type, pickupAt]),
    };
  }

  /** A store's parts, newest order first, optionally of one status: keyset pages on (store_id[, status], order_id). */
  async inbox(storeId: number, status: FulfillmentStatus | undefined, beforeOrderId: string | undefined, limit: number): Promise<InboxRow[]> {
    const rows = await selectRows<Raw>(
      this.ds,
      `SELECT ${PART_COLUMNS}, o.status AS order_status, o.fulfillment, o.accepted_at
       FROM order_store_parts p ${inboxIndex(status)} JOIN orders o ON o.id = p.order_id
       WHERE p.store_id = ?${status ? ' AND p.status = ?' : ''} AND p.order_id < ?
       ORDER BY p.order_id DESC LIMIT ?`,
      [storeId, ...(status ? [status] : []), beforeOrderId ?? '~', limit],
    );
    return this.withLines(storeId, rows);
  }

  /** A store's pickups due in [from, to), in pickup time order (today's pickups). */
  async pickups(storeId: number, from: Date, to: Date, limit: number): Promise<InboxRow[]> {
    const rows = await selectRows<Raw>(
      this.ds,
      `SELECT ${PART_COLUMNS}, o.status AS order_status, o.fulfillment, o.accepted_at
       FROM order_store_parts p JOIN orders o ON o.id = p.order_id
       WHERE p.store_id = ? AND p.pickup_at >= ? AND p.pickup_at < ?
       ORDER BY p.pickup_at, p.order_id LIMIT ?`,
      [storeId, from, to, limit],
    );
    return this.withLines(storeId, rows);
  }

  /** The EXPLAIN of the inbox's query (the index test): what MySQL plans for it. */
  async explainInbox(storeId: number, status?: FulfillmentStatus): Promise<Raw[]> {
    return selectRows<Raw>(
      this.ds,
      `EXPLAIN SELECT ${PART_COLUMNS} FROM order_store_parts p ${inboxIndex(status)} JOIN orders o ON o.id = p.order_id
       WHERE p.store_id = ?${status ? ' AND p.status = ?' : ''} AND p.order_id < ? ORDER BY p.order_id DESC LIMIT 20`,
      [storeId, ...(status ? [status] : []), '~'],
    );
  }

  /** Every store's part of one order, by store id. */
  async partsOfOrder(orderId: string): Promise<StorePartRow[]> {
    const rows = await selectRows<Raw>(this.ds, `SELECT ${PART_COLUMNS} FROM order_store_parts p WHERE p.order_id = ? ORDER BY p.store_id`, [orderId]);
    return rows.map(toPart);
  }

  /** Parts of these orders (an order list's page), by order id. */
  async partsOfOrders(orderIds: string[]): Promise<Map<string, StorePartRow[]>> {
    const out = new Map<string, StorePartRow[]>();
    if (orderIds.length === 0) return out;
    const rows = await selectRows<Raw>(
      this.ds,
      `SELECT ${PART_COLUMNS} FROM order_store_parts p WHERE p.order_id IN (${orderIds.map(() => '?').join(',')}) ORDER BY p.order_id, p.store_id`,
      orderIds,
    );
    for (const r of rows.map(toPart)) out.set(r.orderId, [...(out.get(r.orderId) ?? []), r]);
    return out;
  }

  /** Whether any store has moved its part of the order past PREPARING (inside the caller's transaction, after it locked the order). */
  static async anyPartMoved(q: QueryRunner, orderId: string): Promise<boolean> {
    const rows = await selectRows<Raw>(q, "SELECT 1 FROM order_store_parts WHERE order_id = ? AND status <> 'PREPARING' LIMIT 1", [orderId]);
    return rows.length > 0;
  }

  /**
   * Moves a part in one transaction: locks the order row (as refunds and cancels do, so a move and a refund of
   * the same order take turns), then the part; `decide` reads what it found and refuses or allows; an allowed
   * move updates the part (guarded on the status it read) and records the event.
   */
  async move<R>(
    orderId: string,
    storeId: number,
    decide: (found: LockedPart | null) => { to: FulfillmentStatus; trackingNumber: string | null; actorId: number } | { refused: R },
  ): Promise<{ moved: StorePartRow } | { refused: R }> {
    return inRetryingTransaction(this.ds, async (q) => {
      const [o] = await selectRows<Raw>(q, 'SELECT status FROM orders WHERE id = ? FOR UPDATE', [orderId]);
      const [p] = o ? await selectRows<Raw>(q, `SELECT ${PART_COLUMNS} FROM order_store_parts p WHERE p.order_id = ? AND p.store_id = ? FOR UPDATE`, [orderId, storeId]) : [];
      let found: LockedPart | null = null;
      if (o && p) {
        const [left] = await selectRows<Raw>(
          q,
          'SELECT COALESCE(SUM(quantity - refunded_quantity - refund_pending_quantity), 0) AS units FROM order_items WHERE order_id = ? AND store_id = ?',
          [orderId, storeId],
        );
        found = { orderStatus: o.status as OrderStatus, part: toPart(p), unitsLeft: num(left?.units ?? 0) };
      }
      const d = decide(found);
      if ('refused' in d) return d;
      const part = found!.part;
      await q.query(
        `UPDATE order_store_parts SET status = ?, tracking_number = COALESCE(?, tracking_number) WHERE order_id = ? AND store_id = ? AND status = ?`,
        [d.to, d.trackingNumber, orderId, storeId, part.status],
      );
      await q.query(
        'INSERT INTO order_store_part_events (order_id, store_id, from_status, to_status, tracking_number, actor_id) VALUES (?, ?, ?, ?, ?, ?)',
        [orderId, storeId, part.status, d.to, d.trackingNumber, d.actorId],
      );
      return { moved: { ...part, status: d.to, trackingNumber: d.trackingNumber ?? part.trackingNumber, updatedAt: new Date() } };
    });
  }

  private async withLines(storeId: number, rows: Raw[]): Promise<InboxRow[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.order_id));
    const items = await selectRows<Raw>(
      this.ds,
      `SELECT id, order_id, product_id, product_name, unit_price, quantity, subtotal, discount, points, cash, refunded_quantity, refund_pending_quantity
       FROM order_items WHERE order_id IN (${ids.map(() => '?').join(',')}) AND store_id = ? ORDER BY order_id, line_no`,
      [...ids, storeId],
    );
    const byOrder = new Map<string, InboxLine[]>();
    for (const i of items) {
      const key = String(i.order_id);
      byOrder.set(key, [
        ...(byOrder.get(key) ?? []),
        {
          orderItemId: num(i.id),
          productId: num(i.product_id),
          productName: String(i.product_name),
          unitPrice: num(i.unit_price),
          quantity: num(i.quantity),
          subtotal: num(i.subtotal),
          discount: num(i.discount),
          points: num(i.points),
          cash: num(i.cash),
          refundedQuantity: num(i.refunded_quantity),
          refundPendingQuantity: num(i.refund_pending_quantity),
        },
      ]);
    }
    return rows.map((r) => {
      const f = r.fulfillment;
      return {
        ...toPart(r),
        orderStatus: r.order_status as OrderStatus,
        fulfillment: (typeof f === 'string' ? JSON.parse(f) : f) as Fulfillment,
        acceptedAt: r.accepted_at as Date,
        lines: byOrder.get(String(r.order_id)) ?? [],
      };
    });
  }
}
