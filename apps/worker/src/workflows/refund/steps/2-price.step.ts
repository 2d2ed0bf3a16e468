import type { QueryRunner } from 'typeorm';
import { frozenPlan } from '@bazaar/db';
import { planRefund, type RefundPlan } from '@bazaar/domain';
import type { LockedRefund } from './1-lock.step';
import type { RefundRepos } from './refund-step';

/**
 * Step 2 — price (money.md §4). Every amount of the refund from packages/domain:
 * per line the cumulative-floor shares of the frozen line amounts for the
 * units refunded before and now (never re-prorated), then the clawback from
 * the reward lot as far as it goes, then by the points its expiry took (the
 * customer never used those), the rest — points the customer spent — from
 * this refund's cash.
 * May: read the lines and the reward lot (locked), and write the plan on the
 * refund's own rows (so a retry after the card cancel applies exactly what
 * the gateway was asked). May not: give anything back. A refund already
 * priced keeps its frozen plan.
 */
export async function priceRefund(q: QueryRunner, repos: RefundRepos, locked: LockedRefund, now: Date): Promise<RefundPlan> {
  const { refund, order } = locked;
  if (refund.pricedAt !== null) return frozenPlan(refund);
  const lines = await repos.refunds.refundableLines(q, order.orderId);
  const reward = await repos.points.rewardLotForClawback(q, order.userId, order.orderId);
  // Expired reward points cover a clawback once: what earlier refunds of the order counted is not counted again.
  const expired = reward.expired > 0 ? Math.max(0, reward.expired - (await repos.refunds.clawbackCoveredByExpiry(q, order.orderId))) : 0;
  const plan = planRefund(lines, new Map(refund.items.map((i) => [i.orderItemId, i.quantity])), reward.remaining, expired);
  await repos.refunds.savePlan(q, refund.id, plan, now);
  return plan;
}
