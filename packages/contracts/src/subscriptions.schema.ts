import { z } from 'zod';
import { LIMITS, listInput } from './common';
import { orderLineInput, fulfillmentInput } from './orders.schema';
import { FulfillmentType, PAYMENT_METHODS, PaymentMethod } from './enums';

export const SUBSCRIPTION_STATUSES = ['ACTIVE', 'PAUSED', 'CANCELLED'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** Why a subscription was paused: by the customer, or by the system after a cycle it could not place. */
export const SUBSCRIPTION_PAUSE_REASONS = [
  'CUSTOMER',
  'DUNNING_EXHAUSTED',
  'PRODUCT_UNAVAILABLE',
  'STORE_CLOSED',
  'PICKUP_TIME_REFUSED',
  'ORDER_REFUSED',
] as const;
export type SubscriptionPauseReason = (typeof SUBSCRIPTION_PAUSE_REASONS)[number];

/** A cycle's outcome, as the subscription's history shows it. */
export const SUBSCRIPTION_CYCLE_OUTCOMES = ['PLACED', 'PAID', 'FAILED', 'REFUSED', 'SKIPPED'] as const;
export type SubscriptionCycleOutcome = (typeof SUBSCRIPTION_CYCLE_OUTCOMES)[number];

export const subscriptionEvery = z.strictObject({
  count: z.number().int().min(1).max(12),
  unit: z.enum(['WEEK', 'MONTH']),
});

export const subscriptionCreateInput = z
  .strictObject({
    items: z.array(orderLineInput).min(1).max(LIMITS.maxLinesPerOrder),
    paymentMethod: z.enum(PAYMENT_METHODS),
    billingKey: z.string().min(1).max(200).optional(),
    fulfillment: fulfillmentInput,
    every: subscriptionEvery,
    startAt: z.iso.datetime({ offset: true }),
  })
  .superRefine((v, ctx) => {
    const seen = new Set<number>();
    v.items.forEach((line, i) => {
      if (seen.has(line.productId)) ctx.addIssue({ code: 'custom', path: ['items', i, 'productId'], message: 'each product at most once' });
      seen.add(line.productId);
    });
    if (v.paymentMethod === PaymentMethod.CARD && v.billingKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['billingKey'], message: 'CARD subscriptions need a billingKey' });
    }
    if (v.paymentMethod === PaymentMethod.BALANCE && v.billingKey !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['billingKey'], message: 'billingKey is only for CARD subscriptions' });
    }
    const start = Date.parse(v.startAt);
    if (v.fulfillment.type === FulfillmentType.PICKUP) {
      const pickup = Date.parse(v.fulfillment.pickupAt);
      if (!(pickup > start && pickup - start < 30 * 86_400_000)) {
        ctx.addIssue({ code: 'custom', path: ['fulfillment', 'pickupAt'], message: 'the first pickup: after startAt, within 30 days of it' });
      }
    }
  });
export type SubscriptionCreateInput = z.infer<typeof subscriptionCreateInput>;

/**
 * subscriptions.registerCard: the authKey the gateway's card-registration window handed the customer's
 * browser. The server exchanges it for a billing key bound to the customer (the customerKey is the
 * server's, never the client's).
 */
export const subscriptionRegisterCardInput = z.strictObject({
  authKey: z
    .string()
    .min(1)
    .max(300)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
});
export type SubscriptionRegisterCardInput = z.infer<typeof subscriptionRegisterCardInput>;

/** The card behind a billing key, as the gateway describes it (the number masked). */
export interface BillingCardView {
  issuerCode: string | null;
  acquirerCode: string | null;
  number: string | null;
  cardType: string | null;
  ownerType: string | null;
}

export interface SubscriptionRegisterCardResult {
  /** Pass it as `billingKey` to subscriptions.create with paymentMethod CARD. Only its owner can. */
  billingKey: string;
  card: BillingCardView | null;
}

export const subscriptionIdInput = z.strictObject({ subscriptionId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
export const subscriptionListInput = z.strictObject({ ...listInput }).default({ limit: 20 });

export interface SubscriptionCycleView {
  cycle: number;
  dueAt: string;
  attempt: number;
  orderId: string | null;
  outcome: SubscriptionCycleOutcome;
  reason: string | null;
}

export interface SubscriptionView {
  subscriptionId: number;
  status: SubscriptionStatus;
  pauseReason: SubscriptionPauseReason | null;
  pauseDetail: string | null;
  items: { productId: number; quantity: number }[];
  paymentMethod: (typeof PAYMENT_METHODS)[number];
  /** CARD: the billing key each cycle is charged to. */
  billingKey: string | null;
  fulfillment: z.infer<typeof fulfillmentInput>;
  every: z.infer<typeof subscriptionEvery>;
  startAt: string;
  nextCycle: number;
  nextDueAt: string | null;
  attempt: number;
  createdAt: string;
  cycles: SubscriptionCycleView[];
}
