import { z } from 'zod';
import { id, listInput } from './common';
import { COUPON_KINDS, CouponKind, type CouponState } from './enums';

export const COUPON_LIMITS = {
  /** Units one coupon may issue. */
  maxQuantity: 1_000_000,
  /** Won: FIXED value, PERCENT cap and minimum order amount. */
  maxAmount: 1_000_000_000_000,
} as const;

const isoDateTime = z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time with an offset, e.g. 2026-01-31T09:00:00+09:00' });
const amount = (min: number) => z.number().int().min(min).max(COUPON_LIMITS.maxAmount);

/**
 * coupons.create. A store coupon (storeId) is made by that store's seller; without storeId it is a
 * platform coupon, admins only. Cross-field rules are issues on the field they refuse: value (PERCENT
 * 1..100), maxDiscount (PERCENT only), validUntil (after validFrom, and in the future).
 */
export const couponCreateInput = z
  .strictObject({
    storeId: id.optional(),
    name: z.string().trim().min(1).max(100),
    kind: z.enum(COUPON_KINDS),
    /** FIXED: won off (≥ 1). PERCENT: the percentage, an integer 1..100. */
    value: amount(1),
    /** PERCENT only: the most won it takes off (≥ 1); absent = no cap. */
    maxDiscount: amount(1).optional(),
    minOrderAmount: amount(0),
    quantity: z.number().int().min(1).max(COUPON_LIMITS.maxQuantity),
    validFrom: isoDateTime,
    validUntil: isoDateTime,
  })
  .superRefine((v, ctx) => {
    if (v.kind === CouponKind.PERCENT && v.value > 100) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'a PERCENT coupon takes an integer percentage from 1 to 100' });
    }
    if (v.kind === CouponKind.FIXED && v.maxDiscount !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxDiscount'], message: 'maxDiscount is only for PERCENT coupons' });
    }
    const from = Date.parse(v.validFrom);
    const until = Date.parse(v.validUntil);
    if (until <= from) ctx.addIssue({ code: 'custom', path: ['validUntil'], message: 'must be after validFrom' });
    else if (until <= Date.now()) ctx.addIssue({ code: 'custom', path: ['validUntil'], message: 'must be in the future' });
  });
export type CouponCreateInput = z.infer<typeof couponCreateInput>;

export const couponClaimInput = z.strictObject({ couponId: id });
export type CouponClaimInput = z.infer<typeof couponClaimInput>;

/** Public: coupons whose window has not ended (upcoming ones too), soonest ending first; storeId narrows to one store's. */
export const couponListInput = z.strictObject({ storeId: id.optional(), ...listInput }).default({ limit: 20 });
export type CouponListInput = z.infer<typeof couponListInput>;

/** The caller's claimed coupons, newest claim first. */
export const couponMineInput = z.strictObject({ ...listInput }).default({ limit: 20 });
export type CouponMineInput = z.infer<typeof couponMineInput>;

export interface CouponView {
  id: number;
  /** null: a platform coupon (every line is eligible). */
  storeId: number | null;
  name: string;
  kind: CouponKind;
  value: number;
  maxDiscount: number | null;
  minOrderAmount: number;
  quantity: number;
  /** Units not claimed yet. */
  remaining: number;
  validFrom: string;
  validUntil: string;
  createdAt: string;
}

export interface CouponClaimResult {
  couponId: number;
  claimedAt: string;
}

export interface MyCouponView {
  couponId: number;
  storeId: number | null;
  name: string;
  kind: CouponKind;
  value: number;
  maxDiscount: number | null;
  minOrderAmount: number;
  validFrom: string;
  validUntil: string;
  claimedAt: string;
  /** USED: its order is paid (or refunded); RESERVED: an order waiting to settle holds it; EXPIRED: the window ended unused. */
  state: CouponState;
  /** The order that uses or holds it, when MySQL knows one. */
  orderId: string | null;
}
