import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Billing keys for CARD subscriptions (the gateway's automatic payment).
 *
 * billing_customers: each customer's customerKey, the opaque id the gateway binds their billing keys to
 * (random, made once per customer, never the user id). billing_keys: each key the gateway issued to a
 * customer (subscriptions.registerCard), owned by that customer, with the card summary the gateway gave;
 * DELETED once the last subscription using it was cancelled (deleted_at), gateway_deleted_at once the
 * gateway confirmed the delete. A CARD subscription names its key (subscriptions.billing_key), and the
 * foreign key keeps that name a key we hold.
 */
export class BillingKeys1764200300000 implements MigrationInterface {
  name = 'BillingKeys1764200300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE billing_customers (
      user_id BIGINT UNSIGNED NOT NULL,
      customer_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (user_id),
      UNIQUE KEY uq_billing_customers_key (customer_key),
      CONSTRAINT fk_billing_customers_user FOREIGN KEY (user_id) REFERENCES users (id)
    ) ENGINE=InnoDB`);
    await q.query(`CREATE TABLE billing_keys (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      user_id BIGINT UNSIGNED NOT NULL,
      customer_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      billing_key VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
      method VARCHAR(20) NULL,
      card_issuer_code VARCHAR(8) NULL,
      card_acquirer_code VARCHAR(8) NULL,
      card_number VARCHAR(40) NULL,
      card_type VARCHAR(16) NULL,
      card_owner_type VARCHAR(16) NULL,
      authenticated_at DATETIME(3) NULL,
      status ENUM('ACTIVE','DELETED') NOT NULL DEFAULT 'ACTIVE',
      created_at DATETIME(3) NOT NULL,
      deleted_at DATETIME(3) NULL,
      gateway_deleted_at DATETIME(3) NULL,
      PRIMARY KEY (id),
      UNIQUE KEY uq_billing_keys_key (billing_key),
      KEY idx_billing_keys_user (user_id, id),
      CONSTRAINT fk_billing_keys_customer FOREIGN KEY (user_id) REFERENCES billing_customers (user_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`ALTER TABLE subscriptions ADD CONSTRAINT fk_subscriptions_billing_key FOREIGN KEY (billing_key) REFERENCES billing_keys (billing_key)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE subscriptions DROP FOREIGN KEY fk_subscriptions_billing_key');
    await q.query('ALTER TABLE subscriptions DROP INDEX fk_subscriptions_billing_key');
    await q.query('DROP TABLE billing_keys');
    await q.query('DROP TABLE billing_customers');
  }
}
