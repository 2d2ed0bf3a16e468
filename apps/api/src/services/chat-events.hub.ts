import type { Redis } from 'ioredis';
import type { ChatMessageView } from '@bazaar/contracts';
import type { RedisKeys } from '@bazaar/platform';

/** A committed message and its thread's previous last_message_id (tells a listener whether it missed one). */
export interface ChatEvent {
  message: ChatMessageView;
  previousId: number;
}

type Listener = (e: ChatEvent) => void;

/**
 * One sharded pub/sub connection per API process. A thread's channel is
 * subscribed when its first local listener arrives and unsubscribed when the
 * last leaves; listen() resolves only after the subscribe is acknowledged.
 */
export class ChatEventsHub {
  private readonly listeners = new Map<number, Set<Listener>>();
  private readonly subscribing = new Map<number, Promise<unknown>>();
  private readonly channels = new Map<string, number>();
  private closed = false;
  private readonly closers = new Set<() => void>();

  constructor(
    private readonly subscriber: Redis,
    private readonly publisher: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.subscriber.on('smessage', (channel: string, message: string) => {
      const threadId = this.channels.get(channel);
      if (threadId === undefined) return;
      const event = JSON.parse(message) as ChatEvent;
      for (const l of this.listeners.get(threadId) ?? []) l(event);
    });
  }

  /** Call after the send has committed. */
  async publish(event: ChatEvent): Promise<void> {
    await this.publisher.spublish(this.keys.chatThread(event.message.threadId), JSON.stringify(event));
  }

  async listen(threadId: number, signal: AbortSignal | undefined): Promise<AsyncIterableIterator<ChatEvent>> {
    const queue: ChatEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.closed;
    const listener: Listener = (e) => {
      queue.push(e);
      wake?.();
    };
    const stop = () => {
      done = true;
      wake?.();
    };
    let set = this.listeners.get(threadId);
    if (!set) {
      set = new Set<Listener>();
      this.listeners.set(threadId, set);
      const channel = this.keys.chatThread(threadId);
      this.channels.set(channel, threadId);
      this.subscribing.set(threadId, this.subscriber.ssubscribe(channel));
    }
    set.add(listener);
    this.closers.add(stop);
    signal?.addEventListener('abort', stop, { once: true });
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      set.delete(listener);
      this.closers.delete(stop);
      signal?.removeEventListener('abort', stop);
      if (set.size === 0 && this.listeners.get(threadId) === set) {
        this.listeners.delete(threadId);
        this.subscribing.delete(threadId);
        const channel = this.keys.chatThread(threadId);
        this.channels.delete(channel);
        if (!this.closed) void this.subscriber.sunsubscribe(channel).catch(() => undefined);
      }
    };
    try {
      await this.subscribing.get(threadId);
    } catch (err) {
      cleanup();
      throw err;
    }
    const iterator: AsyncIterableIterator<ChatEvent> = {
      [Symbol.asyncIterator]: () => iterator,
      next: async () => {
        while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const value = queue.shift();
        if (value) return { value, done: false };
        cleanup();
        return { value: undefined, done: true };
      },
      return: async () => {
        cleanup();
        return { value: undefined, done: true };
      },
    };
    return iterator;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stop of [...this.closers]) stop();
    await this.subscriber.quit().catch(() => undefined);
  }
}
