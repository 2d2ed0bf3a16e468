import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import { TRPCError } from '@trpc/server';
import { FailureReason, LIMITS, OrderStatus, PaymentMethod, type OrderPlaceInput, type OrderPlaceResult } from '@bazaar/contracts';
import { DEFAULT_OPENING_HOURS, pickupRefusal, priceOrder, type CouponTerms, type PricedOrder } from '@bazaar/domain';
import { newId, type Logger, type Metrics } from '@bazaar/platform';
import {
  enqueueOrder,
  type AcceptedCoupon,
  type AcceptedLine,
  type AcceptedOrder,
  type AcceptedOrderStore,
  type GateAdmission,
  type OrdersQueueData,
  type SoldOutGate,
  type StockSnapshot,
} from '@bazaar/queue';
import { ReasonedError, badField, preconditionFailed, refuseIllFormedText } from '../errors';
import type { AdmissionTokens } from './admission-tokens';
import type { ProductPricingCache } from './product-pricing.cache';
import type { StoreProfileCache } from './store-profile.cache';

/** A business refusal of the request (bad field, or a rule such as the sold-out gate), as opposed to a failure. */
const isRefusal = (err: unknown): boolean => err instanceof TRPCError && (err.code === 'BAD_REQUEST' || err.code === 'PRECONDITION_FAILED');

/**
 * What only the server may add to an order (never a field of orders.place's input): a subscription's
 * cycle is charged to the subscription's billing key (CARD).
 */
export interface ServerPlaceOptions {
  billingKey?: string;
}

/** The caller's cart lines, oldest first, read from the primary (read-your-writes). */
export type CartLinesReader = (userId: number) => Promise<{ productId: number; quantity: number }[]>;

/** What the accept path needs of coupons (CouponService): the terms, and a reservation per order in Redis. */
export interface CouponReservations {
  terms(couponId: number): Promise<(CouponTerms & { id: number }) | null>;
  /** Holds the caller's claimed coupon for this order, atomically (one order at a time), while its window is open. */
  reserveForOrder(userId: number, couponId: number, orderId: string, nowMs: number): Promise<'ok' | 'UNAVAILABLE' | 'NOT_ACTIVE'>;
  releaseForOrder(userId: number, couponId: number, orderId: string): Promise<unknown>;
}

/**
 * Prices an order as the worker will (the same domain rules on the same
 * frozen terms), to refuse up front what can be told from the request: points
 * above what the order costs after its discount (BAD_REQUEST naming
 * `points`), a coupon whose minimum the eligible lines do not reach
 * (COUPON_NOT_APPLICABLE). The live point balance is the worker's to check.
 */
export function priceForAccept(lines: readonly AcceptedLine[], coupon: CouponTerms | null, points: number, rewardBps: number): PricedOrder {
  const payable = (() => {
    const noPoints = priceOrder({ lines, coupon, points: 0, pointBalance: 0, rewardBps });
    if (!noPoints.ok) throw preconditionFailed(noPoints.reason, 'the coupon does not apply to this order (its minimum order amount, or its store)');
    return noPoints.itemsTotal - noPoints.discount;
  })();
  if (points > payable) throw badField(['points'], `at most ${payable}: what the order costs after its discount`);
  const priced = priceOrder({ lines, coupon, points, pointBalance: points, rewardBps });
  if (!priced.ok) throw new Error(`order priced twice with different answers: ${priced.reason}`); // unreachable
  return priced;
}

