import { FailureReason } from '@bazaar/contracts';
import { OrderSettlementRepository, affected } from '@bazaar/db';
import type { OrderStep } from './order-step';

/**
 * The customer's claim of the coupon becomes this order's (1 statement). The
 * api reserved it in Redis at accept; MySQL guards on its own: a claim
 * already used by another order, or one that was never made, changes no row,
 * and the order fails with COUPON_UNAVAILABLE.
 */
export const couponUseStep: OrderStep = {
  name: 'coupon_use',
  applies: (ctx) => ctx.order.coupon !== undefined,
  statements: (ctx) => [OrderSettlementRepository.couponUse(ctx.row.userId, ctx.order.coupon!.couponId, ctx.row.id, ctx.now)],
  verdict: (_ctx, [use]) => (affected(use) === 1 ? null : FailureReason.COUPON_UNAVAILABLE),
};
