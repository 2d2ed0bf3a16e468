import { REISSUE_VALID_DAYS, expiryAfter } from '@bazaar/domain';
import type { RefundStep } from './refund-step';

/**
 * Step 4 — points back. The plan's points undo the spend's mapping rows from
 * the last consumed lot backwards: a lot still live gets them back (RESTORE),
 * an expired lot's part is issued as one new lot valid 30 days (REISSUE).
 * May: the order's spend mapping rows and the customer's lots, with their
 * movements (unique per lot, kind and refund id). May not: any other lot.
 */
export const pointsStep: RefundStep = {
  name: 'points',
  applies: (ctx) => ctx.plan.points > 0,
  async run(ctx) {
    const back = await ctx.repos.points.giveBackSpend(ctx.q, {
      userId: ctx.order.userId,
      orderId: ctx.order.orderId,
      amount: ctx.plan.points,
      ref: ctx.refund.id,
      now: ctx.now,
      reissueExpiresAt: expiryAfter(ctx.now, REISSUE_VALID_DAYS),
    });
    ctx.pointsRestored = back.restored;
    ctx.pointsReissued = back.reissued;
  },
};