/**
 * Canonical JSON (sorted keys) of everything but the key: same parameters ⇔ same hash. The request as sent:
 * for `fromCart: true` that is the flag, not the cart's lines, so a retry of the same request gets the first
 * order back even after the cart changed (or emptied when that order was paid).
 */
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
 * reconciler re-enqueues anything accepted but not queued. The one exception
 * is `fromCart`: the cart lives in MySQL, so such an order reads it (one
 * statement on the primary) and needs the primary to be up.
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
    private readonly cartLines: CartLinesReader,
    private readonly coupons: CouponReservations,
    private readonly rewardBps: number,
    private readonly stores?: StoreProfileCache,
    private readonly admissions?: AdmissionTokens,
  ) {}

  async place(userId: number, input: OrderPlaceInput, requestId: string, log: Logger, server: ServerPlaceOptions = {}): Promise<OrderPlaceResult> {
    // The worker writes the fulfillment to a JSON column: an address it could not store is refused now, not then.
    refuseIllFormedText(input.fulfillment, ['fulfillment']);
    const hash = paramsHash(input);
    // Before the cart is read: a retry answers with the first order whatever the cart holds now.
    const seen = await this.store.lookup(userId, input.idempotencyKey);
    if (seen) return this.replay(seen, hash, log);
    try {
      return await this.acceptNew(userId, input, hash, requestId, log, server);
    } catch (err) {
      // A refusal may be a duplicate's: a request with the same key, accepted since our look-up, took the last
      // units at the gate, or was already paid and emptied the cart. Then the answer is that first order.
      const first = isRefusal(err) ? await this.store.lookup(userId, input.idempotencyKey) : null;
      if (first) return this.replay(first, hash, log);
      if (err instanceof TRPCError && err.cause instanceof ReasonedError && err.cause.reason !== null) {
        this.metrics.orders.inc({ outcome: 'rejected', reason: err.cause.reason });
      }
      throw err;
    }
  }

  private async acceptNew(
    userId: number,
    input: OrderPlaceInput,
    hash: string,
    requestId: string,
    log: Logger,
    server: ServerPlaceOptions,
  ): Promise<OrderPlaceResult> {
    const admission = this.admission(userId, input.admissionToken);
    const fromCart = input.fromCart === true;
    const items = fromCart ? await this.itemsFromCart(userId) : (input.items ?? []);
    const products = await this.pricing.getMany(items.map((i) => i.productId));
    const lines = items.map((item, i) => {
      const p = products.get(item.productId);
      if (!p) {
        throw fromCart
          ? badField(['fromCart'], `product ${item.productId} in your cart is no longer on sale; remove it from the cart`)
          : badField(['items', i, 'productId'], `no product ${item.productId} on sale`);
      }
      return { productId: p.id, storeId: p.storeId, name: p.name, unitPrice: p.price, quantity: item.quantity };
    });
    await this.checkStores(lines, input, fromCart);

    const coupon = input.couponId === undefined ? null : await this.couponTerms(input.couponId);
    const points = input.points ?? 0;
    const priced = priceForAccept(lines, coupon, points, this.rewardBps);
    if (input.paymentMethod === PaymentMethod.CARD && priced.cashPaid === 0) {
      throw badField(['paymentMethod'], 'nothing is left to pay by card after the coupon and points: pay with BALANCE');
    }

    const order: AcceptedOrder = {
      orderId: newId(),
      userId,
      requestId,
      idempotencyKey: input.idempotencyKey,
      acceptedAt: new Date().toISOString(),
      paymentMethod: input.paymentMethod,
      fulfillment: input.fulfillment,
      ...(input.paymentMethod === PaymentMethod.CARD && input.paymentKey ? { paymentKey: input.paymentKey } : {}),
      ...(input.paymentMethod === PaymentMethod.CARD && server.billingKey !== undefined ? { billingKey: server.billingKey } : {}),
      lines,
      ...(fromCart ? { fromCart: true as const } : {}),
      ...(coupon ? { coupon } : {}),
      ...(points > 0 ? { points } : {}),
      rewardBps: this.rewardBps,
    };
    if (coupon) await this.reserveCoupon(order, coupon);
    let accepted: Awaited<ReturnType<AcceptedOrderStore['accept']>>;
    try {
      await this.passGate(order, log, admission);
      accepted = await this.store.accept(order, hash, this.idempotencyTtlSeconds);
    } catch (err) {
      if (coupon) await this.coupons.releaseForOrder(userId, coupon.couponId, order.orderId);
      throw err;
    }
    if (!accepted.created) {
      // A concurrent duplicate won the key: hand our units and coupon back and answer with its order.
      await this.gate.release(
        order.orderId,
        lines.map((l) => l.productId),
        true,
      );
      if (coupon) await this.coupons.releaseForOrder(userId, coupon.couponId, order.orderId);
      return this.replay(accepted, hash, log);
    }

    try {
      await enqueueOrder(this.queue, { order, requestId });
    } catch (err) {
      // Accepted and durable in Redis: the reconciler enqueues it. The customer's answer stands.
      log.warn({ err, orderId: order.orderId }, 'enqueue failed; the reconciler will enqueue the order');
    }
    this.metrics.orders.inc({ outcome: 'accepted', reason: '' });
    log.info({ orderId: order.orderId, lines: lines.length, fromCart }, 'order accepted');
    return { orderId: order.orderId, status: OrderStatus.PENDING };
  }

  /**
   * Every store of the order must be open (a closed store's products are not on sale), and a pickup must suit
   * each store's pickup rules: its lead time, and its opening hours on its own clock (packages/domain).
   */
  private async checkStores(lines: readonly AcceptedLine[], input: OrderPlaceInput, fromCart: boolean): Promise<void> {
    if (!this.stores) return;
    const profiles = await this.stores.getMany(lines.map((l) => l.storeId));
    lines.forEach((l, i) => {
      if (profiles.get(l.storeId)?.status === 'CLOSED') {
        throw fromCart
          ? badField(['fromCart'], `product ${l.productId} in your cart is from a closed store; remove it from the cart`)
          : badField(['items', i, 'productId'], `no product ${l.productId} on sale: its store is closed`);
      }
    });
    if (input.fulfillment.type !== 'PICKUP') return;
    const pickupAt = new Date(input.fulfillment.pickupAt);
    const now = new Date();
    for (const storeId of new Set(lines.map((l) => l.storeId))) {
      const p = profiles.get(storeId);
      if (!p) continue;
      const why = pickupRefusal(
        { hours: p.openingHours ?? DEFAULT_OPENING_HOURS, timeZone: p.timeZone, pickupLeadMinutes: p.pickupLeadMinutes },
        pickupAt,
        now,
      );
      if (why) throw badField(['fulfillment', 'pickupAt'], `store ${storeId}: ${why}`);
    }
  }

  /** The coupon's terms, frozen into the order; an unknown coupon is a bad field, as an unknown product is. */
  private async couponTerms(couponId: number): Promise<AcceptedCoupon> {
    const t = await this.coupons.terms(couponId);
    if (!t) throw badField(['couponId'], `no coupon ${couponId}`);
    return { couponId: t.id, kind: t.kind, value: t.value, maxDiscount: t.maxDiscount ?? null, minOrderAmount: t.minOrderAmount, storeId: t.storeId };
  }

  /**
   * Holds the customer's claimed coupon for this order in Redis, atomically, so two concurrent orders cannot
   * both use it (the second is refused with COUPON_UNAVAILABLE). The worker records the use in MySQL, which
   * refuses a second use on its own.
   */
  private async reserveCoupon(order: AcceptedOrder, coupon: AcceptedCoupon): Promise<void> {
    const held = await this.coupons.reserveForOrder(order.userId, coupon.couponId, order.orderId, Date.parse(order.acceptedAt));
    if (held === 'NOT_ACTIVE') throw preconditionFailed(FailureReason.COUPON_UNAVAILABLE, `coupon ${coupon.couponId} is not valid now`);
    if (held !== 'ok') {
      throw preconditionFailed(
        FailureReason.COUPON_UNAVAILABLE,
        `coupon ${coupon.couponId} is not yours to use: claim it first, or it is held by another order`,
      );
    }
  }

  /**
   * The cart as the order's lines (oldest line first). Refused with BAD_REQUEST naming `fromCart`, as the
   * same request with `items` would be: an empty cart (like `items: []`), or more lines than an order holds.
   */
  private async itemsFromCart(userId: number): Promise<{ productId: number; quantity: number }[]> {
    const lines = await this.cartLines(userId);
    if (lines.length === 0) throw badField(['fromCart'], 'your cart is empty');
    if (lines.length > LIMITS.maxLinesPerOrder) {
      throw badField(['fromCart'], `an order holds at most ${LIMITS.maxLinesPerOrder} lines; your cart has ${lines.length}`);
    }
    return lines;
  }

  /**
   * The sold-out gate: all lines reserved at once in Redis, or the order is
   * refused here with OUT_OF_STOCK and never queued. A counter Redis lost is
   * rebuilt from MySQL first.
   */
  private async passGate(order: AcceptedOrder, log: Logger, admission: GateAdmission | undefined): Promise<void> {
    const lines = order.lines.map((l) => ({ productId: l.productId, quantity: l.quantity }));
    for (let attempt = 0; attempt < 3; attempt++) {
      const taken = await this.gate.take(order.orderId, order.userId, lines, Date.parse(order.acceptedAt), admission);
      if (taken.ok === true) return;
      if (taken.ok === 'admission') {
        const i = order.lines.findIndex((l) => l.productId === taken.productId);
        const where = order.fromCart ? 'in your cart' : `(items.${i})`;
        throw preconditionFailed(
          FailureReason.ADMISSION_REQUIRED,
          `product ${taken.productId} ${where} is in a waiting-room event: enter its line (waitingRoom.enter) and order with the admissionToken waitingRoom.status gives you`,
        );
      }
      if (taken.ok === 'token_used') {
        throw preconditionFailed(FailureReason.ADMISSION_REQUIRED, 'this admission token was used by another order: one order per admission');
      }
      if (taken.ok === false) {
        const i = order.lines.findIndex((l) => l.productId === taken.productId);
        const where = order.fromCart ? 'in your cart' : `(items.${i})`;
        throw preconditionFailed(FailureReason.OUT_OF_STOCK, `product ${taken.productId} ${where} is sold out or has fewer units left`);
      }
      for (const productId of taken.productIds) {
        const available = await this.gate.rebuild(productId, this.stockSnapshot);
        log.warn({ productId, available }, 'sold-out gate counter was missing; rebuilt from MySQL');
      }
    }
    throw new Error('sold-out gate counters could not be rebuilt');
  }

  /**
   * The order's admission token, checked here without Redis (signature, owner, expiry); whether the order needs one,
   * and whether it was used already, the gate's script tells. A token that does not verify is refused at once.
   */
  private admission(userId: number, token: string | undefined): GateAdmission | undefined {
    if (token === undefined) return undefined;
    const v = this.admissions?.verify(token, userId) ?? { ok: false as const, why: 'admission tokens are not accepted here' };
    if (!v.ok) throw preconditionFailed(FailureReason.ADMISSION_REQUIRED, `admissionToken refused: ${v.why}`);
    return { eventId: v.claims.eventId, userId: v.claims.userId, ticket: v.claims.ticket };
  }

  /** A duplicate gets the first answer; the same key with other parameters is a CONFLICT. */
  private replay(first: { orderId: string; paramsHash: string }, hash: string, log: Logger): OrderPlaceResult {
    if (first.paramsHash !== hash) {
      throw new TRPCError({ code: 'CONFLICT', message: 'this idempotencyKey was used for another order' });
    }
    log.info({ orderId: first.orderId }, 'duplicate order request answered with the first order');
    return { orderId: first.orderId, status: OrderStatus.PENDING };
  }
}
