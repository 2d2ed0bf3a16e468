import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * After checkout: each store's part of an order with its own fulfillment
 * status (the seller's inbox reads it by store, newest first, by status, and
 * today's pickups by time), every move of a part recorded, and stores get a
 * status, opening hours, a time zone and a pickup lead time.
 */
export class Fulfillment1764200100000 implements MigrationInterface {
  name = 'Fulfillment1764200100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE stores
      ADD COLUMN status ENUM('OPEN','CLOSED') NOT NULL DEFAULT 'OPEN',
      ADD COLUMN opening_hours JSON NULL COMMENT 'weekly hours; NULL = the defaults (every day 10:00-21:00)',
      ADD COLUMN time_zone VARCHAR(64) NOT NULL DEFAULT 'Asia/Seoul',
      ADD COLUMN pickup_lead_minutes SMALLINT UNSIGNED NOT NULL DEFAULT 30,
      ADD COLUMN closed_at DATETIME(3) NULL`);

    await q.query(`CREATE TABLE order_store_parts (
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      store_id BIGINT UNSIGNED NOT NULL,
      user_id BIGINT UNSIGNED NOT NULL,
      fulfillment_type ENUM('DELIVERY','PICKUP') NOT NULL,
      status ENUM('PREPARING','SHIPPED','DELIVERED','READY_FOR_PICKUP','PICKED_UP') NOT NULL DEFAULT 'PREPARING',
      tracking_number VARCHAR(64) NULL,
      pickup_at DATETIME(3) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (order_id, store_id),
      KEY idx_parts_store (store_id, order_id),
      KEY idx_parts_store_status (store_id, status, order_id),
      KEY idx_parts_store_pickup (store_id, pickup_at),
      CONSTRAINT fk_parts_order FOREIGN KEY (order_id) REFERENCES orders (id),
      CONSTRAINT fk_parts_store FOREIGN KEY (store_id) REFERENCES stores (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE order_store_part_events (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      store_id BIGINT UNSIGNED NOT NULL,
      from_status ENUM('PREPARING','SHIPPED','DELIVERED','READY_FOR_PICKUP','PICKED_UP') NOT NULL,
      to_status ENUM('PREPARING','SHIPPED','DELIVERED','READY_FOR_PICKUP','PICKED_UP') NOT NULL,
      tracking_number VARCHAR(64) NULL,
      actor_id BIGINT UNSIGNED NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      KEY idx_part_events_part (order_id, store_id, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // Orders paid before this migration get their parts, still PREPARING. Their pickup time stays in the order's
    // fulfillment JSON (an ISO time with any offset, which SQL cannot read portably): such a part is not in the
    // store's pickups-by-day list, only in its inbox.
    await q.query(`INSERT INTO order_store_parts (order_id, store_id, user_id, fulfillment_type)
      SELECT DISTINCT o.id, i.store_id, o.user_id, JSON_UNQUOTE(JSON_EXTRACT(o.fulfillment, '$.type'))
      FROM orders o JOIN order_items i ON i.order_id = o.id
      WHERE o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE order_store_part_events');
    await q.query('DROP TABLE order_store_parts');
    await q.query('ALTER TABLE stores DROP COLUMN status, DROP COLUMN opening_hours, DROP COLUMN time_zone, DROP COLUMN pickup_lead_minutes, DROP COLUMN closed_at');
  }
}
