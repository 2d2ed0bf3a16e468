import { OrderStatus, type FailureReason } from '@bazaar/contracts';
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
  ) {}

  async settled(order: { orderId: string; userId: number; lines: { productId: number }[] }, status: OrderStatus, reason: FailureReason | null): Promise<void> {
    if (status === OrderStatus.PENDING) return;
    await this.gate.release(
      order.orderId,
      order.lines.map((l) => l.productId),
      status !== OrderStatus.PAID,
    );
    await this.store.markSettled(order.userId, order.orderId, status, reason);
  }
}
