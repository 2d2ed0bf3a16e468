import { TRPCError } from '@trpc/server';
import { storeCreateInput, storeGetInput, type StoreView } from '@bazaar/contracts';
import type { StoreEntity } from '@bazaar/db';
import { publicProcedure, router, sellerProcedure } from '../../trpc';

export const toStoreView = (s: StoreEntity): StoreView => ({ id: s.id, sellerId: s.sellerId, name: s.name, createdAt: s.createdAt.toISOString() });

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
});
