import {
  FulfillmentType,
  FailureReason,
  OrderStatus,
  PaymentMethod,
  type OrderPlaceInput,
  type OrderPlaceResult,
  type SubscriptionPauseReason,
} from '@bazaar/contracts';
import { cycleDueAt, latestDueCycle } from '@bazaar/domain';
import type { SubscriptionRecord, SubscriptionsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';

/**
 * The accept path of orders.place (OrderAcceptanceService.place from @bazaar/api/ordering). `server` carries what orders.place's input
 * cannot: a CARD cycle's billing key.
 */
export type PlaceOrder = (
  userId: number,
  input: OrderPlaceInput,
  requestId: string,
  log: Logger,
  server?: { billingKey?: string },
) => Promise<OrderPlaceResult>;

/** Reasons a cycle's order may fail that the dunning schedule retries. */
const RETRIED: readonly string[] = [FailureReason.OUT_OF_STOCK, FailureReason.PAYMENT_DECLINED, FailureReason.PAYMENT_ERROR];

/** The idempotency key of a cycle's try: `sub-<id>-c<N>`, then `sub-<id>-c<N>-r<k>` for dunning retry k. */
export const cycleKey = (subscriptionId: number, cycle: number, attempt: number): string =>
  attempt === 0 ? `sub-${subscriptionId}-c${cycle}` : `sub-${subscriptionId}-c${cycle}-r${attempt}`;

interface Refusal {
  code: string;
  message: string;
  reason: string | null;
}

/** A refusal of the accept path (a TRPCError) as code, message and data.reason, without importing tRPC. */
function refusalOf(err: unknown): Refusal | null {
  const e = err as { code?: unknown; message?: unknown; cause?: { reason?: unknown } };
  if (e === null || typeof e !== 'object' || (e.code !== 'BAD_REQUEST' && e.code !== 'PRECONDITION_FAILED' && e.code !== 'CONFLICT')) return null;
  return { code: e.code, message: String(e.message), reason: typeof e.cause?.reason === 'string' ? e.cause.reason : null };
}

/**
 * Places each subscription's due cycle through the accept path, then reads its order's outcome on later
 * ticks. Restart-safe and idempotent: a cycle's try has one idempotency key, so placing it again (a second
 * scheduler, or a restart between the place and the write of its order id) answers with the same order.
 *
 * A CARD subscription's cycle is placed with its billing key (server-side, never in the input): the worker charges that key for the
 * order instead of confirming a paymentKey; a decline fails the order with PAYMENT_DECLINED, which the dunning schedule retries with a
 * new order (key `-r<k>`).
 *
 * Missed cycles (the scheduler was down): only the latest due cycle is placed; the ones before it are
 * recorded as SKIPPED, so a customer is never charged several times after an outage.
 *
 * Dunning: a cycle whose order FAILED (or was refused at the gate) with OUT_OF_STOCK, PAYMENT_DECLINED or
 * PAYMENT_ERROR is tried again after each delay of `dunningSeconds` (attempt 1, 2, …); after the last it
 * pauses with DUNNING_EXHAUSTED. A product no longer on sale, a refused pickup time or any other refusal
 * pauses at once. A paid cycle resets the attempt counter.
 */
export class PlaceSubscriptionsJob {
  static readonly NAME = 'place-subscriptions';

  constructor(
    private readonly subs: SubscriptionsRepository,
    private readonly place: PlaceOrder,
    private readonly cycles: Metrics['subscriptionCycles'],
    private readonly dunningSeconds: readonly number[],
    private readonly now: () => Promise<Date>,
    private readonly batch = 200,
  ) {}

  async run(log: Logger): Promise<{ placed: number; settled: number }> {
    const now = await this.now();
    let placed = 0;
    let settled = 0;
    for (const s of await this.subs.due(now, this.batch)) {
      try {
        if (s.pendingOrderId !== null) settled += (await this.settle(s, now, log)) ? 1 : 0;
        else if (s.nextDueAt.getTime() <= now.getTime()) placed += (await this.placeCycle(s, now, log)) ? 1 : 0;
      } catch (err) {
        log.error({ err, subscriptionId: s.id }, 'subscription cycle failed; the next tick tries again');
      }
    }
    return { placed, settled };
  }

  /** Reads the outcome of the current try's order. */
  private async settle(s: SubscriptionRecord, now: Date, log: Logger): Promise<boolean> {
    const orderId = s.pendingOrderId!;
    const outcome = await this.subs.orderOutcome(orderId);
    if (outcome === null || outcome.status === OrderStatus.PENDING) return false;
    const dueAt = cycleDueAt(s.startAt, s.every, s.nextCycle);
    if (outcome.status === OrderStatus.FAILED) {
      await this.subs.recordCycle(s.id, { cycle: s.nextCycle, attempt: s.attempt, dueAt, orderId, outcome: 'FAILED', reason: outcome.failureReason }, now);
      this.cycles.inc({ outcome: 'failed' });
      await this.failed(s, outcome.failureReason ?? 'FAILED', `order ${orderId} failed: ${outcome.failureReason ?? 'unknown'}`, now, log);
      return true;
    }
    // PAID (or later states of a paid order: refunded, cancelled by the customer): the cycle is done.
    await this.subs.recordCycle(
      s.id,
      {
        cycle: s.nextCycle,
        attempt: s.attempt,
        dueAt,
        orderId,
        outcome: outcome.status === OrderStatus.CANCELLED ? 'FAILED' : 'PAID',
        reason: outcome.status === OrderStatus.PAID ? null : outcome.status,
      },
      now,
    );
    this.cycles.inc({ outcome: 'paid' });
    await this.subs.advance(
      s.id,
      { nextCycle: s.nextCycle + 1, nextDueAt: cycleDueAt(s.startAt, s.every, s.nextCycle + 1), attempt: 0, pendingOrderId: null },
      now,
    );
    log.info({ subscriptionId: s.id, cycle: s.nextCycle, orderId }, 'subscription cycle paid');
    return true;
  }

  /** A failed or refused try: the next dunning retry, or a pause when the schedule is spent or the reason is not retried. */
  private async failed(s: SubscriptionRecord, reason: string, detail: string, now: Date, log: Logger): Promise<void> {
    if (!RETRIED.includes(reason)) {
      await this.pause(s, 'ORDER_REFUSED', detail, now, log);
      return;
    }
    const delay = this.dunningSeconds[s.attempt];
    if (delay === undefined) {
      await this.pause(s, 'DUNNING_EXHAUSTED', `cycle ${s.nextCycle} failed ${s.attempt + 1} times (last: ${reason})`, now, log);
      return;
    }
    this.cycles.inc({ outcome: 'retried' });
    await this.subs.advance(
      s.id,
      { nextCycle: s.nextCycle, nextDueAt: new Date(now.getTime() + delay * 1000), attempt: s.attempt + 1, pendingOrderId: null },
      now,
    );
    log.info({ subscriptionId: s.id, cycle: s.nextCycle, attempt: s.attempt + 1, delay }, 'subscription cycle will be retried');
  }

  private async pause(s: SubscriptionRecord, reason: SubscriptionPauseReason, detail: string, now: Date, log: Logger): Promise<void> {
    await this.subs.pauseBySystem(s.id, reason, detail, now);
    this.cycles.inc({ outcome: 'paused' });
    log.warn({ subscriptionId: s.id, reason, detail }, 'subscription paused');
  }

  private async placeCycle(s0: SubscriptionRecord, now: Date, log: Logger): Promise<boolean> {
    let s = s0;
    // Missed cycles: a first try that is late by more than a whole period places only the latest due cycle.
    if (s.attempt === 0) {
      const latest = latestDueCycle(s.startAt, s.every, now);
      if (latest > s.nextCycle) {
        for (let n = s.nextCycle; n < latest; n++) {
          await this.subs.recordCycle(
            s.id,
            {
              cycle: n,
              attempt: 0,
              dueAt: cycleDueAt(s.startAt, s.every, n),
              orderId: null,
              outcome: 'SKIPPED',
              reason: 'the scheduler was not running when it was due',
            },
            now,
          );
          this.cycles.inc({ outcome: 'skipped' });
        }
        const dueAt = cycleDueAt(s.startAt, s.every, latest);
        if (!(await this.subs.advance(s.id, { nextCycle: latest, nextDueAt: dueAt, attempt: 0, pendingOrderId: null }, now))) return false;
        s = { ...s, nextCycle: latest, nextDueAt: dueAt };
      }
    }
    const dueAt = cycleDueAt(s.startAt, s.every, s.nextCycle);
    if (dueAt.getTime() > now.getTime()) return false; // never before its due time
    const input: OrderPlaceInput = {
      idempotencyKey: cycleKey(s.id, s.nextCycle, s.attempt),
      items: s.items,
      paymentMethod: s.paymentMethod,
      fulfillment:
        s.fulfillment.type === FulfillmentType.PICKUP
          ? { type: FulfillmentType.PICKUP, pickupAt: new Date(dueAt.getTime() + (Date.parse(s.fulfillment.pickupAt) - s.startAt.getTime())).toISOString() }
          : s.fulfillment,
    };
    const requestId = `${input.idempotencyKey}-${now.getTime().toString(36)}`;
    let result: OrderPlaceResult;
    try {
      const server = s.paymentMethod === PaymentMethod.CARD && s.billingKey !== null ? { billingKey: s.billingKey } : {};
      result = await this.place(s.userId, input, requestId, log, server);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      await this.subs.recordCycle(
        s.id,
        { cycle: s.nextCycle, attempt: s.attempt, dueAt, orderId: null, outcome: 'REFUSED', reason: refusal.reason ?? refusal.message },
        now,
      );
      this.cycles.inc({ outcome: 'refused' });
      if (refusal.code === 'BAD_REQUEST' && /items\.\d+\.productId/.test(refusal.message)) {
        await this.pause(s, 'PRODUCT_UNAVAILABLE', refusal.message, now, log);
      } else if (refusal.code === 'BAD_REQUEST' && refusal.message.includes('fulfillment.pickupAt')) {
        await this.pause(s, 'PICKUP_TIME_REFUSED', refusal.message, now, log);
      } else {
        await this.failed(s, refusal.reason ?? refusal.code, refusal.message, now, log);
      }
      return false;
    }
    await this.subs.recordCycle(s.id, { cycle: s.nextCycle, attempt: s.attempt, dueAt, orderId: result.orderId, outcome: 'PLACED', reason: null }, now);
    await this.subs.advance(s.id, { nextCycle: s.nextCycle, nextDueAt: s.nextDueAt, attempt: s.attempt, pendingOrderId: result.orderId }, now);
    this.cycles.inc({ outcome: 'placed' });
    log.info({ subscriptionId: s.id, cycle: s.nextCycle, attempt: s.attempt, orderId: result.orderId }, 'subscription cycle placed');
    return true;
  }
}
