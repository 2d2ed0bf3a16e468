import type { QueryRunner } from 'typeorm';
import type { LockedOrder, OrderSettlementRepository, PointsRepository } from '@bazaar/db';
import { REISSUE_VALID_DAYS, expiryAfter } from '@bazaar/domain';

/**
 * Everything an order that was never paid took, given back inside the
 * caller's transaction (a card payment that failed after its reservation, an
 * order cancelled while awaiting payment): stock, the points of its spend
 * (money.md §4: last consumed lot first; an expired lot's part re-issued
 * valid 30 days), and its coupon claim. There is no reward to claw back (it
 * comes with PAID). `ref` names the operation: each points movement is unique
 * per (lot, kind, ref), so a give-back applies once. A paid order gives back
 * through a refund (workflows/refund) instead. The caller moves the status.
 */
export async function giveBackUnpaidOrder(
  q: QueryRunner,
  repos: { settlement: OrderSettlementRepository; points: PointsRepository },
  o: LockedOrder & { orderId: string },
  opts: { ref: string; now: Date },
): Promise<void> {
  await repos.settlement.returnStock(q, o.lines);
  await repos.points.giveBackSpend(q, {
    userId: o.userId,
    orderId: o.orderId,
    amount: o.pointsUsed,
    ref: opts.ref,
    now: opts.now,
    reissueExpiresAt: expiryAfter(opts.now, REISSUE_VALID_DAYS),
  });
  if (o.couponId !== null) await repos.settlement.freeCoupon(q, o.orderId);
}
