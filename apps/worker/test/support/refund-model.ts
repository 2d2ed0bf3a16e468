/**
 * An independent model of money.md §1–§4 for the refund model test
 * (refund-model.int.spec.ts): pricing, point lots, spends, give-backs and
 * refund shares written out again here, on purpose without packages/domain,
 * so the test compares the real code and database with a second reading of
 * the rules rather than with the code itself.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** money.md §2.4 and §4.2. */
export const REWARD_DAYS = 365;
export const REISSUE_DAYS = 30;
export const REWARD_BPS = 100;

// ---- §1 apportioning ----

/** floor shares of total × wᵢ / W, the missing won to the largest remainders (ties: lower index). */
export function apportionModel(total: number, weights: readonly number[]): number[] {
  const w = weights.map(BigInt);
  const sumW = w.reduce((s, x) => s + x, 0n);
  if (sumW === 0n) {
    if (total !== 0) throw new Error(`cannot spread ${total} over zero weights`);
    return weights.map(() => 0);
  }
  const t = BigInt(total);
  const floors = w.map((x) => (t * x) / sumW);
  const rems = w.map((x) => (t * x) % sumW);
  let missing = Number(t - floors.reduce((s, x) => s + x, 0n));
  const order = rems.map((r, i) => ({ r, i })).sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  const out = floors.map(Number);
  for (const { i } of order) {
    if (missing === 0) break;
    out[i]! += 1;
    missing -= 1;
  }
  return out;
}

// ---- §2 pricing ----

export interface ModelCoupon {
  kind: 'FIXED' | 'PERCENT';
  value: number;
  maxDiscount: number | null;
  minOrderAmount: number;
  storeId: number | null;
}

export interface ModelLinePrice {
  subtotal: number;
  discount: number;
  points: number;
  cash: number;
  earned: number;
}

export interface ModelPricing {
  lines: ModelLinePrice[];
  itemsTotal: number;
  discount: number;
  pointsUsed: number;
  cashPaid: number;
  earned: number;
}

/** The eligible subtotal E of a coupon (§2.1). */
export function eligibleTotal(lines: readonly { storeId: number; unitPrice: number; quantity: number }[], storeId: number | null): number {
  return lines.filter((l) => storeId === null || l.storeId === storeId).reduce((s, l) => s + l.unitPrice * l.quantity, 0);
}

/** Discount, then what is left to pay (Σ subtotal − discount): the most points the order may ask for. */
export function payableAfterCoupon(lines: readonly { storeId: number; unitPrice: number; quantity: number }[], coupon: ModelCoupon | null): number {
  const itemsTotal = lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0);
  return itemsTotal - (coupon ? couponDiscountModel(coupon, eligibleTotal(lines, coupon.storeId)) : 0);
}

function couponDiscountModel(c: ModelCoupon, e: number): number {
  if (c.kind === 'FIXED') return Math.min(c.value, e);
  const d = Math.floor((e * c.value) / 100);
  return c.maxDiscount === null ? d : Math.min(d, c.maxDiscount);
}

/** §2: coupon, points, cash and reward per line (the caller keeps points within bounds and the coupon applicable). */
export function priceModel(
  lines: readonly { storeId: number; unitPrice: number; quantity: number }[],
  coupon: ModelCoupon | null,
  points: number,
  rewardBps = REWARD_BPS,
): ModelPricing {
  const subtotals = lines.map((l) => l.unitPrice * l.quantity);
  const itemsTotal = subtotals.reduce((s, x) => s + x, 0);
  let discounts = subtotals.map(() => 0);
  let discount = 0;
  if (coupon) {
    const covered = subtotals.map((s, i) => (coupon.storeId === null || lines[i]!.storeId === coupon.storeId ? s : 0));
    const e = covered.reduce((s, x) => s + x, 0);
    if (e < coupon.minOrderAmount) throw new Error('model: coupon not applicable');
    discount = couponDiscountModel(coupon, e);
    discounts = apportionModel(discount, covered);
  }
  const payable = subtotals.map((s, i) => s - discounts[i]!);
  if (points > itemsTotal - discount) throw new Error('model: points above the payable total');
  const linePoints = apportionModel(points, payable);
  const cash = payable.map((p, i) => p - linePoints[i]!);
  const cashPaid = cash.reduce((s, x) => s + x, 0);
  const earned = Math.floor((cashPaid * rewardBps) / 10_000);
  const lineEarned = apportionModel(earned, cash);
  return {
    lines: subtotals.map((subtotal, i) => ({ subtotal, discount: discounts[i]!, points: linePoints[i]!, cash: cash[i]!, earned: lineEarned[i]! })),
    itemsTotal,
    discount,
    pointsUsed: points,
    cashPaid,
    earned,
  };
}

