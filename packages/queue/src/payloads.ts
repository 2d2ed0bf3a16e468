import { z } from 'zod';
import { COUPON_KINDS, PAYMENT_METHODS, fulfillmentInput, id, ulid } from '@bazaar/contracts';

/** One accepted line: the product's price and name at the moment of acceptance. */
export const acceptedLine = z.strictObject({
  productId: id,
  storeId: id,
  name: z.string(),
  unitPrice: z.number().int().min(0),
  quantity: z.number().int().min(1),
});
export type AcceptedLine = z.infer<typeof acceptedLine>;

/**
 * The coupon's terms as they were when the order was accepted (a coupon never
 * changes after create): the worker prices the order from these, never from
 * a later read.
 */
export const acceptedCoupon = z.strictObject({
  couponId: id,
  kind: z.enum(COUPON_KINDS),
  value: z.number().int().min(0),
  maxDiscount: z.number().int().min(0).nullable(),
  minOrderAmount: z.number().int().min(0),
  /** null: a platform coupon (every line is eligible). */
  storeId: id.nullable(),
});
export type AcceptedCoupon = z.infer<typeof acceptedCoupon>;

/**
 * An accepted order: what the API keeps in Redis and what the `orders` job
 * carries. Producer and consumer both parse it with this schema.
 */
export const acceptedOrder = z.strictObject({
  orderId: ulid,
  userId: id,
  requestId: z.string().min(1).max(64),
  idempotencyKey: z.string(),
  acceptedAt: z.iso.datetime(),
  paymentMethod: z.enum(PAYMENT_METHODS),
  paymentKey: z.string().optional(),
  /**
   * CARD by billing key (a subscription's cycle): the key the worker charges, instead of confirming a
   * paymentKey. Server-side only: the scheduler sets it from the subscription; orders.place cannot pass one.
   */
  billingKey: z.string().min(1).max(200).optional(),
  /** The coupon this order reserved at accept, with its terms frozen. */
  coupon: acceptedCoupon.optional(),
  /** Points the customer asked to use (checked against the live balance by the worker). */
  points: z.number().int().min(0).optional(),
  /** The reward rate in force at accept, in basis points of the cash paid; absent = the default (100). */
  rewardBps: z.number().int().min(0).max(10_000).optional(),
  fulfillment: fulfillmentInput,
  lines: z.array(acceptedLine).min(1),
  /** Ordered from the cart: when the order becomes PAID, its lines' quantities leave the customer's cart (same transaction). */
  fromCart: z.literal(true).optional(),
});
export type AcceptedOrder = z.infer<typeof acceptedOrder>;

export const orderJobData = z.strictObject({ order: acceptedOrder, requestId: z.string().min(1).max(64) });
export type OrderJobData = z.infer<typeof orderJobData>;

/** Cancel an order (the customer asked, or card payment expired): job name cancel-order on the `orders` queue. */
export const cancelJobData = z.strictObject({
  orderId: ulid,
  userId: id,
  requestId: z.string().min(1).max(64),
  reason: z.enum(['CUSTOMER', 'EXPIRED', 'AUDIT']),
});
export type CancelJobData = z.infer<typeof cancelJobData>;

export interface CancelJobResult {
  status: string;
  changed: boolean;
}

/** Apply a refund: the `refunds` queue, job id = refund id. */
export const refundJobData = z.strictObject({
  refundId: ulid,
  orderId: ulid,
  /** The order's customer (the worker takes their lock: refunds change their wallet and points). */
  userId: id,
  requestId: z.string().min(1).max(64),
});
export type RefundJobData = z.infer<typeof refundJobData>;

export interface RefundJobResult {
  refundId: string;
  status: string;
  /** The order's status after it. */
  orderStatus: string;
}
