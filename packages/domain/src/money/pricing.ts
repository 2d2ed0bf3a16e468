import { FailureReason } from '@bazaar/contracts';
import { apportion } from './apportion';
import { assertSafeInt, mulDivFloor, safeSum } from './integers';

/** Reward rate used when none is given: 100 basis points = 1% of the cash paid. */
export const DEFAULT_REWARD_BPS = 100;

export interface PricingLineInput {
  storeId: number;
  /** Won per unit: the product's price when the order is accepted. */
  unitPrice: number;
  quantity: number;
}

export type CouponKind = 'FIXED' | 'PERCENT';

export interface CouponTerms {
  kind: CouponKind;
  /** FIXED: won off (>= 0). PERCENT: the percentage, 1..100. */
  value: number;
  /** PERCENT only: cap on the discount in won; null or absent = no cap. Ignored for FIXED. */
  maxDiscount?: number | null;
  /** Minimum eligible subtotal E in won. */
  minOrderAmount: number;
  /** Store coupon: the store whose lines are eligible. null = platform coupon (every line). */
  storeId: number | null;
}

export interface PricingInput {
  /** The order's lines, in the order the customer listed them (at least one). */
  lines: readonly PricingLineInput[];
  coupon?: CouponTerms | null;
  /** Points the customer asks to use; default 0. */
  points?: number;
  /** The customer's live point balance (sum of remaining over unexpired lots). */
  pointBalance: number;
  /** Reward rate in basis points, 0..10000; default {@link DEFAULT_REWARD_BPS}. */
  rewardBps?: number;
}

export interface PricedLine {
  subtotal: number;
  discount: number;
  points: number;
  cash: number;
  /** This line's share of the order's reward. */
  earned: number;
}

export interface PricedOrder {
  ok: true;
  lines: PricedLine[];
  itemsTotal: number;
  discount: number;
  pointsUsed: number;
  cashPaid: number;
  earned: number;
}

export type PricingRefusalReason = typeof FailureReason.COUPON_NOT_APPLICABLE | typeof FailureReason.INSUFFICIENT_POINTS;

export interface PricingRefusal {
  ok: false;
  reason: PricingRefusalReason;
}

export type PricingResult = PricedOrder | PricingRefusal;

/**
 * Prices an order per money.md §2: subtotals, coupon discount, points, cash and
 * reward, each apportioned over the lines with {@link apportion}.
 *
 * Business refusals are returned, not thrown, in this order:
 * - `COUPON_NOT_APPLICABLE` when the eligible subtotal E < minOrderAmount, or
 *   when a store coupon matches no line of the order;
 * - `INSUFFICIENT_POINTS` when points > pointBalance.
 *
 * @throws RangeError on bad input: an empty order; a price, quantity, amount or
 *   balance that is not a safe integer in range (quantity >= 1, PERCENT value
 *   1..100, rewardBps 0..10000); totals past the safe range; or points greater
 *   than the payable total sum(subtotal - discount). The last one is checked
 *   after the coupon (it depends on the discount) and before the balance: the
 *   API is expected to reject it as bad input rather than fail the order.
 */
export function priceOrder(input: PricingInput): PricingResult {
  const { lines, coupon = null, points = 0, pointBalance, rewardBps = DEFAULT_REWARD_BPS } = input;
  if (lines.length === 0) throw new RangeError('an order needs at least one line');
  lines.forEach((line, i) => {
    assertSafeInt(`lines[${i}].storeId`, line.storeId, 1);
    assertSafeInt(`lines[${i}].unitPrice`, line.unitPrice);
    assertSafeInt(`lines[${i}].quantity`, line.quantity, 1);
  });
  assertSafeInt('points', points);
  assertSafeInt('pointBalance', pointBalance);
  assertSafeInt('rewardBps', rewardBps);
  if (rewardBps > 10_000) throw new RangeError(`rewardBps must be at most 10000, got ${rewardBps}`);
  if (coupon !== null) assertCoupon(coupon);

  const subtotals = lines.map((line, i) => {
    const subtotal = line.unitPrice * line.quantity;
    if (!Number.isSafeInteger(subtotal)) throw new RangeError(`lines[${i}] subtotal is outside the safe integer range`);
    return subtotal;
  });
  const itemsTotal = safeSum('itemsTotal', subtotals);

  // Coupon.
  let discounts = subtotals.map(() => 0);
  let discount = 0;
  if (coupon !== null) {
    const eligible = lines.map((line) => coupon.storeId === null || line.storeId === coupon.storeId);
    if (!eligible.some(Boolean)) return { ok: false, reason: FailureReason.COUPON_NOT_APPLICABLE };
    const eligibleSubtotals = subtotals.map((s, i) => (eligible[i] ? s : 0));
    const e = safeSum('eligible subtotal', eligibleSubtotals);
    if (e < coupon.minOrderAmount) return { ok: false, reason: FailureReason.COUPON_NOT_APPLICABLE };
    discount = couponDiscount(coupon, e);
    discounts = apportion(discount, eligibleSubtotals);
  }

  // Points.
  const payable = subtotals.map((s, i) => s - (discounts[i] ?? 0));
  const payableTotal = itemsTotal - discount;
  if (points > payableTotal) {
    throw new RangeError(`points (${points}) exceed the payable total (${payableTotal})`);
  }
  if (points > pointBalance) return { ok: false, reason: FailureReason.INSUFFICIENT_POINTS };
  const linePoints = apportion(points, payable);

  // Cash and reward.
  const cash = payable.map((p, i) => p - (linePoints[i] ?? 0));
  const cashPaid = payableTotal - points;
  const earned = mulDivFloor(cashPaid, rewardBps, 10_000);
  const lineEarned = apportion(earned, cash);

  return {
    ok: true,
    lines: subtotals.map((subtotal, i) => ({
      subtotal,
      discount: discounts[i] ?? 0,
      points: linePoints[i] ?? 0,
      cash: cash[i] ?? 0,
      earned: lineEarned[i] ?? 0,
    })),
    itemsTotal,
    discount,
    pointsUsed: points,
    cashPaid,
    earned,
  };
}

/** The discount D of a coupon on eligible subtotal `e` (already known to meet minOrderAmount). */
function couponDiscount(coupon: CouponTerms, e: number): number {
  if (coupon.kind === 'FIXED') return Math.min(coupon.value, e);
  const raw = mulDivFloor(e, coupon.value, 100);
  const cap = coupon.maxDiscount ?? null;
  return cap === null ? raw : Math.min(raw, cap);
}

function assertCoupon(coupon: CouponTerms): void {
  if (coupon.kind !== 'FIXED' && coupon.kind !== 'PERCENT') {
    throw new RangeError(`coupon.kind must be FIXED or PERCENT, got ${String(coupon.kind)}`);
  }
  if (coupon.kind === 'PERCENT') {
    assertSafeInt('coupon.value', coupon.value, 1);
    if (coupon.value > 100) throw new RangeError(`a PERCENT coupon value must be at most 100, got ${coupon.value}`);
  } else {
    assertSafeInt('coupon.value', coupon.value);
  }
  if (coupon.maxDiscount !== undefined && coupon.maxDiscount !== null) {
    assertSafeInt('coupon.maxDiscount', coupon.maxDiscount);
  }
  assertSafeInt('coupon.minOrderAmount', coupon.minOrderAmount);
  if (coupon.storeId !== null) assertSafeInt('coupon.storeId', coupon.storeId, 1);
}
