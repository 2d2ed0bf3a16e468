import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The money core, part 1: point lots with their spends and the spend↔lot
 * mapping (the many-to-many that makes an exact give-back possible), the
 * points ledger (one row for every change of a lot's remaining), and
 * first-come coupons with one claim per customer. Money and points are
 * BIGINT won.
 */
export class MoneyCore1764000000000 implements MigrationInterface {
  name = 'MoneyCore1764000000000';

  async up(q: QueryRunner): Promise<void> {
    // A credit of points. `remaining` only changes together with a point_movements row for this lot.
    await q.query(`CREATE TABLE point_lots (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      user_id BIGINT UNSIGNED NOT NULL,
      source ENUM('ORDER_REWARD','REFUND_REISSUE','GRANT') NOT NULL,
      ref VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      amount BIGINT UNSIGNED NOT NULL,
      remaining BIGINT UNSIGNED NOT NULL,
      expires_at DATETIME(3) NOT NULL,
      created_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_point_lots_ref (user_id, source, ref),
      KEY idx_point_lots_user (user_id, expires_at, id),
      KEY idx_point_lots_expiry (expires_at, remaining),
      CONSTRAINT fk_point_lots_user FOREIGN KEY (user_id) REFERENCES users (id),
      CONSTRAINT chk_point_lots_remaining CHECK (remaining <= amount)
    ) ENGINE=InnoDB`);

    // One spend per order that uses points: keyed by the order, so the order transaction can refer to it without reading an id back.
    await q.query(`CREATE TABLE point_spends (
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      user_id BIGINT UNSIGNED NOT NULL,
      amount BIGINT UNSIGNED NOT NULL,
      created_at DATETIME(3) NOT NULL,
      PRIMARY KEY (order_id),
      KEY idx_point_spends_user (user_id, order_id),
      CONSTRAINT fk_point_spends_order FOREIGN KEY (order_id) REFERENCES orders (id)
    ) ENGINE=InnoDB`);

    // Which lot paid how much of which spend, in consumption order (seq); `returned` is what give-backs undid since.
    await q.query(`CREATE TABLE point_spend_lots (
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      seq SMALLINT UNSIGNED NOT NULL,
      lot_id BIGINT UNSIGNED NOT NULL,
      amount BIGINT UNSIGNED NOT NULL,
      returned BIGINT UNSIGNED NOT NULL DEFAULT 0,
      PRIMARY KEY (order_id, seq),
      UNIQUE KEY uq_point_spend_lots_lot (order_id, lot_id),
      KEY idx_point_spend_lots_lot (lot_id),
      CONSTRAINT fk_point_spend_lots_spend FOREIGN KEY (order_id) REFERENCES point_spends (order_id),
      CONSTRAINT fk_point_spend_lots_lot FOREIGN KEY (lot_id) REFERENCES point_lots (id),
      CONSTRAINT chk_point_spend_lots_returned CHECK (returned <= amount)
    ) ENGINE=InnoDB`);

    // The ledger: every change of a lot's remaining, signed. (lot, kind, ref) unique: an effect applies once.
    await q.query(`CREATE TABLE point_movements (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      user_id BIGINT UNSIGNED NOT NULL,
      lot_id BIGINT UNSIGNED NOT NULL,
      kind ENUM('EARN','SPEND','RESTORE','REISSUE','CLAWBACK','EXPIRE','GRANT') NOT NULL,
      amount BIGINT NOT NULL,
      ref VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      actor_id BIGINT UNSIGNED NULL,
      reason VARCHAR(200) NULL,
      created_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_point_movements_effect (lot_id, kind, ref),
      KEY idx_point_movements_user (user_id, id),
      CONSTRAINT fk_point_movements_lot FOREIGN KEY (lot_id) REFERENCES point_lots (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // A coupon never changes after create; `claimed` is raised by the claim's own transaction, never past quantity.
    await q.query(`CREATE TABLE coupons (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      store_id BIGINT UNSIGNED NULL,
      created_by BIGINT UNSIGNED NOT NULL,
      name VARCHAR(100) NOT NULL,
      kind ENUM('FIXED','PERCENT') NOT NULL,
      value BIGINT UNSIGNED NOT NULL,
      max_discount BIGINT UNSIGNED NULL,
      min_order_amount BIGINT UNSIGNED NOT NULL DEFAULT 0,
      quantity INT UNSIGNED NOT NULL,
      claimed INT UNSIGNED NOT NULL DEFAULT 0,
      valid_from DATETIME(3) NOT NULL,
      valid_until DATETIME(3) NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      KEY idx_coupons_open (valid_until, id),
      KEY idx_coupons_store (store_id, valid_until, id),
      CONSTRAINT fk_coupons_store FOREIGN KEY (store_id) REFERENCES stores (id),
      CONSTRAINT fk_coupons_creator FOREIGN KEY (created_by) REFERENCES users (id),
      CONSTRAINT chk_coupons_claimed CHECK (claimed <= quantity),
      CONSTRAINT chk_coupons_window CHECK (valid_until > valid_from)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // One claim per (coupon, customer). order_id: the order that uses it (set in that order's transaction).
    await q.query(`CREATE TABLE coupon_claims (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      coupon_id BIGINT UNSIGNED NOT NULL,
      user_id BIGINT UNSIGNED NOT NULL,
      claimed_at DATETIME(3) NOT NULL,
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
      used_at DATETIME(3) NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_coupon_claims_user (coupon_id, user_id),
      KEY idx_coupon_claims_mine (user_id, id),
      KEY idx_coupon_claims_order (order_id),
      CONSTRAINT fk_coupon_claims_coupon FOREIGN KEY (coupon_id) REFERENCES coupons (id),
      CONSTRAINT fk_coupon_claims_user FOREIGN KEY (user_id) REFERENCES users (id)
    ) ENGINE=InnoDB`);

    // The order's coupon, so a cancel or a full refund can give it back.
    await q.query(`ALTER TABLE orders ADD COLUMN coupon_id BIGINT UNSIGNED NULL AFTER payment_method`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE orders DROP COLUMN coupon_id');
    for (const t of ['coupon_claims', 'coupons', 'point_movements', 'point_spend_lots', 'point_spends', 'point_lots']) {
      await q.query(`DROP TABLE ${t}`);
    }
  }
}
