import { z } from 'zod';
import { id, listInput } from './common';

/** Chat limits (issue 10, part 5). */
export const CHAT_LIMITS = {
  /** A message body, after trimming. */
  maxBodyLength: 2000,
  /** onMessage without lastEventId yields the newest this-many messages (in id order), then live ones. */
  resumePage: 20,
} as const;

const body = z.string().trim().min(1).max(CHAT_LIMITS.maxBodyLength);
/** Like an idempotency key: 8 to 64 characters of A-Z a-z 0-9 _ -. */
export const clientMessageId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, '8 to 64 characters of A-Z a-z 0-9 _ -');
/** A message id (BIGINT AUTO_INCREMENT) as a string: history's cursor and onMessage's lastEventId. */
const messageCursor = z.string().regex(/^(0|[1-9][0-9]{0,15})$/, 'not a cursor this API returned');

export const chatOpenInput = z.strictObject({ storeId: id });
export const chatSendInput = z.strictObject({ threadId: id, body, clientMessageId });
/** Newest first; nextCursor is the page's oldest message id. */
export const chatHistoryInput = z.strictObject({ threadId: id, ...listInput, cursor: messageCursor.optional() });
export const chatThreadsInput = z.strictObject({ ...listInput });
/** Monotonic: a smaller messageId than the one recorded changes nothing. */
export const chatMarkReadInput = z.strictObject({ threadId: id, messageId: id });
/** lastEventId: resume after this message id (the tracked() id); without it, the newest CHAT_LIMITS.resumePage messages first. */
export const chatOnMessageInput = z.strictObject({ threadId: id, lastEventId: messageCursor.optional() });

export type ChatOpenInput = z.infer<typeof chatOpenInput>;
export type ChatSendInput = z.infer<typeof chatSendInput>;
export type ChatHistoryInput = z.infer<typeof chatHistoryInput>;
export type ChatThreadsInput = z.infer<typeof chatThreadsInput>;
export type ChatMarkReadInput = z.infer<typeof chatMarkReadInput>;
export type ChatOnMessageInput = z.infer<typeof chatOnMessageInput>;

export interface ChatMessageView {
  id: number;
  threadId: number;
  senderId: number;
  body: string;
  clientMessageId: string;
  createdAt: string;
}

export interface ChatThreadView {
  threadId: number;
  customerId: number;
  storeId: number;
  createdAt: string;
  lastMessage: ChatMessageView | null;
  /** Messages from the other side with an id above the caller's read mark. */
  unread: number;
}
