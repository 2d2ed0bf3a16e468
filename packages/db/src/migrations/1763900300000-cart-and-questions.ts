import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Carts (one line per customer and product) and product Q&A.
 * The quantity bound is written out (99 = LIMITS.maxQuantityPerLine today): a
 * migration is a snapshot and must not change when the constant does. The
 * cart's merge-add relies on chk_cart_items_quantity to refuse a line past 99
 * in the same statement that adds to it.
 */
export class CartAndQuestions1763900300000 implements MigrationInterface {
  name = 'CartAndQuestions1763900300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE cart_items (
      user_id BIGINT UNSIGNED NOT NULL,
      product_id BIGINT UNSIGNED NOT NULL,
      quantity SMALLINT UNSIGNED NOT NULL,
      added_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (user_id, product_id),
      KEY idx_cart_items_product (product_id),
      CONSTRAINT fk_cart_items_user FOREIGN KEY (user_id) REFERENCES users (id),
      CONSTRAINT fk_cart_items_product FOREIGN KEY (product_id) REFERENCES products (id),
      CONSTRAINT chk_cart_items_quantity CHECK (quantity BETWEEN 1 AND 99)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE questions (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      product_id BIGINT UNSIGNED NOT NULL,
      customer_id BIGINT UNSIGNED NOT NULL,
      body TEXT NOT NULL,
      answer TEXT NULL,
      answered_by BIGINT UNSIGNED NULL,
      answered_at DATETIME(3) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      KEY idx_questions_product (product_id, id),
      KEY idx_questions_customer (customer_id, id),
      KEY idx_questions_answered_by (answered_by),
      CONSTRAINT fk_questions_product FOREIGN KEY (product_id) REFERENCES products (id),
      CONSTRAINT fk_questions_customer FOREIGN KEY (customer_id) REFERENCES users (id),
      CONSTRAINT fk_questions_answered_by FOREIGN KEY (answered_by) REFERENCES users (id),
      CONSTRAINT chk_questions_answer CHECK ((answer IS NULL) = (answered_by IS NULL) AND (answer IS NULL) = (answered_at IS NULL))
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE questions');
    await q.query('DROP TABLE cart_items');
  }
}
