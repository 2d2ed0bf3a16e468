import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * View counts: products.get counts views in Redis; the scheduler flushes them
 * here. Each flush is one batch with its own id; the batch's row and the
 * counts it adds commit in one transaction, so a batch re-applied after a
 * crash (its Redis copy still there) hits the primary key and adds nothing.
 */
export class ProductViews1763900400000 implements MigrationInterface {
  name = 'ProductViews1763900400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE products ADD COLUMN view_count BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER stock`);
    await q.query(`CREATE TABLE view_flushes (
      batch_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      products INT UNSIGNED NOT NULL,
      views BIGINT UNSIGNED NOT NULL,
      flushed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (batch_id),
      KEY idx_view_flushes_at (flushed_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE view_flushes');
    await q.query('ALTER TABLE products DROP COLUMN view_count');
  }
}
