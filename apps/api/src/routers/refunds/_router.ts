import { TRPCError } from '@trpc/server';
import { refundGetInput, refundListInput, refundRequestInput } from '@bazaar/contracts';
import { protectedProcedure, router } from '../../trpc';

/**
 * Refunds: requested by the order's customer, by the seller of the lines
 * named (their own store's lines only), or by an admin; applied by a worker.
 * Reads show a seller only their own stores' lines.
 */
export const refundsRouter = router({
  request: protectedProcedure.input(refundRequestInput).mutation(({ ctx, input }) => ctx.deps.refunds.request(ctx.user, input, ctx.requestId, ctx.log)),

  get: protectedProcedure.input(refundGetInput).query(async ({ ctx, input }) => {
    const view = await ctx.deps.refunds.get(ctx.user, input.refundId);
    if (!view) throw new TRPCError({ code: 'NOT_FOUND', message: `no refund ${input.refundId}` });
    return view;
  }),

  list: protectedProcedure.input(refundListInput).query(async ({ ctx, input }) => {
    const views = await ctx.deps.refunds.list(ctx.user, input.orderId);
    if (!views) throw new TRPCError({ code: 'NOT_FOUND', message: `no order ${input.orderId}` });
    return { items: views };
  }),
});
