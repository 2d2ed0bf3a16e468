import { FailureReason } from '@bazaar/contracts';
import { PointsRepository, affected, rowsOf } from '@bazaar/db';
import { InsufficientPointsError, planSpend } from '@bazaar/domain';
import type { OrderStep } from './order-step';

/**
 * The point spend (money.md §3). The opening round trip locks the customer's
 * live lots (soonest expiry first); the plan takes them in that order, or
 * refuses with INSUFFICIENT_POINTS when the live balance is short. The writes
 * (3 + one per lot: the spend, a conditional decrement per lot, the mapping
 * rows, the SPEND movements) each decrement must change exactly one row —
 * never below 0, never an expired lot — so even two transactions that both
 * got past an expired customer lock cannot spend one point twice.
 */
export const pointSpendStep: OrderStep = {
  name: 'point_spend',
  applies: (ctx) => ctx.priced.pointsUsed > 0,
  read: (ctx) => [PointsRepository.liveLotsForUpdate(ctx.row.userId, ctx.now)],
  plan: (ctx, [lots]) => {
    try {
      ctx.spendPlan = planSpend(PointsRepository.toPointLots(rowsOf(lots)), ctx.priced.pointsUsed, ctx.now);
      return null;
    } catch (err) {
      if (err instanceof InsufficientPointsError) return FailureReason.INSUFFICIENT_POINTS;
      throw err;
    }
  },
  statements: (ctx) => PointsRepository.spendStatements(ctx.row.userId, ctx.row.id, ctx.spendPlan, ctx.now),
  verdict: (ctx, results) => {
    const { from, to } = PointsRepository.spendDecrements(ctx.spendPlan);
    return results.slice(from, to).every((r) => affected(r) === 1) ? null : FailureReason.INSUFFICIENT_POINTS;
  },
};
