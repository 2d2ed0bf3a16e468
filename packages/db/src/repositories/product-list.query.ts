import { ProductStatus, type ProductListItem, type ProductSort } from '@bazaar/contracts';

/** Characters of the description a list item carries (products.get has all of it). */
export const LIST_DESCRIPTION_CHARS = 200;

/** Where the previous page ended: its last row's sort key (none for newest) and id. */
export interface ProductListAfter {
  key: number | null;
  id: number;
}

export interface ProductListFilter {
  /** BOOLEAN MODE terms from searchQueryTerms, all required; none = no search. */
  terms?: string[];
  storeId?: number;
  minPrice?: number;
  maxPrice?: number;
  inStock?: boolean;
  sort: ProductSort;
  after?: ProductListAfter;
  limit: number;
}

interface SortShape {
  /** The row's key column for the cursor (besides id), or null when id alone orders. */
  key: 'price' | 'view_count' | null;
  desc: boolean;
  /** The indexes that walk this order: over the whole catalog (migration 1763900550000), and within a store (1763900500000). */
  index: string;
  storeIndex: string;
}

/**
 * Each sort is one index walk (the sort key first, or store_id, status and
 * the sort key): newest by id desc; price by price asc, id asc; price_desc
 * and popular (view_count) descending, ties by id desc. The keyset
 * condition is written out as
 * `key > ? OR (key = ? AND id > ?)`, which both MySQL and MariaDB turn into
 * index ranges (MariaDB does not range-optimize row comparisons).
 */
export const SORT_SHAPES: Readonly<Record<ProductSort, SortShape>> = {
  newest: { key: null, desc: true, index: 'PRIMARY', storeIndex: 'idx_products_store_list_newest' },
  price: { key: 'price', desc: false, index: 'idx_products_by_price', storeIndex: 'idx_products_store_list_price' },
  price_desc: { key: 'price', desc: true, index: 'idx_products_by_price', storeIndex: 'idx_products_store_list_price' },
  popular: { key: 'view_count', desc: true, index: 'idx_products_by_views', storeIndex: 'idx_products_store_list_popular' },
};

/** The sort key a row carries for the next page's cursor. */
export function sortKeyOf(sort: ProductSort, item: Pick<ProductListItem, 'price' | 'viewCount'>): number | null {
  const key = SORT_SHAPES[sort].key;
  return key === 'price' ? item.price : key === 'view_count' ? item.viewCount : null;
}

/**
 * The one SELECT of a products.list page: ACTIVE products only, the filters
 * given, the page after `after`, `limit` rows. A search narrows by the
 * FULLTEXT index and pages in the requested order like any other listing
 * (relevance scores change as the index changes, so they would make a poor
 * cursor; every term is required, so every row found matches the query).
 *
 * Without a search the statement names its indexes (FORCE INDEX). Left to
 * choose among all of them, MariaDB 10.11 may walk an index by `ref` on a
 * constant prefix (status, or store and status) instead of the range that
 * starts at the cursor, reading every row before it: about half the catalog
 * for a page in the middle (seen with ANALYZE on 100,000 products). So a
 * store's listing names the store's index for its sort, alone; the whole
 * catalog's listing names the sort's index, which has no constant prefix,
 * and with a price range also the price index, letting the optimizer take
 * the price range when it is the narrower walk.
 */
export function productListQuery(f: ProductListFilter): { sql: string; params: unknown[] } {
  const where = ['status = ?'];
  const params: unknown[] = [ProductStatus.ACTIVE];
  if (f.storeId !== undefined) {
    where.push('store_id = ?');
    params.push(f.storeId);
  }
  if (f.terms && f.terms.length > 0) {
    where.push('MATCH (search_tokens) AGAINST (? IN BOOLEAN MODE)');
    params.push(f.terms.join(' '));
  }
  if (f.minPrice !== undefined) {
    where.push('price >= ?');
    params.push(f.minPrice);
  }
  if (f.maxPrice !== undefined) {
    where.push('price <= ?');
    params.push(f.maxPrice);
  }
  if (f.inStock) where.push('stock > 0');

  const shape = SORT_SHAPES[f.sort];
  const cmp = shape.desc ? '<' : '>';
  const dir = shape.desc ? 'DESC' : 'ASC';
  if (f.after) {
    if (shape.key === null) {
      where.push(`id ${cmp} ?`);
      params.push(f.after.id);
    } else {
      where.push(`(${shape.key} ${cmp} ? OR (${shape.key} = ? AND id ${cmp} ?))`);
      params.push(f.after.key ?? 0, f.after.key ?? 0, f.after.id);
    }
  }
  const order = shape.key === null ? `id ${dir}` : `${shape.key} ${dir}, id ${dir}`;
  let hint = '';
  if (!f.terms || f.terms.length === 0) {
    const indexes = new Set([f.storeId === undefined ? shape.index : shape.storeIndex]);
    if (f.storeId === undefined && (f.minPrice !== undefined || f.maxPrice !== undefined)) indexes.add(SORT_SHAPES.price.index);
    hint = ` FORCE INDEX (${[...indexes].join(', ')})`;
  }
  params.push(f.limit);
  const sql =
    `SELECT id, store_id, name, LEFT(description, ${LIST_DESCRIPTION_CHARS}) AS description, price, stock, status, view_count, created_at, updated_at` +
    ` FROM products${hint} WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ?`;
  return { sql, params };
}

export interface ProductListRow {
  id: number | string;
  store_id: number | string;
  name: string;
  description: string;
  price: number | string;
  stock: number | string;
  status: ProductStatus;
  view_count: number | string;
  created_at: Date;
  updated_at: Date;
}

export const toProductListItem = (r: ProductListRow): ProductListItem => ({
  id: Number(r.id),
  storeId: Number(r.store_id),
  name: r.name,
  description: r.description,
  price: Number(r.price),
  stock: Number(r.stock),
  status: r.status,
  viewCount: Number(r.view_count),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});
