import { TRPCError, tracked } from '@trpc/server';
import {
  CHAT_LIMITS,
  type ChatHistoryInput,
  type ChatMessageView,
  type ChatOnMessageInput,
  type ChatSendInput,
  type ChatThreadView,
  type Page,
} from '@bazaar/contracts';
import { ChatCursorError, type ChatRepository, type ChatThread } from '@bazaar/db';
import type { Logger, Metrics, RedisKeys, Redis } from '@bazaar/platform';
import { badField, tooManyRequests } from '../errors';
import type { ChatEventsHub } from './chat-events.hub';
import type { Caller } from './fulfillment.service';

/** A fixed window per user: the count after this send, and the window's milliseconds left. */
const RATE_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

const notFound = (threadId: number) => new TRPCError({ code: 'NOT_FOUND', message: `no chat thread ${threadId}` });

/** How many missed messages one backlog read fetches at a time. */
const BACKLOG_PAGE = 500;

export interface ChatLimits {
  sendLimit: number;
  windowSeconds: number;
}

/**
 * chat.*: only the thread's customer and the store's seller read or write a
 * thread; anyone else is told it does not exist. onMessage listens before it
 * reads the backlog, and yields each message once, in id order, under its
 * MySQL id as the tracked() id, so a reconnect with lastEventId resumes exactly.
 */
export class ChatService {
  constructor(
    private readonly repo: ChatRepository,
    private readonly hub: ChatEventsHub,
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly metrics: Metrics,
    private readonly limits: ChatLimits,
  ) {
    // Registered once (EVALSHA after the first call), as the project's other scripts are.
    if (!('chatSendSlot' in redis)) redis.defineCommand('chatSendSlot', { numberOfKeys: 1, lua: RATE_SCRIPT });
  }

  async open(caller: Caller, storeId: number): Promise<{ threadId: number }> {
    const threadId = await this.repo.open(caller.userId, storeId);
    if (threadId === null) throw new TRPCError({ code: 'NOT_FOUND', message: `no store ${storeId}` });
    return { threadId };
  }

  async send(caller: Caller, input: ChatSendInput, log: Logger): Promise<ChatMessageView> {
    // The limit first: a flood is turned away before it costs a transaction. The send checks the participant under the thread's lock.
    await this.takeSendSlot(caller.userId);
    const result = await this.repo.send(input.threadId, caller.userId, input.body, input.clientMessageId);
    if (result.kind === 'NOT_FOUND') throw notFound(input.threadId);
    if (result.kind === 'CONFLICT') {
      this.metrics.chatMessages.inc({ outcome: 'conflict' });
      throw new TRPCError({ code: 'CONFLICT', message: 'this clientMessageId was already used for another message' });
    }
    this.metrics.chatMessages.inc({ outcome: result.kind });
    if (result.kind === 'sent') {
      // Committed: a lost publish delays live delivery until the thread's next message, whose previousId shows the gap.
      await this.hub.publish({ message: result.message, previousId: result.previousId }).catch((err: unknown) => {
        log.warn({ err, threadId: input.threadId, messageId: result.message.id }, 'chat publish failed; listeners catch up on the next message');
      });
    }
    return result.message;
  }

  async history(caller: Caller, input: ChatHistoryInput): Promise<Page<ChatMessageView>> {
    await this.participant(caller, input.threadId);
    return this.repo.history(input.threadId, input.cursor === undefined ? undefined : Number(input.cursor), input.limit);
  }

  async threads(caller: Caller, cursor: string | undefined, limit: number): Promise<Page<ChatThreadView>> {
    try {
      return await this.repo.threads(caller.userId, cursor, limit);
    } catch (err) {
      if (err instanceof ChatCursorError) throw badField(['cursor'], err.message);
      throw err;
    }
  }

  async markRead(caller: Caller, threadId: number, messageId: number): Promise<{ threadId: number; messageId: number }> {
    await this.participant(caller, threadId);
    if (!(await this.repo.markRead(threadId, caller.userId, messageId))) {
      throw badField(['messageId'], `no message ${messageId} in thread ${threadId}`);
    }
    return { threadId, messageId };
  }

  /** The messages of a thread: the backlog (after lastEventId, or the newest page), then live ones, each once and in order. */
  async *onMessage(caller: Caller, input: ChatOnMessageInput, signal: AbortSignal | undefined) {
    await this.participant(caller, input.threadId);
    // Listen first: a message committed while the backlog is read arrives live and is skipped by id if the read saw it.
    const events = await this.hub.listen(input.threadId, signal);
    try {
      let last = input.lastEventId === undefined ? 0 : Number(input.lastEventId);
      const backlog = input.lastEventId === undefined ? await this.repo.newest(input.threadId, CHAT_LIMITS.resumePage) : [];
      for (const m of backlog) {
        last = m.id;
        yield tracked(String(m.id), m);
      }
      if (input.lastEventId !== undefined) {
        for await (const m of this.missed(input.threadId, last)) {
          last = m.id;
          yield tracked(String(m.id), m);
        }
      }
      for await (const e of events) {
        if (e.message.id <= last) continue;
        if (e.previousId === last) {
          last = e.message.id;
          yield tracked(String(last), e.message);
          continue;
        }
        // A message between the last one yielded and this one did not arrive live (a lost publish): read it.
        for await (const m of this.missed(input.threadId, last)) {
          last = m.id;
          yield tracked(String(m.id), m);
        }
      }
    } finally {
      await events.return?.();
    }
  }

  private async *missed(threadId: number, afterId: number): AsyncGenerator<ChatMessageView> {
    for (let from = afterId; ;) {
      const page = await this.repo.after(threadId, from, BACKLOG_PAGE);
      yield* page;
      if (page.length < BACKLOG_PAGE) return;
      from = page[page.length - 1]!.id;
    }
  }

  /** The thread, when the caller is its customer or its store's seller; NOT_FOUND otherwise (no hint that it exists). */
  private async participant(caller: Caller, threadId: number): Promise<ChatThread> {
    const thread = await this.repo.thread(threadId);
    if (!thread || (thread.customerId !== caller.userId && thread.sellerId !== caller.userId)) {
      throw notFound(threadId);
    }
    return thread;
  }

  private async takeSendSlot(userId: number): Promise<void> {
    const windowMs = this.limits.windowSeconds * 1000;
    const redis = this.redis as Redis & { chatSendSlot(key: string, windowMs: number): Promise<[number, number]> };
    const [count, ttl] = await redis.chatSendSlot(this.keys.chatSendRate(userId), windowMs);
    if (count > this.limits.sendLimit) {
      this.metrics.chatMessages.inc({ outcome: 'rate_limited' });
      throw tooManyRequests(ttl / 1000, `at most ${this.limits.sendLimit} messages every ${this.limits.windowSeconds} s: try again later`);
    }
  }
}
