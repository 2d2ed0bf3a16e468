import type { ProductListPage } from '@bazaar/contracts';
import { sortKeyOf, type CatalogRepository, type ProductListFilter } from '@bazaar/db';
import { encodeListCursor } from './list.cursor';

/** Reads one products.list page from MySQL, as MySQL has it (stock and view count are MySQL's columns). */
export type ListPageLoader = (filter: ProductListFilter, from: 'primary' | 'replica') => Promise<ProductListPage>;

/**
 * One SELECT on an index (CatalogRepository.listProducts) for `limit` rows
 * and one more, to know whether another page follows. The cursor holds the
 * last row's own sort key (MySQL's view count for popular).
 */
export const listPageLoader =
  (catalog: CatalogRepository): ListPageLoader =>
  async (filter, from) => {
    const rows = await catalog.listProducts({ ...filter, limit: filter.limit + 1 }, from);
    const items = rows.slice(0, filter.limit);
    const last = items[items.length - 1];
    const nextCursor = rows.length > filter.limit && last ? encodeListCursor(filter.sort, { key: sortKeyOf(filter.sort, last), id: last.id }) : null;
    return { items, nextCursor };
  };
