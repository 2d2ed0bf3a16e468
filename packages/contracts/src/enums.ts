/** Statuses and reasons: one enum each, used everywhere (docs/api.md). */
export const Role = { CUSTOMER: 'CUSTOMER', SELLER: 'SELLER', ADMIN: 'ADMIN' } as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES = Object.values(Role) as [Role, ...Role[]];

export const OrderStatus = {
  PENDING: 'PENDING',
  PAID: 'PAID',
  FAILED: 'FAILED',
  PARTIALLY_REFUNDED: 'PARTIALLY_REFUNDED',
  REFUNDED: 'REFUNDED',
  CANCELLED: 'CANCELLED',
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];
export const ORDER_STATUSES = Object.values(OrderStatus) as [OrderStatus, ...OrderStatus[]];

export const FailureReason = {
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  INSUFFICIENT_BALANCE: 'INSUFFICIENT_BALANCE',
  INSUFFICIENT_POINTS: 'INSUFFICIENT_POINTS',
  COUPON_NOT_APPLICABLE: 'COUPON_NOT_APPLICABLE',
  COUPON_UNAVAILABLE: 'COUPON_UNAVAILABLE',
  PAYMENT_DECLINED: 'PAYMENT_DECLINED',
  PAYMENT_ERROR: 'PAYMENT_ERROR',
  /** A waiting-room event's product ordered without a valid admission token (refused at accept, never stored). */
  ADMISSION_REQUIRED: 'ADMISSION_REQUIRED',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];
export const FAILURE_REASONS = Object.values(FailureReason) as [FailureReason, ...FailureReason[]];

export const RefundStatus = { PENDING: 'PENDING', COMPLETED: 'COMPLETED', FAILED: 'FAILED' } as const;
export type RefundStatus = (typeof RefundStatus)[keyof typeof RefundStatus];
export const REFUND_STATUSES = Object.values(RefundStatus) as [RefundStatus, ...RefundStatus[]];

/** REFUND: refunds.request; CANCEL: orders.cancel of a paid order (everything, and the order ends CANCELLED). */
export const RefundKind = { REFUND: 'REFUND', CANCEL: 'CANCEL' } as const;
export type RefundKind = (typeof RefundKind)[keyof typeof RefundKind];

/** Why refunds.request was refused up front (PRECONDITION_FAILED, data.reason). */
export const RefundRefusal = {
  /** The order is not PAID or PARTIALLY_REFUNDED (still waiting, failed, cancelled, or refunded in full). */
  ORDER_NOT_REFUNDABLE: 'ORDER_NOT_REFUNDABLE',
  /** More units than are left to refund on a line, counting refunds still PENDING. */
  REFUND_EXCEEDS_REMAINING: 'REFUND_EXCEEDS_REMAINING',
  /** orders.cancel of a paid order while a refund of it is still PENDING. */
  REFUND_IN_PROGRESS: 'REFUND_IN_PROGRESS',
} as const;
export type RefundRefusal = (typeof RefundRefusal)[keyof typeof RefundRefusal];

/** Why a refund ended FAILED (nothing was given back). */
export const RefundFailureReason = {
  /** The gateway refused the card cancel (its code is in failureCode). */
  PAYMENT_CANCEL_REFUSED: 'PAYMENT_CANCEL_REFUSED',
} as const;
export type RefundFailureReason = (typeof RefundFailureReason)[keyof typeof RefundFailureReason];

export const PaymentMethod = { BALANCE: 'BALANCE', CARD: 'CARD' } as const;
export type PaymentMethod = (typeof PaymentMethod)[keyof typeof PaymentMethod];
export const PAYMENT_METHODS = Object.values(PaymentMethod) as [PaymentMethod, ...PaymentMethod[]];

export const FulfillmentType = { DELIVERY: 'DELIVERY', PICKUP: 'PICKUP' } as const;
export type FulfillmentType = (typeof FulfillmentType)[keyof typeof FulfillmentType];

export const WalletEntryKind = { CHARGE: 'CHARGE', ORDER_PAYMENT: 'ORDER_PAYMENT', ORDER_REFUND: 'ORDER_REFUND' } as const;
export type WalletEntryKind = (typeof WalletEntryKind)[keyof typeof WalletEntryKind];

export const ProductStatus = { ACTIVE: 'ACTIVE', DELETED: 'DELETED' } as const;
export type ProductStatus = (typeof ProductStatus)[keyof typeof ProductStatus];

