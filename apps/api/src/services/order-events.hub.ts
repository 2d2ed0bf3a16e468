import type { RedisKeys, Redis } from '@bazaar/platform';
import { eventStream } from './event-stream';

export interface OrderEvent {
  orderId: string;
  status: string;
}

type Listener = (e: OrderEvent) => void;

/**
 * One Redis pub/sub connection per API process, subscribed to every
 * customer's order-status channel; events are routed in process to the
 * subscriptions (orders.onStatus) of that customer. Workers publish after
 * they have committed and updated the accepted record, so a subscriber that
 * reads the order on an event sees the new status.
 */
export class OrderEventsHub {
  private readonly listeners = new Map<number, Set<Listener>>();
  private started: Promise<void> | undefined;
  private closed = false;
  private readonly closers = new Set<() => void>();

  constructor(
    private readonly subscriber: Redis,
    private readonly keys: RedisKeys,
  ) {}

  private start(): Promise<void> {
    this.started ??= (async () => {
      const prefix = this.keys.orderEvents(0).slice(0, -1);
      this.subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
        const userId = Number(channel.slice(prefix.length));
        const set = this.listeners.get(userId);
        if (!set) return;
        const event = JSON.parse(message) as OrderEvent;
        for (const l of set) l(event);
      });
      await this.subscriber.psubscribe(this.keys.orderEventsPattern);
    })();
    return this.started;
  }

  /**
   * The customer's order events from now until `signal` aborts (or the hub
   * closes), as an async iterator. Listening starts before this resolves, so
   * a read made after it cannot miss a change.
   */
  async listen(userId: number, signal: AbortSignal | undefined): Promise<AsyncIterableIterator<OrderEvent>> {
    await this.start();
    const set = this.listeners.get(userId) ?? new Set<Listener>();
    const stream = eventStream<OrderEvent>(signal, () => {
      set.delete(stream.push);
      if (set.size === 0 && this.listeners.get(userId) === set) this.listeners.delete(userId);
      this.closers.delete(stream.stop);
    });
    set.add(stream.push);
    this.listeners.set(userId, set);
    this.closers.add(stream.stop);
    if (this.closed) stream.stop();
    return stream.iterator;
  }

  /** Ends every open subscription (graceful shutdown) and the pub/sub connection. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of [...this.closers]) stop();
    await this.subscriber.quit().catch(() => undefined);
  }
}
