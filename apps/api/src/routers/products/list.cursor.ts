import { z } from 'zod';
import { PRODUCT_SORTS, id, type ProductSort } from '@bazaar/contracts';
import { SORT_SHAPES, type ProductListAfter } from '@bazaar/db';

/**
 * products.list's cursor: base64url of {s: sort, k: the last row's sort key
 * (null for newest), i: its id}. Opaque to clients; decoded strictly here, so
 * anything this API did not return is refused, never run as a query.
 */
const payload = z.strictObject({
  s: z.enum(PRODUCT_SORTS),
  k: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
  i: id,
});

export function encodeListCursor(sort: ProductSort, after: ProductListAfter): string {
  return Buffer.from(JSON.stringify({ s: sort, k: after.key, i: after.id }), 'utf8').toString('base64url');
}

export class BadListCursor extends Error {}

/** The position a cursor names, for the given sort; throws BadListCursor when it is not one this API returned for that sort. */
export function decodeListCursor(sort: ProductSort, cursor: string): ProductListAfter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadListCursor('not a cursor this API returned');
  }
  const p = payload.safeParse(parsed);
  if (!p.success || (p.data.k === null) !== (SORT_SHAPES[p.data.s].key === null)) throw new BadListCursor('not a cursor this API returned');
  if (p.data.s !== sort) throw new BadListCursor(`a cursor of sort ${p.data.s}, not ${sort}`);
  return { key: p.data.k, id: p.data.i };
}