/** A card payment as the payments table mirrors it from the gateway. */
export const PaymentStatus = {
  CONFIRMING: 'CONFIRMING',
  DONE: 'DONE',
  FAILED: 'FAILED',
  PARTIAL_CANCELED: 'PARTIAL_CANCELED',
  CANCELED: 'CANCELED',
} as const;
export type PaymentStatus = (typeof PaymentStatus)[keyof typeof PaymentStatus];

export const CouponKind = { FIXED: 'FIXED', PERCENT: 'PERCENT' } as const;
export type CouponKind = (typeof CouponKind)[keyof typeof CouponKind];
export const COUPON_KINDS = Object.values(CouponKind) as [CouponKind, ...CouponKind[]];

/** A claimed coupon as coupons.mine shows it. */
export const CouponState = { AVAILABLE: 'AVAILABLE', RESERVED: 'RESERVED', USED: 'USED', EXPIRED: 'EXPIRED' } as const;
export type CouponState = (typeof CouponState)[keyof typeof CouponState];

/** Why coupons.claim was refused (PRECONDITION_FAILED, data.reason). */
export const ClaimRefusal = {
  COUPON_SOLD_OUT: 'COUPON_SOLD_OUT',
  COUPON_ALREADY_CLAIMED: 'COUPON_ALREADY_CLAIMED',
  COUPON_NOT_ACTIVE: 'COUPON_NOT_ACTIVE',
} as const;
export type ClaimRefusal = (typeof ClaimRefusal)[keyof typeof ClaimRefusal];

/** Where a point lot came from. */
export const PointLotSource = { ORDER_REWARD: 'ORDER_REWARD', REFUND_REISSUE: 'REFUND_REISSUE', GRANT: 'GRANT' } as const;
export type PointLotSource = (typeof PointLotSource)[keyof typeof PointLotSource];

/** Every change of a lot's remaining is one of these (points.history; bazaar_points_total{movement} in lower case). */
export const PointMovementKind = {
  EARN: 'EARN',
  SPEND: 'SPEND',
  RESTORE: 'RESTORE',
  REISSUE: 'REISSUE',
  CLAWBACK: 'CLAWBACK',
  EXPIRE: 'EXPIRE',
  GRANT: 'GRANT',
} as const;
export type PointMovementKind = (typeof PointMovementKind)[keyof typeof PointMovementKind];

/**
 * A store's part of an order, fulfilled by that store on its own: delivery PREPARING → SHIPPED → DELIVERED,
 * pickup PREPARING → READY_FOR_PICKUP → PICKED_UP (the transition table is packages/domain's).
 */
export const FulfillmentStatus = {
  PREPARING: 'PREPARING',
  SHIPPED: 'SHIPPED',
  DELIVERED: 'DELIVERED',
  READY_FOR_PICKUP: 'READY_FOR_PICKUP',
  PICKED_UP: 'PICKED_UP',
} as const;
export type FulfillmentStatus = (typeof FulfillmentStatus)[keyof typeof FulfillmentStatus];
export const FULFILLMENT_STATUSES = Object.values(FulfillmentStatus) as [FulfillmentStatus, ...FulfillmentStatus[]];

/** Why fulfillment.update was refused (PRECONDITION_FAILED, data.reason). */
export const FulfillmentRefusal = {
  /** Not a next status of the part's current one for its fulfillment type (out of order, backwards, or the other type's). */
  TRANSITION_NOT_ALLOWED: 'TRANSITION_NOT_ALLOWED',
  /** The order is not PAID or PARTIALLY_REFUNDED (refunded in full, cancelled), or every unit of the store's lines is refunded or being refunded. */
  NOTHING_TO_FULFILL: 'NOTHING_TO_FULFILL',
} as const;
export type FulfillmentRefusal = (typeof FulfillmentRefusal)[keyof typeof FulfillmentRefusal];

/** orders.cancel of a paid order refused because a store has already shipped or handed over its part (PRECONDITION_FAILED). */
export const CancelRefusal = { ALREADY_FULFILLED: 'ALREADY_FULFILLED' } as const;
export type CancelRefusal = (typeof CancelRefusal)[keyof typeof CancelRefusal];

/** A closed store sells nothing: its products are not on sale and its subscriptions pause. */
export const StoreStatus = { OPEN: 'OPEN', CLOSED: 'CLOSED' } as const;
export type StoreStatus = (typeof StoreStatus)[keyof typeof StoreStatus];
