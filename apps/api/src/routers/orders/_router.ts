import { TRPCError } from '@trpc/server';
import { orderGetInput, orderListInput, orderPlaceInput } from '@bazaar/contracts';
import { badField } from '../../errors';
import { customerProcedure, router } from '../../trpc';

export const ordersRouter = router({
  place: customerProcedure.input(orderPlaceInput).mutation(({ ctx, input }) => ctx.deps.acceptance.place(ctx.user.userId, input, ctx.requestId, ctx.log)),

  get: customerProcedure.input(orderGetInput).query(async ({ ctx, input }) => {
    const order = await ctx.deps.orderQueries.get(ctx.user.userId, input.orderId);
    if (!order) throw new TRPCError({ code: 'NOT_FOUND', message: `no order ${input.orderId}` });
    return order;
  }),

  cancel: customerProcedure.input(orderGetInput).mutation(({ ctx, input }) => ctx.deps.cancels.cancel(ctx.user.userId, input.orderId, ctx.requestId, ctx.log)),

  list: customerProcedure.input(orderListInput).query(({ ctx, input }) => {
    if (input.cursor !== undefined && !/^[0-9A-Z]{26}$/.test(input.cursor)) throw badField(['cursor'], 'not a cursor this API returned');
    return ctx.deps.orderQueries.list(ctx.user.userId, input.cursor, input.limit);
  }),
});
