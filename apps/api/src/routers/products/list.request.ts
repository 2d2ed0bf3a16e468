import type { ProductListInput } from '@bazaar/contracts';
import { searchQueryTerms } from '@bazaar/domain';
import type { ProductListAfter, ProductListFilter } from '@bazaar/db';
import { BadListCursor, decodeListCursor } from './list.cursor';

/** An input the schema accepts that still asks for no page: the field it names and why. */
export interface ListRefusal {
  refused: { path: string[]; message: string };
}

/**
 * The page a validated products.list input asks for (the rows of the page and
 * one more, to know whether another follows), or why there is none: a query
 * with nothing to search for, a cursor this API did not return for that sort.
 * The handler turns a refusal into BAD_REQUEST; the fast path leaves it to the
 * handler.
 */
export function listFilterOf(input: ProductListInput): ProductListFilter | ListRefusal {
  let terms: string[] | undefined;
  if (input.query !== undefined) {
    terms = searchQueryTerms(input.query);
    if (terms.length === 0) return { refused: { path: ['query'], message: 'has no letters or digits to search for' } };
  }
  let after: ProductListAfter | undefined;
  if (input.cursor !== undefined) {
    try {
      after = decodeListCursor(input.sort, input.cursor);
    } catch (err) {
      if (err instanceof BadListCursor) return { refused: { path: ['cursor'], message: err.message } };
      throw err;
    }
  }
  return {
    terms,
    storeId: input.storeId,
    minPrice: input.minPrice,
    maxPrice: input.maxPrice,
    inStock: input.inStock,
    sort: input.sort,
    after,
    limit: input.limit,
  };
}
