import { assertSafeInt, mulDivFloor } from './integers';

export interface RefundSharesInput {
  /** Units on the line (q >= 1). */
  quantity: number;
  /** Units of the line refunded by earlier refunds (u). */
  refundedBefore: number;
  /** Units refunded now (k >= 1); u + k <= q. */
  refundNow: number;
  /** The line's cash, points and reward share as priced (money.md §2). */
  lineCash: number;
  linePoints: number;
  lineEarned: number;
}

export interface RefundShares {
  /** Cash to give back for these units, before any clawback shortfall. */
  cash: number;
  /** Points to give back (see planGiveBack). */
  points: number;
  /** Reward to claw back (see applyClawback). */
  clawback: number;
}

/**
 * `cum(X, n) = floor(X * n / q)`: the part of X that belongs to the first n of
 * q units (BigInt inside, exact for any safe integers).
 */
export function cum(x: number, n: number, q: number): number {
  assertSafeInt('x', x);
  assertSafeInt('q', q, 1);
  assertSafeInt('n', n);
  if (n > q) throw new RangeError(`n (${n}) exceeds q (${q})`);
  return mulDivFloor(x, n, q);
}

/**
 * What refunding `refundNow` more units of a line gives back (money.md §4):
 * `cum(X, u+k) - cum(X, u)` for cash, points and reward clawback. Any sequence
 * of refunds that ends with every unit refunded returns exactly lineCash and
 * linePoints and claws back exactly lineEarned.
 *
 * @throws RangeError unless every field is a non-negative safe integer,
 *   quantity >= 1, refundNow >= 1 and refundedBefore + refundNow <= quantity.
 */
export function refundShares(input: RefundSharesInput): RefundShares {
  const { quantity: q, refundedBefore: u, refundNow: k, lineCash, linePoints, lineEarned } = input;
  assertSafeInt('quantity', q, 1);
  assertSafeInt('refundedBefore', u);
  assertSafeInt('refundNow', k, 1);
  assertSafeInt('lineCash', lineCash);
  assertSafeInt('linePoints', linePoints);
  assertSafeInt('lineEarned', lineEarned);
  if (u + k > q) {
    throw new RangeError(`refundedBefore (${u}) + refundNow (${k}) exceeds the line quantity (${q})`);
  }
  const share = (x: number): number => cum(x, u + k, q) - cum(x, u, q);
  return { cash: share(lineCash), points: share(linePoints), clawback: share(lineEarned) };
}

export interface ClawbackPlan {
  /** Points to take from the order's reward lot. */
  fromLot: number;
  /** Points the reward lot lost to expiry that cover the clawback: nothing is taken for them (they are gone already). */
  fromExpired: number;
  /** Won deducted from the cash given back, for the part the customer spent. */
  fromCash: number;
  /** Cash actually given back: the input cashBack minus fromCash (never below 0). */
  cashBack: number;
  /** Clawback that neither the lot nor this refund's cash could cover; it is forgone. */
  waived: number;
}

/**
 * Takes a refund's reward clawback (money.md §4.3): first from what the
 * order's reward lot still holds; then from what the lot lost to expiry
 * (those points are gone, the customer never used them: nothing more is
 * taken); the rest — points the customer spent — is deducted from the cash
 * given back by this refund, never below 0. Whatever is still uncovered is
 * reported as `waived` so the caller can record it.
 *
 * `rewardLotRemaining` is the lot's remaining as the caller holds it (locked),
 * expired or not; `rewardLotExpired` the points its expiry took that earlier
 * refunds have not counted yet. Whether the scheduler has written the
 * expiry or not, the cash given back is the same.
 *
 * @throws RangeError unless all arguments are non-negative safe integers.
 */
export function applyClawback(cashBack: number, clawback: number, rewardLotRemaining: number, rewardLotExpired = 0): ClawbackPlan {
  assertSafeInt('cashBack', cashBack);
  assertSafeInt('clawback', clawback);
  assertSafeInt('rewardLotRemaining', rewardLotRemaining);
  assertSafeInt('rewardLotExpired', rewardLotExpired);
  const fromLot = Math.min(clawback, rewardLotRemaining);
  const fromExpired = Math.min(clawback - fromLot, rewardLotExpired);
  const shortfall = clawback - fromLot - fromExpired;
  const fromCash = Math.min(shortfall, cashBack);
  return { fromLot, fromExpired, fromCash, cashBack: cashBack - fromCash, waived: shortfall - fromCash };
}

/** A line of the order as a refund finds it: its frozen shares and the units refunded before. */
export interface RefundableLine {
  orderItemId: number;
  quantity: number;
  refundedBefore: number;
  cash: number;
  points: number;
  earned: number;
}

export interface RefundPlanLine extends RefundShares {
  orderItemId: number;
  /** Units refunded now. */
  quantity: number;
  refundedBefore: number;
}

/** Every amount of one refund (money.md §4), fixed before anything is given back. */
export interface RefundPlan {
  lines: RefundPlanLine[];
  /** Sums of the lines. */
  cash: number;
  points: number;
  clawback: number;
  /** The clawback split: from the reward lot, covered by the lot's expired points, from this refund's cash, forgone. */
  clawbackFromLot: number;
  clawbackExpired: number;
  clawbackFromCash: number;
  clawbackWaived: number;
  /** Cash that goes back: cash − clawbackFromCash. */
  cashReturned: number;
}

/**
 * Prices a refund of `units` (orderItemId → units now) against the order's
 * lines as they stand: per line the cumulative-floor shares of refundShares
 * (never re-prorated over what is left), summed; then the clawback taken
 * from the reward lot as far as `rewardLotRemaining` goes, then covered by
 * its expired points (`rewardLotExpired`), the rest from the cash
 * (applyClawback).
 *
 * @throws RangeError when a unit count names no line, or exceeds what is left of it.
 */
export function planRefund(
  lines: readonly RefundableLine[],
  units: ReadonlyMap<number, number>,
  rewardLotRemaining: number,
  rewardLotExpired = 0,
): RefundPlan {
  const byId = new Map(lines.map((l) => [l.orderItemId, l]));
  const planned: RefundPlanLine[] = [];
  for (const [orderItemId, k] of units) {
    const l = byId.get(orderItemId);
    if (!l) throw new RangeError(`line ${orderItemId} is not a line of this order`);
    const shares = refundShares({ quantity: l.quantity, refundedBefore: l.refundedBefore, refundNow: k, lineCash: l.cash, linePoints: l.points, lineEarned: l.earned });
    planned.push({ orderItemId, quantity: k, refundedBefore: l.refundedBefore, ...shares });
  }
  planned.sort((a, b) => a.orderItemId - b.orderItemId);
  const sum = (pick: (l: RefundPlanLine) => number) => planned.reduce((s, l) => s + pick(l), 0);
  const cash = sum((l) => l.cash);
  const clawback = sum((l) => l.clawback);
  const claw = applyClawback(cash, clawback, rewardLotRemaining, rewardLotExpired);
  return {
    lines: planned,
    cash,
    points: sum((l) => l.points),
    clawback,
    clawbackFromLot: claw.fromLot,
    clawbackExpired: claw.fromExpired,
    clawbackFromCash: claw.fromCash,
    clawbackWaived: claw.waived,
    cashReturned: claw.cashBack,
  };
}
