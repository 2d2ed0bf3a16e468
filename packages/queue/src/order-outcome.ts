import { OrderStatus, type FailureReason } from '@bazaar/contracts';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '@bazaar/platform';
import type { AcceptedOrderStore } from './accepted-orders.store';
import type { SoldOutGate } from './sold-out-gate';

/**
 * What Redis must learn once MySQL has settled an accepted order: the gate
 * drops its reservations (giving the units back unless it was paid), and the
 * accepted record shows the outcome and leaves the pending indexes. Safe to
 * repeat: a worker does it after its commit, the reconciler again if that
 * worker died first.
 */
export class OrderOutcomePublisher {
  constructor(
    private readonly store: AcceptedOrderStore,
    private readonly gate: SoldOutGate,
    private readonly events?: { redis: Redis; keys: RedisKeys },
  ) {}

  async settled(order: { orderId: string; userId: number; lines: { productId: number }[] }, status: OrderStatus, reason: FailureReason | null): Promise<void> {
    if (status === OrderStatus.PENDING) return;
    await this.gate.release(
      order.orderId,
      order.lines.map((l) => l.productId),
      status !== OrderStatus.PAID,
    );
    await this.store.markSettled(order.userId, order.orderId, status, reason);
    await this.publish(order.userId, order.orderId, status);
  }

  /** Tells subscribers (orders.onStatus) that the order's status changed; they read the order anew. */
  async publish(userId: number, orderId: string, status: OrderStatus): Promise<void> {
    if (this.events) await this.events.redis.publish(this.events.keys.orderEvents(userId), JSON.stringify({ orderId, status }));
  }
}
