import type { DataSource } from 'typeorm';
import type { ChatMessageView, ChatThreadView } from '@bazaar/contracts';
import { execute, inRetryingTransaction, isDuplicateKey, selectRows, type SqlRunner } from '../data-source';

/** A threads cursor this API did not return. */
export class ChatCursorError extends Error {
  constructor() {
    super('not a cursor this API returned');
  }
}

interface MessageRow {
  id: number | string;
  thread_id: number | string;
  sender_id: number | string;
  body: string;
  client_message_id: string;
  created_at: Date;
}

export interface ChatThread {
  id: number;
  customerId: number;
  storeId: number;
  sellerId: number;
  lastMessageId: number;
}

/** A send's outcome: a new message (with its thread's previous last message id), the same message again, a conflicting reuse of the clientMessageId, or not the sender's thread. */
export type ChatSendResult =
  | { kind: 'sent'; message: ChatMessageView; previousId: number }
  | { kind: 'duplicate'; message: ChatMessageView }
  | { kind: 'CONFLICT' }
  /** No such thread, or the sender is neither its customer nor its store's seller. */
  | { kind: 'NOT_FOUND' };

const MSG_COLUMNS = 'm.id, m.thread_id, m.sender_id, m.body, m.client_message_id, m.created_at';

export const toChatMessageView = (r: MessageRow): ChatMessageView => ({
  id: Number(r.id),
  threadId: Number(r.thread_id),
  senderId: Number(r.sender_id),
  body: r.body,
  clientMessageId: r.client_message_id,
  createdAt: r.created_at.toISOString(),
});

/** Buyer–seller chat. Every read goes to the primary: a sender reads its own writes. */
export class ChatRepository {
  constructor(private readonly ds: DataSource) {}

  /** The customer's thread with the store, created on first open (concurrent opens get one thread); null for an unknown store. */
  async open(customerId: number, storeId: number): Promise<number | null> {
    const res = await execute(
      this.ds,
      `INSERT INTO chat_threads (customer_id, store_id) SELECT ?, s.id FROM stores s WHERE s.id = ?
       ON DUPLICATE KEY UPDATE chat_threads.id = LAST_INSERT_ID(chat_threads.id)`,
      [customerId, storeId],
    );
    if (res.affectedRows === 0) return null;
    return Number(res.insertId);
  }

