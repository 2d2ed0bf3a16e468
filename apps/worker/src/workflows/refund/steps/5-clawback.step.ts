import type { RefundStep } from './refund-step';

/**
 * Step 5 — reward clawback. Takes the plan's share from the order's reward
 * lot (CLAWBACK, unique per refund). The part the customer had already spent
 * was priced out of this refund's cash by the price step. Should the lot
 * hold less than the plan says (only if the customer spent it between a
 * crash after the card cancel and this retry), the gap is recorded as waived
 * — money already sent back is never taken again.
 * May: the order's reward lot and its movement. May not: any other lot.
 */
export const clawbackStep: RefundStep = {
  name: 'clawback',
  applies: (ctx) => ctx.plan.clawbackFromLot > 0,
  async run(ctx) {
    const { taken } = await ctx.repos.points.clawbackReward(ctx.q, {
      userId: ctx.order.userId,
      orderId: ctx.order.orderId,
      amount: ctx.plan.clawbackFromLot,
      ref: ctx.refund.id,
      now: ctx.now,
    });
    ctx.clawbackGap = ctx.plan.clawbackFromLot - taken;
  },
};
