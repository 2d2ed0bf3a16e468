import { TRPCError } from '@trpc/server';
import type { DataSource } from 'typeorm';
import type { Page, SubscriptionCreateInput, SubscriptionPauseReason, SubscriptionRegisterCardResult, SubscriptionView } from '@bazaar/contracts';
import { nextCycleAfter, cycleDueAt } from '@bazaar/domain';
import { BillingKeysRepository, SubscriptionsRepository } from '@bazaar/db';
import type { Config, Logger } from '@bazaar/platform';
import {
  GatewayRequestError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  PaymentDeclinedError,
  gatewayClientFromConfig,
  maskBillingKey,
  type PaymentGatewayClient,
  type GatewayBilling,
} from '@bazaar/worker/gateway';
import { badField, refuseIllFormedText } from '../errors';
import type { ProductPricingCache } from './product-pricing.cache';

const notFound = (id: number) => new TRPCError({ code: 'NOT_FOUND', message: `no subscription ${id}` });

/** What the service needs of the payment gateway: issue a billing key, delete one. */
export type BillingGateway = Pick<PaymentGatewayClient, 'issueBillingKey' | 'deleteBillingKey'>;

/**
 * subscriptions.*: a customer's recurring orders. The scheduler places each cycle (PlaceSubscriptionsJob);
 * this service owns the subscription's own changes, the customer's billing keys (registerCard; a key is
 * deleted at the gateway when the last subscription charging it is cancelled), and `pauseHolding`, which
 * the catalog (products.remove) and stores.close call so a subscription never tries to order what is gone.
 */
export class SubscriptionService {
  constructor(
    private readonly repo: SubscriptionsRepository,
    private readonly pricing: ProductPricingCache,
    private readonly billing: BillingKeysRepository,
    private readonly gateway: BillingGateway,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The caller's customerKey, which the browser opens the gateway's card registration window with (then registerCard). */
  async cardCustomerKey(userId: number): Promise<{ customerKey: string }> {
    return { customerKey: await this.billing.customerKey(userId) };
  }

  /**
   * Exchanges the authKey of the gateway's card registration for a billing key bound to the caller's
   * customerKey (the server's: random, made once per customer), and records it as theirs. The same authKey
   * again answers the same key. A refused authKey → BAD_REQUEST on authKey; the gateway unreachable →
   * SERVICE_UNAVAILABLE (try again with the same authKey).
   */
  async registerCard(userId: number, authKey: string, log: Logger): Promise<SubscriptionRegisterCardResult> {
    const customerKey = await this.billing.customerKey(userId);
    let issued: GatewayBilling;
    try {
      issued = await this.gateway.issueBillingKey({ authKey, customerKey });
    } catch (err) {
      if (err instanceof PaymentDeclinedError || (err instanceof GatewayRequestError && err.status !== 401 && err.status !== 403)) {
        log.info({ code: err.code }, 'the gateway refused a card registration');
        throw badField(['authKey'], `the card could not be registered (the gateway answered ${err.code ?? err.status ?? 'no'}): register it again`);
      }
      if (err instanceof GatewayTimeoutError || err instanceof GatewayUnavailableError) {
        log.warn({ err: err.message }, 'card registration: the gateway did not answer');
        throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'the payment gateway did not answer: try again with the same authKey' });
      }
      throw err;
    }
    if (issued.customerKey !== customerKey) throw new Error(`the gateway issued billing key ${maskBillingKey(issued.billingKey)} to another customerKey`);
    const authenticatedAt = issued.authenticatedAt === null ? null : new Date(issued.authenticatedAt);
    const recorded = await this.billing.record(
      userId,
      {
        billingKey: issued.billingKey,
        customerKey,
        method: issued.method,
        authenticatedAt: authenticatedAt && !Number.isNaN(authenticatedAt.getTime()) ? authenticatedAt : null,
        card: issued.card,
      },
      this.clock(),
    );
    if (recorded === 'taken') throw new Error(`billing key ${maskBillingKey(issued.billingKey)} is recorded for another customer`);
    log.info({ billingKey: maskBillingKey(issued.billingKey), again: recorded === 'exists' }, 'card registered for subscriptions');
    return { billingKey: issued.billingKey, card: issued.card };
  }

  async create(userId: number, input: SubscriptionCreateInput): Promise<{ subscriptionId: number }> {
    refuseIllFormedText(input.fulfillment, ['fulfillment']);
    const products = await this.pricing.getMany(input.items.map((i) => i.productId));
    const storeIds = new Map<number, number>();
    input.items.forEach((item, i) => {
      const p = products.get(item.productId);
      if (!p) throw badField(['items', i, 'productId'], `no product ${item.productId} on sale`);
      storeIds.set(p.id, p.storeId);
    });
    // A key the gateway issued is printable ASCII (its column is ascii_bin): anything else is no card of the caller's,
    // refused here as one, not compared in SQL, where MariaDB fails on the mix of collations.
    const unknownKey = input.billingKey !== undefined && !/^[\x21-\x7e]+$/.test(input.billingKey);
    const subscriptionId = unknownKey ? 'UNKNOWN_BILLING_KEY' : await this.repo.create(userId, input, storeIds, this.clock());
    if (subscriptionId === 'UNKNOWN_BILLING_KEY') {
      throw badField(['billingKey'], 'not a card you registered (subscriptions.registerCard), or its key was deleted');
    }
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

  /**
   * No future cycle. The last subscription charging a billing key takes the key with it: marked DELETED here
   * (no cycle is charged to it again), then deleted at the gateway. The cancel stands if the gateway cannot
   * be reached; the key stays DELETED here (never charged), without gateway_deleted_at.
   */
  async cancel(userId: number, subscriptionId: number, log: Logger): Promise<SubscriptionView> {
    const s = await this.get(userId, subscriptionId);
    if (s.status !== 'CANCELLED') {
      const { releasedBillingKey } = await this.repo.cancel(userId, subscriptionId, this.clock());
      if (releasedBillingKey !== null) await this.deleteAtGateway(releasedBillingKey, log);
    }
    return this.get(userId, subscriptionId);
  }

  private async deleteAtGateway(billingKey: string, log: Logger): Promise<void> {
    try {
      await this.gateway.deleteBillingKey(billingKey);
      await this.billing.markGatewayDeleted(billingKey, this.clock());
      log.info({ billingKey: maskBillingKey(billingKey) }, 'billing key deleted: its last subscription was cancelled');
    } catch (err) {
      log.warn(
        { billingKey: maskBillingKey(billingKey), err: err instanceof Error ? err.message : String(err) },
        'billing key not deleted at the gateway (it is never charged again)',
      );
    }
  }

  /** Pauses every ACTIVE subscription holding these products, or any product of this store. */
  pauseHolding(holding: { productIds: number[] } | { storeId: number }, reason: SubscriptionPauseReason, detail: string): Promise<number> {
    return this.repo.pauseHolding(holding, reason, detail, this.clock());
  }
}

/** The service from config and the primary: its repositories and the gateway client (for billing keys). */
export function createSubscriptionService(
  ds: DataSource,
  pricing: ProductPricingCache,
  config: Pick<Config, 'PAYMENT_GATEWAY_URL' | 'PAYMENT_SECRET_KEY' | 'PAYMENT_TIMEOUT_MS' | 'PAYMENT_RETRIES' | 'PAYMENT_BREAKER_RESET_MS'>,
): SubscriptionService {
  const gateway = gatewayClientFromConfig(config);
  return new SubscriptionService(new SubscriptionsRepository(ds), pricing, new BillingKeysRepository(ds), gateway);
}
