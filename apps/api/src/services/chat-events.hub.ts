import type { ChatMessageView } from '@bazaar/contracts';
import type { RedisKeys, Redis } from '@bazaar/platform';
import { eventStream } from './event-stream';

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
    let set = this.listeners.get(threadId);
    if (!set) {
      set = new Set<Listener>();
      this.listeners.set(threadId, set);
      const channel = this.keys.chatThread(threadId);
      this.channels.set(channel, threadId);
      this.subscribing.set(threadId, this.subscriber.ssubscribe(channel));
    }
    const own = set;
    const stream = eventStream<ChatEvent>(signal, () => {
      own.delete(stream.push);
      this.closers.delete(stream.stop);
      if (own.size === 0 && this.listeners.get(threadId) === own) {
        this.listeners.delete(threadId);
        this.subscribing.delete(threadId);
        const channel = this.keys.chatThread(threadId);
        this.channels.delete(channel);
        if (!this.closed) void this.subscriber.sunsubscribe(channel).catch(() => undefined);
      }
    });
    own.add(stream.push);
    this.closers.add(stream.stop);
    if (this.closed) stream.stop();
    try {
      await this.subscribing.get(threadId);
    } catch (err) {
      await stream.iterator.return?.();
      throw err;
    }
    return stream.iterator;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stop of [...this.closers]) stop();
    await this.subscriber.quit().catch(() => undefined);
  }
}
