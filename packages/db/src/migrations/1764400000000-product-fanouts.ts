import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * product_fanouts: product changes whose Redis copies (the accept path's pricing snapshot, the sold-out gate's
 * counter, the detail and list caches) are not yet known to be written. A change marks its product before it writes
 * MySQL and clears its own mark (its token) once every copy is written; a mark left behind (Redis failed, the process
 * died) is repaired by the scheduler from MySQL's row (CatalogService.repair).
 */
export class ProductFanouts1764400000000 implements MigrationInterface {
  name = 'ProductFanouts1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE product_fanouts (
      product_id BIGINT UNSIGNED NOT NULL,
      token CHAR(22) NOT NULL,
      marked_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (product_id),
      KEY idx_product_fanouts_marked (marked_at)
    ) ENGINE=InnoDB`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE product_fanouts');
  }
}
