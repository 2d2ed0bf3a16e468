/** Statuses and reasons: one enum each, used everywhere (shared/spec/contract.md). */
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
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];
export const FAILURE_REASONS = Object.values(FailureReason) as [FailureReason, ...FailureReason[]];

export const RefundStatus = { PENDING: 'PENDING', COMPLETED: 'COMPLETED', FAILED: 'FAILED' } as const;
export type RefundStatus = (typeof RefundStatus)[keyof typeof RefundStatus];

export const PaymentMethod = { BALANCE: 'BALANCE', CARD: 'CARD' } as const;
export type PaymentMethod = (typeof PaymentMethod)[keyof typeof PaymentMethod];
export const PAYMENT_METHODS = Object.values(PaymentMethod) as [PaymentMethod, ...PaymentMethod[]];

export const FulfillmentType = { DELIVERY: 'DELIVERY', PICKUP: 'PICKUP' } as const;
export type FulfillmentType = (typeof FulfillmentType)[keyof typeof FulfillmentType];

export const WalletEntryKind = { CHARGE: 'CHARGE', ORDER_PAYMENT: 'ORDER_PAYMENT', ORDER_REFUND: 'ORDER_REFUND' } as const;
export type WalletEntryKind = (typeof WalletEntryKind)[keyof typeof WalletEntryKind];

export const ProductStatus = { ACTIVE: 'ACTIVE', DELETED: 'DELETED' } as const;
export type ProductStatus = (typeof ProductStatus)[keyof typeof ProductStatus];
