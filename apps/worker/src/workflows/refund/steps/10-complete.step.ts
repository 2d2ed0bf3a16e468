import type { RefundStep } from './refund-step';

/**
 * Step 10 — complete. PENDING → COMPLETED with the card's transaction key,
 * whether the coupon came back, and any clawback gap. Exactly one row or the
 * transaction rolls back (someone completed it first).
 * May: the refund's own row. May not: anything else.
 */
export const completeStep: RefundStep = {
  name: 'complete',
  applies: () => true,
  async run(ctx) {
    const done = await ctx.repos.refunds.complete(ctx.q, ctx.refund.id, {
      now: ctx.now,
      couponReturned: ctx.couponReturned,
      transactionKey: ctx.card?.transactionKey ?? null,
      clawbackGap: ctx.clawbackGap,
    });
    if (!done) throw new Error(`refund ${ctx.refund.id} was completed by someone else meanwhile`);
  },
};
