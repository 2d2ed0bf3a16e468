import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The money core, part 2: refunds. A refund names lines and units; its
 * amounts are fixed by the worker that applies it (money.md §4) and kept per
 * line. `refund_pending_quantity` holds the units of refunds still PENDING, so
 * two requests can never together ask for more than is left.
 * `effects_done_at`: when Redis learnt of a completed refund (the sold-out
 * gate's units, the coupon's hold, the order's cached view); until then the
 * reconciler finishes it (an outbox).
 */
export class Refunds1764100000000 implements MigrationInterface {
  name = 'Refunds1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE refunds (
      id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      user_id BIGINT UNSIGNED NOT NULL,
      kind ENUM('REFUND','CANCEL') NOT NULL,
      requested_by BIGINT UNSIGNED NOT NULL,
      requester_role ENUM('CUSTOMER','SELLER','ADMIN') NOT NULL,
      idempotency_key VARCHAR(72) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      request_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      request_id VARCHAR(64) NOT NULL,
      status ENUM('PENDING','COMPLETED','FAILED') NOT NULL DEFAULT 'PENDING',
      cash BIGINT UNSIGNED NULL,
      points BIGINT UNSIGNED NULL,
      clawback BIGINT UNSIGNED NULL,
      clawback_from_lot BIGINT UNSIGNED NULL,
      clawback_expired BIGINT UNSIGNED NULL,
      clawback_from_cash BIGINT UNSIGNED NULL,
      clawback_waived BIGINT UNSIGNED NULL,
      cash_returned BIGINT UNSIGNED NULL,
      priced_at DATETIME(3) NULL,
      coupon_returned TINYINT(1) NOT NULL DEFAULT 0,
      gateway_transaction_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
      failure_reason ENUM('PAYMENT_CANCEL_REFUSED') NULL,
      failure_code VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
      created_at DATETIME(3) NOT NULL,
      completed_at DATETIME(3) NULL,
      effects_done_at DATETIME(3) NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_refunds_key (requested_by, idempotency_key),
      KEY idx_refunds_order (order_id, id),
      KEY idx_refunds_status (status, created_at),
      KEY idx_refunds_effects (status, effects_done_at, completed_at),
      CONSTRAINT fk_refunds_order FOREIGN KEY (order_id) REFERENCES orders (id),
      CONSTRAINT fk_refunds_requester FOREIGN KEY (requested_by) REFERENCES users (id),
      CONSTRAINT chk_refunds_cash CHECK (cash_returned IS NULL OR cash_returned <= cash)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // refunded_before: units of the line refunded before this refund (u in money.md §4), recorded with the amounts.
    await q.query(`CREATE TABLE refund_items (
      refund_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      order_item_id BIGINT UNSIGNED NOT NULL,
      quantity INT UNSIGNED NOT NULL,
      refunded_before INT UNSIGNED NULL,
      cash BIGINT UNSIGNED NULL,
      points BIGINT UNSIGNED NULL,
      clawback BIGINT UNSIGNED NULL,
      PRIMARY KEY (refund_id, order_item_id),
      KEY idx_refund_items_item (order_item_id),
      CONSTRAINT fk_refund_items_refund FOREIGN KEY (refund_id) REFERENCES refunds (id),
      CONSTRAINT fk_refund_items_item FOREIGN KEY (order_item_id) REFERENCES order_items (id),
      CONSTRAINT chk_refund_items_quantity CHECK (quantity >= 1)
    ) ENGINE=InnoDB`);

    await q.query(`ALTER TABLE order_items
      ADD COLUMN refund_pending_quantity INT UNSIGNED NOT NULL DEFAULT 0 AFTER refunded_quantity,
      ADD CONSTRAINT chk_order_items_refund_pending CHECK (refunded_quantity + refund_pending_quantity <= quantity)`);
    // The cash that actually went back over all completed refunds (after any reward already spent was kept).
    await q.query(`ALTER TABLE orders ADD COLUMN cash_refunded BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER points_earned`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE orders DROP COLUMN cash_refunded');
    await q.query('ALTER TABLE order_items DROP CONSTRAINT chk_order_items_refund_pending, DROP COLUMN refund_pending_quantity');
    await q.query('DROP TABLE refund_items');
    await q.query('DROP TABLE refunds');
  }
}
