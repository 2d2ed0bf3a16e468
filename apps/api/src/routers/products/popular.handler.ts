import type { PopularProductsView } from '@bazaar/contracts';
import { publicProcedure } from '../../trpc';

/**
 * products.popular: the top 5 products on sale by units sold in the last
 * three days, from the scheduler's Redis snapshot (PopularProductsService).
 * No input; an empty list when nothing has sold yet.
 */
export const popularProducts = publicProcedure.query(({ ctx }): Promise<PopularProductsView> => ctx.deps.popular.get());
