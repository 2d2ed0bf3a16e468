import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Subscription (recurring) orders. A subscription holds the order it repeats (items, payment, fulfillment)
 * and where its schedule stands: `next_cycle` is the cycle to place next, `attempt` the dunning retry of
 * that cycle (0 = first try), `retry_at` when the next try may be placed, `pending_order_id` the order of
 * the current try whose outcome the scheduler has not read yet. One row per try in subscription_cycles is
 * the customer-visible history (cycle number, order id, outcome).
 */
export class Subscriptions1764200200000 implements MigrationInterface {
  name = 'Subscriptions1764200200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE subscriptions (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      user_id BIGINT UNSIGNED NOT NULL,
      status ENUM('ACTIVE','PAUSED','CANCELLED') NOT NULL DEFAULT 'ACTIVE',
      pause_reason ENUM('CUSTOMER','DUNNING_EXHAUSTED','PRODUCT_UNAVAILABLE','STORE_CLOSED','PICKUP_TIME_REFUSED','ORDER_REFUSED') NULL,
      pause_detail VARCHAR(300) NULL,
      items JSON NOT NULL,
      payment_method ENUM('BALANCE','CARD') NOT NULL,
      billing_key VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NULL,
      fulfillment JSON NOT NULL,
      every_count TINYINT UNSIGNED NOT NULL,
      every_unit ENUM('WEEK','MONTH') NOT NULL,
      start_at DATETIME(3) NOT NULL,
      next_cycle INT UNSIGNED NOT NULL DEFAULT 0,
      next_due_at DATETIME(3) NOT NULL,
      attempt TINYINT UNSIGNED NOT NULL DEFAULT 0,
      pending_order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      PRIMARY KEY (id),
      KEY idx_subscriptions_user (user_id, id),
      KEY idx_subscriptions_due (status, next_due_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`CREATE TABLE subscription_products (
      subscription_id BIGINT UNSIGNED NOT NULL,
      product_id BIGINT UNSIGNED NOT NULL,
      store_id BIGINT UNSIGNED NOT NULL,
      PRIMARY KEY (subscription_id, product_id),
      KEY idx_subscription_products_product (product_id),
      KEY idx_subscription_products_store (store_id)
    ) ENGINE=InnoDB`);
    await q.query(`CREATE TABLE subscription_cycles (
      subscription_id BIGINT UNSIGNED NOT NULL,
      cycle INT UNSIGNED NOT NULL,
      attempt TINYINT UNSIGNED NOT NULL,
      due_at DATETIME(3) NOT NULL,
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NULL,
      outcome ENUM('PLACED','PAID','FAILED','REFUSED','SKIPPED') NOT NULL,
      reason VARCHAR(300) NULL,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      PRIMARY KEY (subscription_id, cycle, attempt)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE subscription_cycles');
    await q.query('DROP TABLE subscription_products');
    await q.query('DROP TABLE subscriptions');
  }
}
