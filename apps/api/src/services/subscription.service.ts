import { TRPCError } from '@trpc/server';
import { PaymentMethod, type Page, type SubscriptionCreateInput, type SubscriptionPauseReason, type SubscriptionView } from '@bazaar/contracts';
import { nextCycleAfter, cycleDueAt } from '@bazaar/domain';
import type { SubscriptionsRepository } from '@bazaar/db';
import { badField } from '../errors';
import type { ProductPricingCache } from './product-pricing.cache';

const notFound = (id: number) => new TRPCError({ code: 'NOT_FOUND', message: `no subscription ${id}` });

/**
 * subscriptions.*: a customer's recurring orders. The scheduler places each cycle (PlaceSubscriptionsJob);
 * this service owns the subscription's own changes, and `pauseHolding`, which the catalog (products.remove)
 * and stores.close call so a subscription never tries to order what is gone.
 */
export class SubscriptionService {
  constructor(
    private readonly repo: SubscriptionsRepository,
    private readonly pricing: ProductPricingCache,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async create(userId: number, input: SubscriptionCreateInput): Promise<{ subscriptionId: number }> {
    if (input.paymentMethod === PaymentMethod.CARD) {
      // Billing keys (subscriptions.registerCard) are not built yet: a CARD cycle could not be charged.
      throw badField(['paymentMethod'], 'CARD subscriptions are not available yet: use BALANCE');
    }
    const products = await this.pricing.getMany(input.items.map((i) => i.productId));
    const storeIds = new Map<number, number>();
    input.items.forEach((item, i) => {
      const p = products.get(item.productId);
      if (!p) throw badField(['items', i, 'productId'], `no product ${item.productId} on sale`);
      storeIds.set(p.id, p.storeId);
    });
    const subscriptionId = await this.repo.create(userId, input, storeIds, this.clock());
    return { subscriptionId };
  }

  async get(userId: number, subscriptionId: number): Promise<SubscriptionView> {
    return (await this.repo.get(userId, subscriptionId)) ?? Promise.reject(notFound(subscriptionId));
  }

  list(userId: number, cursor: string | undefined, limit: number): Promise<Page<SubscriptionView>> {
    if (cursor !== undefined && !/^[1-9][0-9]{0,15}$/.test(cursor)) throw badField(['cursor'], 'not a cursor this API returned');
    return this.repo.list(userId, cursor === undefined ? undefined : Number(cursor), limit);
  }

  async pause(userId: number, subscriptionId: number): Promise<SubscriptionView> {
    const s = await this.get(userId, subscriptionId);
    if (s.status !== 'ACTIVE') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `subscription ${subscriptionId} is ${s.status}, not ACTIVE` });
    await this.repo.pause(userId, subscriptionId, this.clock());
    return this.get(userId, subscriptionId);
  }

  /** Goes on from the first cycle due after now (nothing missed while paused is placed, no tried cycle again), attempts reset. */
  async resume(userId: number, subscriptionId: number): Promise<SubscriptionView> {
    const s = await this.get(userId, subscriptionId);
    if (s.status !== 'PAUSED') throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `subscription ${subscriptionId} is ${s.status}, not PAUSED` });
    const now = this.clock();
    const start = new Date(s.startAt);
    // A cycle already tried (its dunning spent, or placed before a pause) is not tried again.
    const tried = s.cycles.some((c) => c.cycle === s.nextCycle);
    const next = Math.max(nextCycleAfter(start, s.every, now), s.nextCycle + (tried ? 1 : 0));
    await this.repo.resume(userId, subscriptionId, next, cycleDueAt(start, s.every, next), now);
    return this.get(userId, subscriptionId);
  }

  async cancel(userId: number, subscriptionId: number): Promise<SubscriptionView> {
    const s = await this.get(userId, subscriptionId);
    if (s.status !== 'CANCELLED') await this.repo.cancel(userId, subscriptionId, this.clock());
    return this.get(userId, subscriptionId);
  }

  /** Pauses every ACTIVE subscription holding these products, or any product of this store. */
  pauseHolding(holding: { productIds: number[] } | { storeId: number }, reason: SubscriptionPauseReason, detail: string): Promise<number> {
    return this.repo.pauseHolding(holding, reason, detail, this.clock());
  }
}
