import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Foundation schema: users, stores, products, orders, order items, wallet. Money is BIGINT won. */
export class Initial1763900000000 implements MigrationInterface {
  name = 'Initial1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE users (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      email VARCHAR(254) NOT NULL,
      password_hash VARCHAR(255) NOT NULL,
      name VARCHAR(50) NOT NULL,
      role ENUM('CUSTOMER','SELLER','ADMIN') NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      UNIQUE KEY uq_users_email (email)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE stores (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      seller_id BIGINT UNSIGNED NOT NULL,
      name VARCHAR(100) NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      KEY idx_stores_seller (seller_id, id),
      CONSTRAINT fk_stores_seller FOREIGN KEY (seller_id) REFERENCES users (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE products (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      store_id BIGINT UNSIGNED NOT NULL,
      name VARCHAR(200) NOT NULL,
      description TEXT NOT NULL,
      price BIGINT UNSIGNED NOT NULL,
      stock INT UNSIGNED NOT NULL,
      status ENUM('ACTIVE','DELETED') NOT NULL DEFAULT 'ACTIVE',
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      KEY idx_products_store (store_id, id),
      CONSTRAINT fk_products_store FOREIGN KEY (store_id) REFERENCES stores (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE orders (
      id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      user_id BIGINT UNSIGNED NOT NULL,
      status ENUM('PENDING','PAID','FAILED','PARTIALLY_REFUNDED','REFUNDED','CANCELLED') NOT NULL,
      failure_reason ENUM('OUT_OF_STOCK','INSUFFICIENT_BALANCE','INSUFFICIENT_POINTS','COUPON_NOT_APPLICABLE','COUPON_UNAVAILABLE','PAYMENT_DECLINED','PAYMENT_ERROR') NULL,
      payment_method ENUM('BALANCE','CARD') NOT NULL,
      fulfillment JSON NOT NULL,
      items_total BIGINT UNSIGNED NOT NULL,
      discount_total BIGINT UNSIGNED NOT NULL DEFAULT 0,
      points_used BIGINT UNSIGNED NOT NULL DEFAULT 0,
      cash_paid BIGINT UNSIGNED NOT NULL,
      points_earned BIGINT UNSIGNED NOT NULL DEFAULT 0,
      idempotency_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      request_id VARCHAR(64) NOT NULL,
      accepted_at DATETIME(3) NOT NULL,
      settled_at DATETIME(3) NULL,
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      UNIQUE KEY uq_orders_user_key (user_id, idempotency_key),
      KEY idx_orders_user (user_id, id),
      KEY idx_orders_status (status, accepted_at),
      CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE order_items (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      order_id CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      line_no SMALLINT UNSIGNED NOT NULL,
      product_id BIGINT UNSIGNED NOT NULL,
      store_id BIGINT UNSIGNED NOT NULL,
      product_name VARCHAR(200) NOT NULL,
      unit_price BIGINT UNSIGNED NOT NULL,
      quantity INT UNSIGNED NOT NULL,
      subtotal BIGINT UNSIGNED NOT NULL,
      discount BIGINT UNSIGNED NOT NULL DEFAULT 0,
      points BIGINT UNSIGNED NOT NULL DEFAULT 0,
      cash BIGINT UNSIGNED NOT NULL,
      earned BIGINT UNSIGNED NOT NULL DEFAULT 0,
      refunded_quantity INT UNSIGNED NOT NULL DEFAULT 0,
      PRIMARY KEY (id),
      UNIQUE KEY idx_order_items_order (order_id, line_no),
      KEY idx_order_items_product (product_id),
      CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
      CONSTRAINT chk_order_items_refunded CHECK (refunded_quantity <= quantity)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE wallet_accounts (
      user_id BIGINT UNSIGNED NOT NULL,
      balance BIGINT UNSIGNED NOT NULL DEFAULT 0,
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (user_id),
      CONSTRAINT fk_wallet_accounts_user FOREIGN KEY (user_id) REFERENCES users (id)
    ) ENGINE=InnoDB`);

    await q.query(`CREATE TABLE wallet_entries (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      user_id BIGINT UNSIGNED NOT NULL,
      kind ENUM('CHARGE','ORDER_PAYMENT','ORDER_REFUND') NOT NULL,
      amount BIGINT NOT NULL,
      balance_after BIGINT UNSIGNED NOT NULL,
      ref VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      UNIQUE KEY uq_wallet_entries_ref (user_id, kind, ref),
      KEY idx_wallet_entries_user (user_id, id),
      CONSTRAINT fk_wallet_entries_account FOREIGN KEY (user_id) REFERENCES wallet_accounts (user_id)
    ) ENGINE=InnoDB`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['wallet_entries', 'wallet_accounts', 'order_items', 'orders', 'products', 'stores', 'users']) {
      await q.query(`DROP TABLE ${t}`);
    }
  }
}
