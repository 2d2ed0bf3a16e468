import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Card payments: one row per CARD order, mirroring what the payment gateway holds. */
export class Payments1763900100000 implements MigrationInterface {
  name = 'Payments1763900100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE payments (
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      user_id BIGINT UNSIGNED NOT NULL,
      payment_key VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      amount BIGINT UNSIGNED NOT NULL,
      canceled_amount BIGINT UNSIGNED NOT NULL DEFAULT 0,
      status ENUM('CONFIRMING','DONE','FAILED','PARTIAL_CANCELED','CANCELED') NOT NULL,
      approved_at DATETIME(3) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (order_id),
      UNIQUE KEY uq_payments_key (payment_key),
      KEY idx_payments_status (status, updated_at),
      CONSTRAINT fk_payments_order FOREIGN KEY (order_id) REFERENCES orders (id),
      CONSTRAINT chk_payments_canceled CHECK (canceled_amount <= amount)
    ) ENGINE=InnoDB`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE payments');
  }
}
