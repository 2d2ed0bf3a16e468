import { TRPCError, tracked } from '@trpc/server';
import { orderGetInput, orderListInput, orderPlaceInput, type OrderView } from '@bazaar/contracts';
import { badField } from '../../errors';
import { customerProcedure, router } from '../../trpc';

/**
 * An order view's event id: its status, the units refunded so far when any were, and each store's fulfillment
 * status once paid (PAID, PARTIALLY_REFUNDED-3, PAID.7-SHIPPED.9-PREPARING, …).
 */
function viewEventId(view: OrderView): string {
  const refunded = view.items.reduce((n, i) => n + i.refundedQuantity, 0);
  const base = refunded > 0 ? `${view.status}-${refunded}` : view.status;
  return view.stores.length > 0 ? `${base}.${view.stores.map((s) => `${s.storeId}-${s.status}`).join('.')}` : base;
}

export const ordersRouter = router({
  place: customerProcedure.input(orderPlaceInput).mutation(({ ctx, input }) => ctx.deps.acceptance.place(ctx.user.userId, input, ctx.requestId, ctx.log)),

  get: customerProcedure.input(orderGetInput).query(async ({ ctx, input }) => {
    const order = await ctx.deps.orderQueries.get(ctx.user.userId, input.orderId);
    if (!order) throw new TRPCError({ code: 'NOT_FOUND', message: `no order ${input.orderId}` });
    return order;
  }),

  cancel: customerProcedure.input(orderGetInput).mutation(({ ctx, input }) => ctx.deps.cancels.cancel(ctx.user.userId, input.orderId, ctx.requestId, ctx.log)),

  /**
   * The order as it changes: the current view first, then a new view on every
   * status change (PENDING → PAID or FAILED, later CANCELLED, refunds), over
   * SSE, and on every move of a store's part (fulfillment.update). Each event's id lets a reconnecting client resume.
   */
  onStatus: customerProcedure.input(orderGetInput).subscription(async function* ({ ctx, input, signal }) {
    const events = await ctx.deps.orderEvents.listen(ctx.user.userId, signal);
    try {
      let view = await ctx.deps.orderQueries.get(ctx.user.userId, input.orderId);
      if (!view) throw new TRPCError({ code: 'NOT_FOUND', message: `no order ${input.orderId}` });
      let id = viewEventId(view);
      yield tracked(id, view);
      for await (const e of events) {
        // A refund may leave the status as it was (PARTIALLY_REFUNDED again): the view's units tell.
        if (e.orderId !== input.orderId) continue;
        view = (await ctx.deps.orderQueries.get(ctx.user.userId, input.orderId)) ?? view;
        if (viewEventId(view) === id) continue;
        id = viewEventId(view);
        yield tracked(id, view);
      }
    } finally {
      await events.return?.();
    }
  }),

  list: customerProcedure.input(orderListInput).query(({ ctx, input }) => {
    if (input.cursor !== undefined && !/^[0-9A-Z]{26}$/.test(input.cursor)) throw badField(['cursor'], 'not a cursor this API returned');
    return ctx.deps.orderQueries.list(ctx.user.userId, input.cursor, input.limit);
  }),
});
