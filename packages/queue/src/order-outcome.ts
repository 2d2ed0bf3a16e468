import { OrderStatus, type FailureReason } from '@bazaar/contracts';
import type { RedisKeys, Redis } from '@bazaar/platform';
import type { AcceptedOrderStore } from './accepted-orders.store';
import type { SoldOutGate } from './sold-out-gate';

/** The coupon holds the order path keeps in Redis (CouponStore): what a settled order tells them. */
export interface CouponHolds {
  /** The order is PAID: the customer's claim is used by it. */
  markUsed(couponId: number, userId: number, orderId: string): Promise<unknown>;
  /** The order FAILED or was cancelled before it was paid: its reservation goes, the claim is available again (once). */
  release(couponId: number, userId: number, orderId: string): Promise<unknown>;
  /** A paid order was cancelled while the coupon was still valid: the claim is available again. */
  returnUsed(couponId: number, userId: number, orderId: string): Promise<unknown>;
}

/**
 * What Redis must learn once MySQL has settled an accepted order: the gate
 * drops its reservations (giving the units back unless it was paid), the
 * coupon's hold becomes used (PAID) or free again, and the accepted record
 * shows the outcome and leaves the pending indexes. Safe to repeat: a worker
 * does it after its commit, the reconciler again if that worker died first.
 */
export class OrderOutcomePublisher {
  constructor(
    private readonly store: AcceptedOrderStore,
    private readonly gate: SoldOutGate,
    private readonly events?: { redis: Redis; keys: RedisKeys },
    private readonly coupons?: CouponHolds,
  ) {}

  async settled(
    order: { orderId: string; userId: number; lines: { productId: number }[]; coupon?: { couponId: number } },
    status: OrderStatus,
    reason: FailureReason | null,
  ): Promise<void> {
    if (status === OrderStatus.PENDING) return;
    await this.gate.release(
      order.orderId,
      order.lines.map((l) => l.productId),
      status !== OrderStatus.PAID,
    );
    if (order.coupon && this.coupons) {
      const { couponId } = order.coupon;
      if (status === OrderStatus.PAID) await this.coupons.markUsed(couponId, order.userId, order.orderId);
      else if (status === OrderStatus.FAILED || status === OrderStatus.CANCELLED) await this.coupons.release(couponId, order.userId, order.orderId);
    }
    await this.store.markSettled(order.userId, order.orderId, status, reason);
    await this.publish(order.userId, order.orderId, status);
  }

  /**
   * A refund of a paid order completed (MySQL committed it): the sold-out
   * gate gets its units back (once per refund id), the coupon's hold is free
   * again when the refund gave the coupon back, the accepted record (while
   * Redis still keeps it) shows the order's status with its cached view
   * dropped, and subscribers hear of it — also when the status stayed
   * PARTIALLY_REFUNDED. Safe to repeat: the worker does it after its commit,
   * the reconciler again if that worker died first.
   */
  async refundCompleted(r: {
    refundId: string;
    userId: number;
    orderId: string;
    orderStatus: OrderStatus;
    couponReturned: number | null;
    lines: { productId: number; quantity: number }[];
  }): Promise<void> {
    await this.gate.returnUnits(refundGateKey(r.refundId), r.lines);
    if (r.couponReturned !== null) await this.coupons?.returnUsed(r.couponReturned, r.userId, r.orderId);
    await this.store.markSettled(r.userId, r.orderId, r.orderStatus, null);
    await this.publish(r.userId, r.orderId, r.orderStatus);
  }

  /**
   * Something about the order changed that is not its status (a store moved its part): the accepted record
   * (while Redis keeps it) drops its cached view with the status it has, and subscribers read the order anew.
   */
  async changed(userId: number, orderId: string): Promise<void> {
    const rec = await this.store.get(userId, orderId);
    if (rec) await this.store.markSettled(userId, orderId, rec.status, rec.reason);
    if (this.events) await this.events.redis.publish(this.events.keys.orderEvents(userId), JSON.stringify({ orderId, status: rec?.status ?? null }));
  }

  /** Tells subscribers (orders.onStatus) that the order's status changed; they read the order anew. */
  async publish(userId: number, orderId: string, status: OrderStatus): Promise<void> {
    if (this.events) await this.events.redis.publish(this.events.keys.orderEvents(userId), JSON.stringify({ orderId, status }));
  }
}

/** The sold-out gate's once-only key for a refund's units. */
export const refundGateKey = (refundId: string) => `refund:${refundId}`;
