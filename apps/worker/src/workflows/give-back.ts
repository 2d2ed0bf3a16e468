import type { QueryRunner } from 'typeorm';
import type { LockedOrder, OrderSettlementRepository, PointsRepository } from '@bazaar/db';
import { REISSUE_VALID_DAYS, expiryAfter } from '@bazaar/domain';

export interface GiveBackOutcome {
  /** Points returned to their lots, and the part re-issued as a new lot (its lot had expired). */
  pointsRestored: number;
  pointsReissued: number;
  /** Reward points clawed back, and what could not be (the customer had spent them). */
  clawedBack: number;
  clawbackShortfall: number;
  /** Whether the coupon's claim was freed for the customer. */
  couponFreed: boolean;
}

/**
 * Everything an order took, given back inside the caller's transaction (a
 * card payment that failed after its reservation, a cancel): stock, the
 * points of its spend (money.md §4: last consumed lot first; an expired
 * lot's part re-issued valid 30 days), the reward when it was paid (a
 * shortfall the customer already spent is reported for the caller to
 * deduct from the cash it gives back), and the coupon (for a paid order
 * only while its window is still open at `now`). `ref` names the operation:
 * each points movement is unique per (lot, kind, ref), so a give-back
 * applies once. The caller moves the order's status and pays the cash.
 */
export async function giveBackOrder(
  q: QueryRunner,
  repos: { settlement: OrderSettlementRepository; points: PointsRepository },
  o: LockedOrder & { orderId: string },
  opts: { ref: string; now: Date; wasPaid: boolean },
): Promise<GiveBackOutcome> {
  await repos.settlement.returnStock(q, o.lines);
  const back = await repos.points.giveBackSpend(q, {
    userId: o.userId,
    orderId: o.orderId,
    amount: o.pointsUsed,
    ref: opts.ref,
    now: opts.now,
    reissueExpiresAt: expiryAfter(opts.now, REISSUE_VALID_DAYS),
  });
  const claw = opts.wasPaid ? await repos.points.clawbackReward(q, { userId: o.userId, orderId: o.orderId, amount: o.pointsEarned, ref: opts.ref, now: opts.now }) : null;
  const couponFreed = o.couponId === null ? false : await repos.settlement.freeCoupon(q, o.orderId, opts.wasPaid ? opts.now : undefined);
  return {
    pointsRestored: back.restored,
    pointsReissued: back.reissued,
    clawedBack: claw?.taken ?? 0,
    clawbackShortfall: claw?.shortfall ?? 0,
    couponFreed,
  };
}
