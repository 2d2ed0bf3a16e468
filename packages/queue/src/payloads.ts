import { z } from 'zod';
import { PAYMENT_METHODS, fulfillmentInput, id, ulid } from '@bazaar/contracts';

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
  couponId: id.optional(),
  points: z.number().int().min(0).optional(),
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
