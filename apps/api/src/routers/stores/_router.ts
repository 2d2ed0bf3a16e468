import { TRPCError } from '@trpc/server';
import { storeCloseInput, storeCreateInput, storeGetInput, storeOrdersInput, storePickupsInput, storeUpdateInput } from '@bazaar/contracts';
import { toStoreView } from '../../services/fulfillment.service';
import { publicProcedure, router, sellerProcedure } from '../../trpc';

export const storesRouter = router({
  create: sellerProcedure
    .input(storeCreateInput)
    .mutation(async ({ ctx, input }) => toStoreView(await ctx.deps.catalog.createStore(ctx.user.userId, input.name))),

  get: publicProcedure.input(storeGetInput).query(async ({ ctx, input }) => {
    const store = await ctx.deps.catalog.findStore(input.storeId);
    if (!store) throw new TRPCError({ code: 'NOT_FOUND', message: `no store ${input.storeId}` });
    return toStoreView(store);
  }),

  mine: sellerProcedure.query(async ({ ctx }) => (await ctx.deps.catalog.storesOfSeller(ctx.user.userId)).map(toStoreView)),

  /** Name, weekly opening hours, time zone and pickup lead time (the store's seller). */
  update: sellerProcedure.input(storeUpdateInput).mutation(({ ctx, input }) => ctx.deps.fulfillment.updateStore(ctx.user, input)),

  /** Closes the store for good: nothing of it is on sale any more, its subscriptions pause. */
  close: sellerProcedure.input(storeCloseInput).mutation(({ ctx, input }) => ctx.deps.fulfillment.closeStore(ctx.user, input.storeId, ctx.log)),

  /** The seller's inbox: each order's part that belongs to this store, newest first. */
  orders: sellerProcedure.input(storeOrdersInput).query(({ ctx, input }) => ctx.deps.fulfillment.inbox(ctx.user, input)),

  /** The store's pickups of a day (today in its zone by default), in pickup time order. */
  pickups: sellerProcedure.input(storePickupsInput).query(({ ctx, input }) => ctx.deps.fulfillment.pickups(ctx.user, input)),
});
