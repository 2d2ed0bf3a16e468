import { productListInput, type ProductListPage } from '@bazaar/contracts';
import { badField } from '../../errors';
import { publicProcedure } from '../../trpc';
import { listFilterOf } from './list.request';

/**
 * products.list: one page of ACTIVE products through the list cache
 * (ProductListCache: pages cached per catalog version, rebuilt from the
 * primary; a listing with inStock read from a replica each time). Stock and
 * view count are shown live, as products.get shows them (the gate's available
 * units; views not yet flushed included); filters and sorts use MySQL's
 * columns. The list fast path answers the same from the same cache.
 */
export const listProducts = publicProcedure.input(productListInput).query(async ({ ctx, input }): Promise<ProductListPage> => {
  const filter = listFilterOf(input);
  if ('refused' in filter) throw badField(filter.refused.path, filter.refused.message);
  return ctx.deps.productLists.page(filter);
});