// ---- §3 lots and spends ----

export interface ModelLot {
  id: number;
  source: 'ORDER_REWARD' | 'REFUND_REISSUE' | 'GRANT';
  ref: string;
  amount: number;
  remaining: number;
  expiresAt: number;
}

/** One (spend, lot, amount) mapping row, with what give-backs have undone of it. */
export interface ModelMapping {
  lotId: number;
  amount: number;
  returned: number;
}

export const isLive = (lot: { expiresAt: number }, now: number) => lot.expiresAt > now;

export function liveBalanceModel(lots: readonly ModelLot[], now: number): number {
  return lots.filter((l) => isLive(l, now)).reduce((s, l) => s + l.remaining, 0);
}

/** §3: live lots with something left, soonest expiry first, then lower id; mutates the lots, returns the mapping rows. */
export function spendModel(lots: ModelLot[], amount: number, now: number): ModelMapping[] {
  const live = lots.filter((l) => isLive(l, now) && l.remaining > 0).sort((a, b) => a.expiresAt - b.expiresAt || a.id - b.id);
  const rows: ModelMapping[] = [];
  let left = amount;
  for (const lot of live) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    lot.remaining -= take;
    left -= take;
    rows.push({ lotId: lot.id, amount: take, returned: 0 });
  }
  if (left > 0) throw new Error(`model: ${amount} points asked, ${amount - left} live`);
  return rows;
}

/** §4.2: undo the mapping rows from the last consumed; live lots get theirs back, the expired part is to be re-issued. Mutates. */
export function giveBackModel(lots: ModelLot[], mapping: ModelMapping[], amount: number, now: number): { restored: number; reissue: number } {
  let left = amount;
  let restored = 0;
  let reissue = 0;
  for (let i = mapping.length - 1; i >= 0 && left > 0; i--) {
    const m = mapping[i]!;
    const back = Math.min(left, m.amount - m.returned);
    if (back === 0) continue;
    m.returned += back;
    left -= back;
    const lot = lots.find((l) => l.id === m.lotId)!;
    if (isLive(lot, now)) {
      lot.remaining += back;
      restored += back;
    } else {
      reissue += back;
    }
  }
  if (left > 0) throw new Error(`model: ${amount} points to give back, only ${amount - left} outstanding`);
  return { restored, reissue };
}

// ---- §4.1 / §4.3 refund shares ----

export interface ModelOrderLine {
  orderItemId: number;
  quantity: number;
  cash: number;
  points: number;
  earned: number;
  /** Units refunded so far (the model's own count). */
  refunded: number;
}

export interface ModelRefundPlan {
  lines: { orderItemId: number; quantity: number; refundedBefore: number; cash: number; points: number; clawback: number }[];
  cash: number;
  points: number;
  clawback: number;
  clawbackFromLot: number;
  /** Covered by the reward lot's expired points: always 0 here (the model's runs end before a reward lot's 365 days). */
  clawbackExpired: number;
  clawbackFromCash: number;
  clawbackWaived: number;
  cashReturned: number;
}

const cumModel = (x: number, n: number, q: number) => Number((BigInt(x) * BigInt(n)) / BigInt(q));

/** §4.1 cumulative floors per line, §4.3 the clawback from the reward lot first, the rest from this refund's cash. Moves the lines' counts. */
export function refundModel(lines: ModelOrderLine[], units: ReadonlyMap<number, number>, rewardRemaining: number): ModelRefundPlan {
  const planned = [...units]
    .map(([orderItemId, k]) => {
      const l = lines.find((x) => x.orderItemId === orderItemId)!;
      const u = l.refunded;
      if (u + k > l.quantity) throw new Error(`model: line ${orderItemId} has ${l.quantity - u} units left, ${k} asked`);
      const d = (x: number) => cumModel(x, u + k, l.quantity) - cumModel(x, u, l.quantity);
      l.refunded += k;
      return { orderItemId, quantity: k, refundedBefore: u, cash: d(l.cash), points: d(l.points), clawback: d(l.earned) };
    })
    .sort((a, b) => a.orderItemId - b.orderItemId);
  const cash = planned.reduce((s, l) => s + l.cash, 0);
  const points = planned.reduce((s, l) => s + l.points, 0);
  const clawback = planned.reduce((s, l) => s + l.clawback, 0);
  const fromLot = Math.min(clawback, rewardRemaining);
  const fromCash = Math.min(clawback - fromLot, cash);
  return {
    lines: planned,
    cash,
    points,
    clawback,
    clawbackFromLot: fromLot,
    clawbackExpired: 0,
    clawbackFromCash: fromCash,
    clawbackWaived: clawback - fromLot - fromCash,
    cashReturned: cash - fromCash,
  };
}
