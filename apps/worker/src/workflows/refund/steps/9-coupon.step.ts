import { OrderStatus } from '@bazaar/contracts';
import type { RefundStep } from './refund-step';

/**
 * Step 9 — coupon. When the whole order is refunded (or cancelled), its
 * coupon goes back to the customer, only while the coupon's window is still
 * open. A partial refund never gives it back (the refunded lines' discount
 * share is simply not paid out: money.md §4).
 * May: the customer's claim of the order's coupon. May not: the coupon itself.
 */
export const couponStep: RefundStep = {
  name: 'coupon',
  applies: (ctx) => ctx.order.couponId !== null && ctx.orderStatus !== OrderStatus.PARTIALLY_REFUNDED,
  async run(ctx) {
    ctx.couponReturned = await ctx.repos.settlement.freeCoupon(ctx.q, ctx.order.orderId, ctx.now);
  },
};
