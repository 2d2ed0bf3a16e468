import { OrderStatus } from '@bazaar/contracts';

/**
 * products.popular: the top products by units sold in the last three days.
 * Units sold = the ordered units of orders that were paid (PAID, and later
 * PARTIALLY_REFUNDED or REFUNDED: what is left of a refunded order still
 * counts) minus the units refunded. Equal units: the lower product id first,
 * so the ranking never flickers between two refreshes of the same data.
 */
export const POPULARITY = Object.freeze({
  size: 5,
  /**
   * Ranked products kept beyond `size` in the snapshot, so that a product
   * removed between two refreshes drops out without leaving a hole.
   */
  spares: 5,
  windowMs: 3 * 86_400_000,
  countedStatuses: Object.freeze([OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED] as const),
});

/** Orders accepted at or after this instant count. */
export function popularityWindowStart(now: Date): Date {
  return new Date(now.getTime() - POPULARITY.windowMs);
}

export interface RankedProduct {
  id: number;
  storeId: number;
  name: string;
  price: number;
  unitsSold: number;
}

/**
 * What is served from a ranked snapshot: products still on sale only (`live`
 * holds those, with their current name and price), in the snapshot's order,
 * at most POPULARITY.size of them.
 */
export function servePopular(ranked: readonly RankedProduct[], live: ReadonlyMap<number, { name: string; price: number }>): RankedProduct[] {
  const out: RankedProduct[] = [];
  for (const p of ranked) {
    const now = live.get(p.id);
    if (!now) continue;
    out.push({ ...p, name: now.name, price: now.price });
    if (out.length === POPULARITY.size) break;
  }
  return out;
}
