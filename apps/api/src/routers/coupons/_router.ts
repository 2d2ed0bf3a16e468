import { couponClaimInput, couponCreateInput, couponListInput, couponMineInput } from '@bazaar/contracts';
import { customerProcedure, publicProcedure, router, sellerProcedure } from '../../trpc';

/** Glue: the rules (ownership, first-come claims, states) live in CouponService. */
export const couponsRouter = router({
  /** → {couponId, coupon}: the contract's couponId, and the coupon as coupons.list shows it. */
  create: sellerProcedure.input(couponCreateInput).mutation(async ({ ctx, input }) => {
    const coupon = await ctx.deps.coupons.create(ctx.user, input, ctx.log);
    return { couponId: coupon.id, coupon };
  }),
  claim: customerProcedure.input(couponClaimInput).mutation(({ ctx, input }) => ctx.deps.coupons.claim(ctx.user.userId, input.couponId, ctx.log)),
  list: publicProcedure.input(couponListInput).query(({ ctx, input }) => ctx.deps.coupons.list(input)),
  mine: customerProcedure.input(couponMineInput).query(({ ctx, input }) => ctx.deps.coupons.mine(ctx.user.userId, input)),
});
