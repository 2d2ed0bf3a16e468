import { OrderStatus } from '@bazaar/contracts';
import type { OrdersRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import type { AcceptedOrderStore, SoldOutGate } from '@bazaar/queue';

/**
 * Sold-out gate reservations that outlived their order: an API process that
 * died between taking the units and recording the accepted order leaves a
 * reservation nobody will settle. After `afterSeconds`, a reservation whose
 * order is neither accepted in Redis nor recorded in MySQL gives its units
 * back; one whose order has settled (its worker died before telling the gate)
 * is released as the worker would have.
 */
export class ReconcileGateJob {
  static readonly NAME = 'reconcile-gate';

  constructor(
    private readonly gate: SoldOutGate,
    private readonly store: AcceptedOrderStore,
    private readonly orders: OrdersRepository,
    private readonly afterSeconds: number,
  ) {}

  async run(log: Logger): Promise<{ released: number; leaked: number }> {
    const cutoff = Date.now() - this.afterSeconds * 1000;
    let released = 0;
    let leaked = 0;
    for (const productId of (await this.gate.reservedProducts()).map(Number)) {
      const stale = (await this.gate.reservations(productId)).filter((r) => r.acceptedAtMs < cutoff);
      if (stale.length === 0) continue;
      const settled = await this.orders.settledStatuses(stale.map((r) => r.orderId));
      const recorded = await this.orders.recordedIds(stale.map((r) => r.orderId));
      for (const r of stale) {
        const done = settled.get(r.orderId);
        if (done) {
          await this.gate.release(r.orderId, [productId], done.status !== OrderStatus.PAID);
          released++;
        } else if (!recorded.has(r.orderId) && !(await this.store.get(r.userId, r.orderId))) {
          await this.gate.release(r.orderId, [productId], true);
          leaked++;
        }
      }
    }
    if (released || leaked) log.warn({ released, leaked }, 'released stale sold-out gate reservations');
    return { released, leaked };
  }
}
