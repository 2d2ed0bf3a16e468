import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * products.list over the whole catalog walks indexes that start with its
 * sort key, not with status: the primary key (newest), (price, id) and
 * (view_count, id); status is checked on the rows (few are DELETED).
 *
 * With (status, …) first, a page that also filters by price lets MariaDB
 * 10.11 weigh the sort's index against the price index, and when it picks
 * the sort's index it walks it by `ref` on status from its very start
 * instead of the range after the cursor: 47,906 rows read for a page of 21
 * in the middle of 100,000 products (ANALYZE). With no constant prefix
 * there is no `ref` to fall into, so the optimizer may be offered both
 * indexes and chooses by the price range's width. Within a store the
 * (store_id, status, …) indexes stay: the list names one of them alone.
 */
export class ProductListIndexes1763900550000 implements MigrationInterface {
  name = 'ProductListIndexes1763900550000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE products
      DROP KEY idx_products_list_newest,
      DROP KEY idx_products_list_price,
      DROP KEY idx_products_list_popular,
      ADD KEY idx_products_by_price (price, id),
      ADD KEY idx_products_by_views (view_count, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE products
      DROP KEY idx_products_by_price,
      DROP KEY idx_products_by_views,
      ADD KEY idx_products_list_newest (status, id),
      ADD KEY idx_products_list_price (status, price, id),
      ADD KEY idx_products_list_popular (status, view_count, id)`);
  }
}
