import { FailureReason } from '@bazaar/contracts';
import { assertSafeInt, safeSum } from '../money/integers';

/** A reward lot is valid this many days from the moment the order becomes PAID. */
export const REWARD_VALID_DAYS = 365;
/** Points given back to an expired lot are re-issued as a new lot valid this many days from the refund. */
export const REISSUE_VALID_DAYS = 30;

const DAY_MS = 86_400_000;

/** A point lot as the ledger holds it (money.md §3). */
export interface PointLot {
  id: number;
  remaining: number;
  expiresAt: Date;
}

/** One (spend, lot, amount) mapping row, or an amount moved to/from one lot. */
export interface LotAmount {
  lotId: number;
  amount: number;
}

/** A spend's mapping row as input to a give-back: `amount` is net of earlier give-backs. */
export interface ConsumedLot {
  lotId: number;
  /** Points of this row not yet given back (consumed minus already returned). */
  amount: number;
  expiresAt: Date;
}

export interface GiveBackPlan {
  /** Every mapping row reduced by this give-back, last consumed first (expired lots included). */
  undone: LotAmount[];
  /** The part of `undone` whose lot is still live: add it back to that lot's remaining. */
  toLots: LotAmount[];
  /** The part of `undone` whose lot has expired: issue it as one new lot (REFUND_REISSUE). */
  reissue: number;
}

/** Thrown by {@link planSpend} when the live lots cannot cover the spend. */
export class InsufficientPointsError extends Error {
  override readonly name = 'InsufficientPointsError';
  readonly reason = FailureReason.INSUFFICIENT_POINTS;
  constructor(
    readonly requested: number,
    readonly available: number,
  ) {
    super(`cannot spend ${requested} points: ${available} live`);
  }
}

/** A lot is live while `expiresAt > now`; at `expiresAt` itself it has expired. */
export function isLotLive(lot: { expiresAt: Date }, now: Date): boolean {
  return lot.expiresAt.getTime() > now.getTime();
}

/** The live balance: the sum of remaining over lots that have not expired. */
export function liveBalance(lots: readonly PointLot[], now: Date): number {
  assertDate('now', now);
  lots.forEach(assertLot);
  return safeSum(
    'live balance',
    lots.filter((lot) => isLotLive(lot, now)).map((lot) => lot.remaining),
  );
}

/** `from + days` whole days (24 h each), e.g. `expiryAfter(now, REISSUE_VALID_DAYS)`. */
export function expiryAfter(from: Date, days: number): Date {
  assertDate('from', from);
  assertSafeInt('days', days);
  return new Date(from.getTime() + days * DAY_MS);
}

/**
 * Plans a spend of `amount` points (money.md §3): consumes live lots
 * (expiresAt > now) soonest expiry first, then lower lot id, skipping lots with
 * nothing left. Returns the mapping rows in consumption order; `[]` for 0.
 * The input is not mutated.
 *
 * @throws InsufficientPointsError if the live lots hold fewer than `amount` points.
 * @throws RangeError on bad input (amount, ids or remaining not safe integers, invalid dates).
 */
export function planSpend(lots: readonly PointLot[], amount: number, now: Date): LotAmount[] {
  assertSafeInt('amount', amount);
  const available = liveBalance(lots, now); // validates lots and now
  if (amount > available) throw new InsufficientPointsError(amount, available);

  const live = lots.filter((lot) => isLotLive(lot, now) && lot.remaining > 0).sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime() || a.id - b.id);
  const rows: LotAmount[] = [];
  let left = amount;
  for (const lot of live) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    rows.push({ lotId: lot.id, amount: take });
    left -= take;
  }
  return rows;
}

/**
 * Plans giving back `amount` points of a spend (money.md §4): undoes the spend's
 * mapping rows from the last consumed backwards. Amounts returning to a live
 * lot go to `toLots` (raise its remaining); amounts whose lot has expired
 * (expiresAt <= now) are summed into `reissue`, to be issued as a new
 * REFUND_REISSUE lot valid {@link REISSUE_VALID_DAYS} days from now.
 *
 * `consumptions` are the spend's rows in the order they were consumed, each
 * with its amount NET of earlier give-backs; rows already fully given back may
 * be passed with amount 0. The caller records `undone` so the next give-back
 * sees the right net amounts.
 *
 * @throws RangeError if `amount` exceeds the sum of the net amounts, or on bad input.
 */
export function planGiveBack(consumptions: readonly ConsumedLot[], amount: number, now: Date): GiveBackPlan {
  assertSafeInt('amount', amount);
  assertDate('now', now);
  consumptions.forEach((c, i) => {
    assertSafeInt(`consumptions[${i}].lotId`, c.lotId, 1);
    assertSafeInt(`consumptions[${i}].amount`, c.amount);
    assertDate(`consumptions[${i}].expiresAt`, c.expiresAt);
  });
  const outstanding = safeSum(
    'outstanding points',
    consumptions.map((c) => c.amount),
  );
  if (amount > outstanding) {
    throw new RangeError(`cannot give back ${amount} points: only ${outstanding} of the spend are outstanding`);
  }

  const plan: GiveBackPlan = { undone: [], toLots: [], reissue: 0 };
  let left = amount;
  for (let i = consumptions.length - 1; i >= 0 && left > 0; i--) {
    const c = consumptions[i];
    if (c === undefined || c.amount === 0) continue;
    const back = Math.min(left, c.amount);
    left -= back;
    plan.undone.push({ lotId: c.lotId, amount: back });
    if (isLotLive(c, now)) plan.toLots.push({ lotId: c.lotId, amount: back });
    else plan.reissue += back;
  }
  return plan;
}

function assertLot(lot: PointLot, i: number): void {
  assertSafeInt(`lots[${i}].id`, lot.id, 1);
  assertSafeInt(`lots[${i}].remaining`, lot.remaining);
  assertDate(`lots[${i}].expiresAt`, lot.expiresAt);
}

function assertDate(name: string, value: Date): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new RangeError(`${name} must be a valid Date`);
  }
}
