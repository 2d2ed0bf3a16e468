import { z } from 'zod';
import { LIMITS, id, listInput, type Page } from './common';
import type { ProductView } from './catalog.schema';

/** newest: id desc (the default); price: cheapest first; price_desc: dearest first; popular: most viewed first. Ties: by id. */
export const PRODUCT_SORTS = ['newest', 'price', 'price_desc', 'popular'] as const;
export type ProductSort = (typeof PRODUCT_SORTS)[number];

export const SEARCH_QUERY_MAX_CHARS = 100;

const price = z.number().int().min(0).max(LIMITS.maxPrice);
/** products.list's nextCursor: opaque; pass it back as is, with the same sort. */
const cursor = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'not a cursor this API returned');

/**
 * products.list: ACTIVE products, newest first unless `sort` says otherwise.
 * `query` searches names and descriptions (every word must be found; Korean
 * also inside compounds, English words also as prefixes); the results follow
 * `sort` like any listing. No input at all means the first page of everything.
 */
export const productListInput = z
  .strictObject({
    query: z.string().trim().min(1).max(SEARCH_QUERY_MAX_CHARS).optional(),
    storeId: id.optional(),
    minPrice: price.optional(),
    maxPrice: price.optional(),
    inStock: z.boolean().optional(),
    sort: z.enum(PRODUCT_SORTS).default('newest'),
    ...listInput,
    cursor: cursor.optional(),
  })
  .refine((v) => v.minPrice === undefined || v.maxPrice === undefined || v.minPrice <= v.maxPrice, {
    path: ['maxPrice'],
    error: 'must not be below minPrice',
  })
  .default({ sort: 'newest', limit: 20 });
export type ProductListInput = z.infer<typeof productListInput>;

/** A product in a list: as products.get shows it (live stock and views), the description cut to its first 200 characters. */
export type ProductListItem = ProductView;

export type ProductListPage = Page<ProductListItem>;
