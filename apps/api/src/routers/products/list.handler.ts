import { productListInput, type ProductListPage } from '@bazaar/contracts';
import { searchQueryTerms } from '@bazaar/domain';
import { sortKeyOf, type ProductListAfter } from '@bazaar/db';
import { badField } from '../../errors';
import { publicProcedure } from '../../trpc';
import { BadListCursor, decodeListCursor, encodeListCursor } from './list.cursor';

/**
 * products.list: one page of ACTIVE products from a replica, one SELECT on an
 * index (CatalogRepository.listProducts). Asks for one row more than the page
 * to know whether another page follows. Stock and view count are shown live,
 * as products.get shows them (the gate's available units; views not yet
 * flushed included); filters and sorts use MySQL's columns.
 */
export const listProducts = publicProcedure.input(productListInput).query(async ({ ctx, input }): Promise<ProductListPage> => {
  let terms: string[] | undefined;
  if (input.query !== undefined) {
    terms = searchQueryTerms(input.query);
    if (terms.length === 0) throw badField(['query'], 'has no letters or digits to search for');
  }
  let after: ProductListAfter | undefined;
  if (input.cursor !== undefined) {
    try {
      after = decodeListCursor(input.sort, input.cursor);
    } catch (err) {
      if (err instanceof BadListCursor) throw badField(['cursor'], err.message);
      throw err;
    }
  }
  const rows = await ctx.deps.catalog.listProducts({
    terms,
    storeId: input.storeId,
    minPrice: input.minPrice,
    maxPrice: input.maxPrice,
    inStock: input.inStock,
    sort: input.sort,
    after,
    limit: input.limit + 1,
  });
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  // The cursor holds the row's own sort key (MySQL's view count for popular), before the live figures go on.
  const nextCursor = rows.length > input.limit && last ? encodeListCursor(input.sort, { key: sortKeyOf(input.sort, last), id: last.id }) : null;
  return { items: await ctx.deps.productDetails.withLiveFigures(page), nextCursor };
});
