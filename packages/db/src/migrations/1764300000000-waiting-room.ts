import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Waiting-room events (waitingRoom.createEvent): which products need an admission token from when to when, and
 * the admission rate. waiting_room_event_products holds each event's products; its product_id key lets a new
 * event refuse a product that another event covers over an overlapping window. The line itself lives in Redis
 * (the scheduler's admission loop re-creates an event's Redis state from these rows if it is lost).
 * orders.failure_reason learns ADMISSION_REQUIRED so the column and FailureReason stay one list (an order
 * refused for it is refused at accept and never stored).
 */
export class WaitingRoom1764300000000 implements MigrationInterface {
  name = 'WaitingRoom1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE waiting_room_events (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      created_by BIGINT UNSIGNED NOT NULL,
      opens_at DATETIME(3) NOT NULL,
      closes_at DATETIME(3) NOT NULL,
      admit_per_second INT UNSIGNED NOT NULL,
      max_active INT UNSIGNED NOT NULL,
      token_ttl_seconds INT UNSIGNED NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      KEY idx_waiting_room_events_closes (closes_at),
      CONSTRAINT fk_waiting_room_events_user FOREIGN KEY (created_by) REFERENCES users (id)
    ) ENGINE=InnoDB`);
    await q.query(`CREATE TABLE waiting_room_event_products (
      event_id BIGINT UNSIGNED NOT NULL,
      product_id BIGINT UNSIGNED NOT NULL,
      PRIMARY KEY (event_id, product_id),
      KEY idx_waiting_room_event_products_product (product_id, event_id),
      CONSTRAINT fk_wr_event_products_event FOREIGN KEY (event_id) REFERENCES waiting_room_events (id),
      CONSTRAINT fk_wr_event_products_product FOREIGN KEY (product_id) REFERENCES products (id)
    ) ENGINE=InnoDB`);
    await q.query(
      `ALTER TABLE orders MODIFY failure_reason ENUM('OUT_OF_STOCK','INSUFFICIENT_BALANCE','INSUFFICIENT_POINTS','COUPON_NOT_APPLICABLE','COUPON_UNAVAILABLE','PAYMENT_DECLINED','PAYMENT_ERROR','ADMISSION_REQUIRED') NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE orders MODIFY failure_reason ENUM('OUT_OF_STOCK','INSUFFICIENT_BALANCE','INSUFFICIENT_POINTS','COUPON_NOT_APPLICABLE','COUPON_UNAVAILABLE','PAYMENT_DECLINED','PAYMENT_ERROR') NULL`,
    );
    await q.query('DROP TABLE waiting_room_event_products');
    await q.query('DROP TABLE waiting_room_events');
  }
}
