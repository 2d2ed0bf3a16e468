import type { MigrationInterface, QueryRunner } from 'typeorm';
import { searchIndexTokens } from '@bazaar/domain';

const BACKFILL_BATCH = 500;

/**
 * products.list: search and listing that stay on indexes with 100,000+ products.
 *
 * - `search_tokens`: the product's name and description as search tokens
 *   (packages/domain search-tokens.ts: Korean bigrams, marked words), written
 *   by the same statements that write the name and description, under a
 *   FULLTEXT index searched IN BOOLEAN MODE. utf8mb4_bin: tokens are already
 *   normalized, so they match byte for byte.
 * - One index per listing shape (only ACTIVE products are listed), each
 *   ending in id so keyset pages continue exactly where the last one ended:
 *   newest (id), price (price, id), popular (view_count, id), with and
 *   without a store in front.
 *
 * Existing rows are backfilled (their updated_at kept) before the FULLTEXT
 * index is built, so it is built once rather than row by row.
 */
export class ProductSearch1763900500000 implements MigrationInterface {
  name = 'ProductSearch1763900500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE products
      ADD COLUMN search_tokens MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT ('') AFTER description,
      ADD KEY idx_products_list_newest (status, id),
      ADD KEY idx_products_list_price (status, price, id),
      ADD KEY idx_products_list_popular (status, view_count, id),
      ADD KEY idx_products_store_list_newest (store_id, status, id),
      ADD KEY idx_products_store_list_price (store_id, status, price, id),
      ADD KEY idx_products_store_list_popular (store_id, status, view_count, id)`);
    await backfillSearchTokens(q);
    await q.query('ALTER TABLE products ADD FULLTEXT KEY ft_products_search (search_tokens)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE products
      DROP KEY ft_products_search,
      DROP KEY idx_products_list_newest,
      DROP KEY idx_products_list_price,
      DROP KEY idx_products_list_popular,
      DROP KEY idx_products_store_list_newest,
      DROP KEY idx_products_store_list_price,
      DROP KEY idx_products_store_list_popular,
      DROP COLUMN search_tokens`);
  }
}

/** Writes every product's tokens, BACKFILL_BATCH rows per statement, in id order. */
async function backfillSearchTokens(q: QueryRunner): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = (await q.query('SELECT id, name, description FROM products WHERE id > ? ORDER BY id LIMIT ?', [after, BACKFILL_BATCH])) as {
      id: number | string;
      name: string;
      description: string;
    }[];
    const last = rows[rows.length - 1];
    if (!last) return;
    const params: unknown[] = [];
    for (const r of rows) params.push(Number(r.id), searchIndexTokens(r.name, r.description));
    await q.query(
      `UPDATE products SET search_tokens = CASE id ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END, updated_at = updated_at WHERE id IN (${rows.map(() => '?').join(',')})`,
      [...params, ...rows.map((r) => Number(r.id))],
    );
    after = Number(last.id);
  }
}
