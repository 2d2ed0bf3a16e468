import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import { TRPCError } from '@trpc/server';
import { FailureReason, OrderStatus, PaymentMethod, type OrderPlaceInput, type OrderPlaceResult } from '@bazaar/contracts';
import { newId, type Logger, type Metrics } from '@bazaar/platform';
import { enqueueOrder, type AcceptedOrder, type AcceptedOrderStore, type OrdersQueueData, type SoldOutGate, type StockSnapshot } from '@bazaar/queue';
import { badField, preconditionFailed } from '../errors';
import type { ProductPricingCache } from './product-pricing.cache';

/** Canonical JSON (sorted keys) of everything but the key: same parameters ⇔ same hash. */
export function paramsHash(input: OrderPlaceInput): string {
  const { idempotencyKey: _key, ...rest } = input;
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .filter(([, x]) => x !== undefined)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, canonical(x)]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(rest)))
    .digest('base64url')
    .slice(0, 32);
}

/**
 * The accept path of `orders.place`: Redis only. Validate, price at the
 * current (cached) prices, record the idempotency key and the accepted order
 * in one atomic script, enqueue. MySQL being slow or down never refuses or
 * loses an accepted order: the worker settles it when it can, and the
 * reconciler re-enqueues anything accepted but not queued.
 */
export class OrderAcceptanceService {
  constructor(
    private readonly pricing: ProductPricingCache,
    private readonly store: AcceptedOrderStore,
    private readonly queue: Queue<OrdersQueueData>,
    private readonly gate: SoldOutGate,
    private readonly stockSnapshot: StockSnapshot,
    private readonly metrics: Metrics,
    private readonly idempotencyTtlSeconds: number,
  ) {}

  async place(userId: number, input: OrderPlaceInput, requestId: string, log: Logger): Promise<OrderPlaceResult> {
    if (input.fromCart) throw preconditionFailed(null, 'ordering from the cart is not available yet');
    if (input.couponId !== undefined) throw this.reject(FailureReason.COUPON_UNAVAILABLE, 'coupons are not available yet');
    if (input.points) throw this.reject(FailureReason.INSUFFICIENT_POINTS, 'paying with points is not available yet');
    const items = input.items ?? [];
    const hash = paramsHash(input);
    const seen = await this.store.lookup(userId, input.idempotencyKey);
    if (seen) return this.replay(seen, hash, log);

    const products = await this.pricing.getMany(items.map((i) => i.productId));
    const lines = items.map((item, i) => {
      const p = products.get(item.productId);
      if (!p) throw badField(['items', i, 'productId'], `no product ${item.productId} on sale`);
      return { productId: p.id, storeId: p.storeId, name: p.name, unitPrice: p.price, quantity: item.quantity };
    });

    const order: AcceptedOrder = {
      orderId: newId(),
      userId,
      requestId,
      idempotencyKey: input.idempotencyKey,
      acceptedAt: new Date().toISOString(),
      paymentMethod: input.paymentMethod,
      fulfillment: input.fulfillment,
      ...(input.paymentMethod === PaymentMethod.CARD && input.paymentKey ? { paymentKey: input.paymentKey } : {}),
      lines,
    };
    await this.passGate(order, log);
    const accepted = await this.store.accept(order, hash, this.idempotencyTtlSeconds);
    if (!accepted.created) {
      // A concurrent duplicate won the key: hand our units back and answer with its order.
      await this.gate.release(
        order.orderId,
        lines.map((l) => l.productId),
        true,
      );
      return this.replay(accepted, hash, log);
    }

    try {
      await enqueueOrder(this.queue, { order, requestId });
    } catch (err) {
      // Accepted and durable in Redis: the reconciler enqueues it. The customer's answer stands.
      log.warn({ err, orderId: order.orderId }, 'enqueue failed; the reconciler will enqueue the order');
    }
    this.metrics.orders.inc({ outcome: 'accepted', reason: '' });
    log.info({ orderId: order.orderId, lines: lines.length }, 'order accepted');
    return { orderId: order.orderId, status: OrderStatus.PENDING };
  }

  /**
   * The sold-out gate: all lines reserved at once in Redis, or the order is
   * refused here with OUT_OF_STOCK and never queued. A counter Redis lost is
   * rebuilt from MySQL first.
   */
  private async passGate(order: AcceptedOrder, log: Logger): Promise<void> {
    const lines = order.lines.map((l) => ({ productId: l.productId, quantity: l.quantity }));
    for (let attempt = 0; attempt < 3; attempt++) {
      const taken = await this.gate.take(order.orderId, order.userId, lines, Date.parse(order.acceptedAt));
      if (taken.ok === true) return;
      if (taken.ok === false) {
        const i = order.lines.findIndex((l) => l.productId === taken.productId);
        this.metrics.orders.inc({ outcome: 'rejected', reason: FailureReason.OUT_OF_STOCK });
        throw preconditionFailed(FailureReason.OUT_OF_STOCK, `product ${taken.productId} (items.${i}) is sold out or has fewer units left`);
      }
      for (const productId of taken.productIds) {
        const available = await this.gate.rebuild(productId, this.stockSnapshot);
        log.warn({ productId, available }, 'sold-out gate counter was missing; rebuilt from MySQL');
      }
    }
    throw new Error('sold-out gate counters could not be rebuilt');
  }

  /** A duplicate gets the first answer; the same key with other parameters is a CONFLICT. */
  private replay(first: { orderId: string; paramsHash: string }, hash: string, log: Logger): OrderPlaceResult {
    if (first.paramsHash !== hash) {
      throw new TRPCError({ code: 'CONFLICT', message: 'this idempotencyKey was used for another order' });
    }
    log.info({ orderId: first.orderId }, 'duplicate order request answered with the first order');
    return { orderId: first.orderId, status: OrderStatus.PENDING };
  }

  private reject(reason: FailureReason, message: string): TRPCError {
    this.metrics.orders.inc({ outcome: 'rejected', reason });
    return preconditionFailed(reason, message);
  }
}