  async thread(id: number, db: SqlRunner = this.ds, lock = false): Promise<ChatThread | null> {
    const [row] = await selectRows<{
      id: number | string;
      customer_id: number | string;
      store_id: number | string;
      seller_id: number | string;
      last_message_id: number | string;
    }>(
      db,
      `SELECT t.id, t.customer_id, t.store_id, s.seller_id, t.last_message_id FROM chat_threads t JOIN stores s ON s.id = t.store_id WHERE t.id = ?${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    if (!row) return null;
    return {
      id: Number(row.id),
      customerId: Number(row.customer_id),
      storeId: Number(row.store_id),
      sellerId: Number(row.seller_id),
      lastMessageId: Number(row.last_message_id),
    };
  }

  /**
   * One transaction: lock the thread (so a thread's ids commit in order, and only its customer or its store's
   * seller may write), insert, advance last_message_id. The happy path is four round trips: the unique key
   * (thread, sender, clientMessageId) catches a repeat, which then reads what the first send stored.
   */
  async send(threadId: number, senderId: number, body: string, clientMessageId: string): Promise<ChatSendResult> {
    const repeat = async (db: SqlRunner): Promise<ChatSendResult | null> => {
      const [row] = await selectRows<MessageRow>(
        db,
        `SELECT ${MSG_COLUMNS} FROM chat_messages m WHERE m.thread_id = ? AND m.sender_id = ? AND m.client_message_id = ?`,
        [threadId, senderId, clientMessageId],
      );
      if (!row) return null;
      return row.body === body ? { kind: 'duplicate', message: toChatMessageView(row) } : { kind: 'CONFLICT' };
    };
    try {
      return await inRetryingTransaction(this.ds, async (q) => {
        const t = await this.thread(threadId, q, true);
        if (!t || (t.customerId !== senderId && t.sellerId !== senderId)) return { kind: 'NOT_FOUND' as const };
        // Milliseconds, as the column keeps them: the view needs no read back.
        const createdAt = new Date();
        let id: number;
        try {
          id = (
            await execute(q, `INSERT INTO chat_messages (thread_id, sender_id, body, client_message_id, created_at) VALUES (?, ?, ?, ?, ?)`, [
              threadId,
              senderId,
              body,
              clientMessageId,
              createdAt,
            ])
          ).insertId;
        } catch (err) {
          // Only the statement failed; the transaction (and the thread lock) holds.
          if (isDuplicateKey(err)) {
            const found = await repeat(q);
            if (found) return found;
          }
          throw err;
        }
        await execute(q, `UPDATE chat_threads SET last_message_id = ? WHERE id = ?`, [id, threadId]);
        const message: ChatMessageView = { id, threadId, senderId, body, clientMessageId, createdAt: createdAt.toISOString() };
        return { kind: 'sent' as const, message, previousId: t.lastMessageId };
      });
    } catch (err) {
      // Two first sends racing outside the lock cannot happen (the lock comes first); kept for a retried transaction.
      if (isDuplicateKey(err)) {
        const found = await repeat(this.ds);
        if (found) return found;
      }
      throw err;
    }
  }

  /** Newest first, below beforeId. */
  async history(threadId: number, beforeId: number | undefined, limit: number): Promise<{ items: ChatMessageView[]; nextCursor: string | null }> {
    const rows = await selectRows<MessageRow>(
      this.ds,
      `SELECT ${MSG_COLUMNS} FROM chat_messages m WHERE m.thread_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?`,
      [threadId, beforeId ?? Number.MAX_SAFE_INTEGER, limit + 1],
    );
    const items = rows.slice(0, limit).map(toChatMessageView);
    return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]?.id) : null };
  }

  /** Ascending, above afterId: onMessage's backlog. */
  async after(threadId: number, afterId: number, limit: number): Promise<ChatMessageView[]> {
    const rows = await selectRows<MessageRow>(
      this.ds,
      `SELECT ${MSG_COLUMNS} FROM chat_messages m WHERE m.thread_id = ? AND m.id > ? ORDER BY m.id ASC LIMIT ?`,
      [threadId, afterId, limit],
    );
    return rows.map(toChatMessageView);
  }

  /** The newest `limit` messages, in id order. */
  async newest(threadId: number, limit: number): Promise<ChatMessageView[]> {
    return (await this.history(threadId, undefined, limit)).items.reverse();
  }

  /**
   * The user's threads (as the customer, or as the seller of the store), newest activity first; keyset on
   * (last_message_id, id) via a cursor "lastMessageId:id". Each with its last message and the caller's unread count.
   */
  async threads(userId: number, cursor: string | undefined, limit: number): Promise<{ items: ChatThreadView[]; nextCursor: string | null }> {
    const parsed = cursor === undefined ? null : /^([0-9]{1,16}):([0-9]{1,16})$/.exec(cursor);
    if (cursor !== undefined && !parsed) throw new ChatCursorError();
    const cLast = parsed ? Number(parsed[1]) : Number.MAX_SAFE_INTEGER;
    const cId = parsed ? Number(parsed[2]) : Number.MAX_SAFE_INTEGER;
    const rows = await selectRows<{
      id: number | string;
      customer_id: number | string;
      store_id: number | string;
      last_message_id: number | string;
      created_at: Date;
      unread: number | string;
      m_id: number | string | null;
      m_sender_id: number | string | null;
      m_body: string | null;
      m_client_message_id: string | null;
      m_created_at: Date | null;
    }>(
      this.ds,
      `SELECT t.id, t.customer_id, t.store_id, t.last_message_id, t.created_at,
              m.id AS m_id, m.sender_id AS m_sender_id, m.body AS m_body, m.client_message_id AS m_client_message_id, m.created_at AS m_created_at,
              (SELECT COUNT(*) FROM chat_messages u WHERE u.thread_id = t.id AND u.id > COALESCE(r.last_read_message_id, 0) AND u.sender_id <> ?) AS unread
       FROM (
         SELECT t1.* FROM chat_threads t1 WHERE t1.customer_id = ?
         UNION
         SELECT t2.* FROM chat_threads t2 JOIN stores s ON s.id = t2.store_id WHERE s.seller_id = ?
       ) t
       LEFT JOIN chat_messages m ON m.id = NULLIF(t.last_message_id, 0)
       LEFT JOIN chat_reads r ON r.thread_id = t.id AND r.user_id = ?
       WHERE (t.last_message_id < ? OR (t.last_message_id = ? AND t.id < ?))
       ORDER BY t.last_message_id DESC, t.id DESC LIMIT ?`,
      [userId, userId, userId, userId, cLast, cLast, cId, limit + 1],
    );
    const page = rows.slice(0, limit);
    const items: ChatThreadView[] = page.map((r) => ({
      threadId: Number(r.id),
      customerId: Number(r.customer_id),
      storeId: Number(r.store_id),
      createdAt: r.created_at.toISOString(),
      lastMessage:
        r.m_id === null
          ? null
          : toChatMessageView({
              id: r.m_id,
              thread_id: r.id,
              sender_id: r.m_sender_id!,
              body: r.m_body!,
              client_message_id: r.m_client_message_id!,
              created_at: r.m_created_at!,
            }),
      unread: Number(r.unread),
    }));
    const last = page[page.length - 1];
    return { items, nextCursor: rows.length > limit && last ? `${Number(last.last_message_id)}:${Number(last.id)}` : null };
  }

  /** Monotonic read mark; false when the message is not in the thread. */
  async markRead(threadId: number, userId: number, messageId: number): Promise<boolean> {
    const res = await execute(
      this.ds,
      `INSERT INTO chat_reads (thread_id, user_id, last_read_message_id)
       SELECT m.thread_id, ?, m.id FROM chat_messages m WHERE m.id = ? AND m.thread_id = ?
       ON DUPLICATE KEY UPDATE last_read_message_id = GREATEST(last_read_message_id, VALUES(last_read_message_id))`,
      [userId, messageId, threadId],
    );
    if (res.affectedRows > 0) return true;
    const [row] = await selectRows<{ id: number }>(this.ds, `SELECT id FROM chat_messages WHERE id = ? AND thread_id = ?`, [messageId, threadId]);
    return row !== undefined;
  }
}
