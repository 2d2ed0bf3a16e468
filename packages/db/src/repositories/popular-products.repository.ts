import type { DataSource } from 'typeorm';
import { POPULARITY, popularityWindowStart, type RankedProduct } from '@bazaar/domain';
import { onReplica, selectRows } from '../data-source';

export interface PopularRanking {
  /** Orders accepted at or after this instant were counted. */
  windowStart: Date;
  /** Most units first, then the lower product id; POPULARITY.size + POPULARITY.spares at most. */
  items: RankedProduct[];
}

/**
 * Units sold per product over the popularity window, in one statement on a
 * replica (a read that may lag a little, and stays off the primary):
 *
 * - orders by idx_orders_status (status, accepted_at): one range per counted
 *   status, read from the index alone (the order id is in it);
 * - their lines by idx_order_items_order (order_id, line_no);
 * - units = quantity - refunded_quantity (refunds fill that column in: a
 *   refunded order's remaining units still count, a fully refunded one
 *   adds 0), summed per product; products on sale only.
 *
 * The window is on accepted_at, the moment the customer bought: it never
 * changes afterwards (settled_at of a card order waits for the gateway, and
 * refunds must not move an order in or out of the window).
 */
export class PopularProductsRepository {
  constructor(private readonly ds: DataSource) {}

  async ranking(now: Date): Promise<PopularRanking> {
    const windowStart = popularityWindowStart(now);
    const statuses = POPULARITY.countedStatuses;
    const rows = await onReplica(this.ds, (q) =>
      selectRows<{ id: number | string; store_id: number | string; name: string; price: number | string; units: number | string }>(
        q,
        `SELECT p.id, p.store_id, p.name, p.price, s.units
         FROM (
           SELECT i.product_id, SUM(i.quantity - i.refunded_quantity) AS units
           FROM orders o JOIN order_items i ON i.order_id = o.id
           WHERE o.status IN (${statuses.map(() => '?').join(', ')}) AND o.accepted_at >= ?
           GROUP BY i.product_id
         ) s
         JOIN products p ON p.id = s.product_id AND p.status = 'ACTIVE'
         WHERE s.units > 0
         ORDER BY s.units DESC, p.id
         LIMIT ?`,
        [...statuses, windowStart, POPULARITY.size + POPULARITY.spares],
      ),
    );
    return {
      windowStart,
      items: rows.map((r) => ({ id: Number(r.id), storeId: Number(r.store_id), name: r.name, price: Number(r.price), unitsSold: Number(r.units) })),
    };
  }
}
