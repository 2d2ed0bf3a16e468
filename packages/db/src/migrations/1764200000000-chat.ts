import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Buyer–seller chat: one thread per customer and store, messages with a
 * monotonic id (the SSE event id), and a read mark per participant.
 * last_message_id is 0 until the first message (NOT NULL keeps the keyset
 * order of the thread lists simple); sends lock the thread row, so within a
 * thread ids commit in order and last_message_id is each message's predecessor.
 */
export class Chat1764200000000 implements MigrationInterface {
  name = 'Chat1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE chat_threads (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      customer_id BIGINT UNSIGNED NOT NULL,
      store_id BIGINT UNSIGNED NOT NULL,
      last_message_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      UNIQUE KEY uq_chat_threads_customer_store (customer_id, store_id),
      KEY idx_chat_threads_customer_recent (customer_id, last_message_id),
      KEY idx_chat_threads_store_recent (store_id, last_message_id),
      CONSTRAINT fk_chat_threads_customer FOREIGN KEY (customer_id) REFERENCES users (id),
      CONSTRAINT fk_chat_threads_store FOREIGN KEY (store_id) REFERENCES stores (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE chat_messages (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      thread_id BIGINT UNSIGNED NOT NULL,
      sender_id BIGINT UNSIGNED NOT NULL,
      body TEXT NOT NULL,
      client_message_id VARCHAR(64) NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (id),
      UNIQUE KEY uq_chat_messages_client (thread_id, sender_id, client_message_id),
      KEY idx_chat_messages_thread (thread_id, id),
      CONSTRAINT fk_chat_messages_thread FOREIGN KEY (thread_id) REFERENCES chat_threads (id),
      CONSTRAINT fk_chat_messages_sender FOREIGN KEY (sender_id) REFERENCES users (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`CREATE TABLE chat_reads (
      thread_id BIGINT UNSIGNED NOT NULL,
      user_id BIGINT UNSIGNED NOT NULL,
      last_read_message_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      PRIMARY KEY (thread_id, user_id),
      KEY idx_chat_reads_user (user_id),
      CONSTRAINT fk_chat_reads_thread FOREIGN KEY (thread_id) REFERENCES chat_threads (id),
      CONSTRAINT fk_chat_reads_user FOREIGN KEY (user_id) REFERENCES users (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE chat_reads');
    await q.query('DROP TABLE chat_messages');
    await q.query('DROP TABLE chat_threads');
  }
}
