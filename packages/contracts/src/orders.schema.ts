import { z } from 'zod';
import { LIMITS, id, idempotencyKey, listInput, ulid } from './common';
import type { StorePartView } from './fulfillment.schema';
import { FulfillmentType, PAYMENT_METHODS, PaymentMethod, type FailureReason, type OrderStatus } from './enums';
import { admissionToken } from './waiting-room.schema';

export const orderLineInput = z.strictObject({
  productId: id,
  quantity: z.number().int().min(1).max(LIMITS.maxQuantityPerLine),
});

export const deliveryAddress = z.strictObject({
  recipient: z.string().trim().min(1).max(50),
  phone: z.string().regex(/^[0-9+\- ]{7,20}$/, 'a phone number'),
  postalCode: z.string().regex(/^[0-9]{5}$/, '5 digits'),
  line1: z.string().trim().min(1).max(200),
  line2: z.string().trim().max(200).optional(),
});

export const fulfillmentInput = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal(FulfillmentType.DELIVERY), address: deliveryAddress }),
  z.strictObject({ type: z.literal(FulfillmentType.PICKUP), pickupAt: z.iso.datetime({ offset: true }) }),
]);
export type Fulfillment = z.infer<typeof fulfillmentInput>;

export const orderPlaceInput = z
  .strictObject({
    idempotencyKey,
    items: z.array(orderLineInput).min(1).max(LIMITS.maxLinesPerOrder).optional(),
    /**
     * Order the caller's cart as it is when the order is accepted (every line, in cart order). The ordered
     * quantities leave the cart when the order is PAID; a FAILED or CANCELLED order leaves the cart alone.
     */
    fromCart: z.literal(true).optional(),
    couponId: id.optional(),
    points: z.number().int().min(0).max(LIMITS.maxWalletBalance).optional(),
    paymentMethod: z.enum(PAYMENT_METHODS),
    paymentKey: z.string().min(1).max(200).optional(),
    /** For a product in an open waiting-room event: the token waitingRoom.status handed out (one order per token). */
    admissionToken: admissionToken.optional(),
    fulfillment: fulfillmentInput,
  })
  .superRefine((v, ctx) => {
    if (v.items === undefined && v.fromCart === undefined) {
      ctx.addIssue({ code: 'custom', path: ['items'], message: 'give either items or fromCart: true' });
    }
    if (v.items !== undefined && v.fromCart !== undefined) {
      // Mutually exclusive: the order is either the lines given or the cart, never both.
      ctx.addIssue({ code: 'custom', path: ['items'], message: 'give either items or fromCart: true, not both' });
      ctx.addIssue({ code: 'custom', path: ['fromCart'], message: 'give either items or fromCart: true, not both' });
    }
    if (v.items) {
      const seen = new Set<number>();
      v.items.forEach((line, i) => {
        if (seen.has(line.productId)) {
          ctx.addIssue({ code: 'custom', path: ['items', i, 'productId'], message: 'each product at most once per order' });
        }
        seen.add(line.productId);
      });
    }
    if (v.paymentMethod === PaymentMethod.BALANCE && v.paymentKey !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['paymentKey'], message: 'paymentKey is only for CARD payments' });
    }
    if (v.paymentMethod === PaymentMethod.CARD && v.paymentKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['paymentKey'], message: 'CARD payments need a paymentKey' });
    }
    if (v.fulfillment.type === FulfillmentType.PICKUP) {
      const at = Date.parse(v.fulfillment.pickupAt);
      const now = Date.now();
      if (!(at > now && at < now + 30 * 86400_000)) {
        ctx.addIssue({ code: 'custom', path: ['fulfillment', 'pickupAt'], message: 'a time within the next 30 days' });
      }
    }
  });
export type OrderPlaceInput = z.infer<typeof orderPlaceInput>;

export const orderGetInput = z.strictObject({ orderId: ulid });
export const orderListInput = z.strictObject({ ...listInput }).default({ limit: 20 });

export interface OrderPlaceResult {
  orderId: string;
  status: OrderStatus;
}

export interface OrderLineView {
  orderItemId: number | null;
  productId: number;
  storeId: number;
  productName: string;
  unitPrice: number;
  quantity: number;
  subtotal: number;
  discount: number;
  points: number;
  cash: number;
  /** This line's share of the order's reward points. */
  earned: number;
  /** Units of this line refunded so far (completed refunds), and what they gave back. */
  refundedQuantity: number;
  refunded: RefundedTotals;
}

/** What refunds have given back so far: cash, points, and reward points clawed back (money.md §4). */
export interface RefundedTotals {
  cash: number;
  points: number;
  clawback: number;
}

/** The order's refunds so far: the three totals, and the cash that actually went back (cash less any reward already spent). */
export interface OrderRefundedTotals extends RefundedTotals {
  cashReturned: number;
}

export interface OrderView {
  id: string;
  status: OrderStatus;
  failureReason: FailureReason | null;
  paymentMethod: PaymentMethod;
  fulfillment: Fulfillment;
  items: OrderLineView[];
  itemsTotal: number;
  discount: number;
  pointsUsed: number;
  cashPaid: number;
  pointsEarned: number;
  /** The coupon the order uses, if any. */
  couponId: number | null;
  refunded: OrderRefundedTotals;
  /** Each store's part of a paid order and its fulfillment status (empty until the order is PAID). */
  stores: StorePartView[];
  acceptedAt: string;
  settledAt: string | null;
}
