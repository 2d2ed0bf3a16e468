import { TRPCError } from '@trpc/server';
import {
  LIMITS,
  ProductStatus,
  Role,
  productCreateInput,
  productGetInput,
  productRemoveInput,
  productRestockInput,
  productUpdateInput,
} from '@bazaar/contracts';
import type { Deps } from '../../deps';
import { toProductView } from '../../views/product.view';
import { badField } from '../../errors';
import { publicProcedure, router, sellerProcedure } from '../../trpc';
import { listProducts } from './list.handler';
import { popularProducts } from './popular.handler';

/** A seller changes only their own stores' products (an admin any). */
async function assertOwnsStore(deps: Deps, user: { userId: number; role: Role }, storeId: number): Promise<void> {
  const store = await deps.catalog.findStore(storeId);
  if (!store) throw new TRPCError({ code: 'NOT_FOUND', message: `no store ${storeId}` });
  if (store.sellerId !== user.userId && user.role !== Role.ADMIN) throw new TRPCError({ code: 'FORBIDDEN', message: 'not your store' });
}

async function ownedLiveProduct(deps: Deps, user: { userId: number; role: Role }, productId: number) {
  const p = await deps.catalog.findProduct(productId);
  if (!p || p.status === ProductStatus.DELETED) throw new TRPCError({ code: 'NOT_FOUND', message: `no product ${productId}` });
  await assertOwnsStore(deps, user, p.storeId);
  return p;
}

export const productsRouter = router({
  create: sellerProcedure.input(productCreateInput).mutation(async ({ ctx, input }) => {
    await assertOwnsStore(ctx.deps, ctx.user, input.storeId);
    const p = await ctx.deps.catalogChanges.create(input);
    return toProductView(p);
  }),

  /** Served from the product cache; the stock shown is what is still available to order. */
  get: publicProcedure.input(productGetInput).query(async ({ ctx, input }) => {
    const view = await ctx.deps.productDetails.get(input.productId);
    if (!view) throw new TRPCError({ code: 'NOT_FOUND', message: `no product ${input.productId}` });
    return view;
  }),

  /** Listing and search (list.handler.ts). */
  list: listProducts,

  update: sellerProcedure.input(productUpdateInput).mutation(async ({ ctx, input }) => {
    const p = await ownedLiveProduct(ctx.deps, ctx.user, input.productId);
    const { productId: _id, ...fields } = input;
    const updated = await ctx.deps.catalogChanges.update(p.id, fields);
    if (!updated) throw new TRPCError({ code: 'NOT_FOUND', message: `no product ${input.productId}` });
    return toProductView(updated);
  }),

  remove: sellerProcedure.input(productRemoveInput).mutation(async ({ ctx, input }) => {
    const p = await ownedLiveProduct(ctx.deps, ctx.user, input.productId);
    if (!(await ctx.deps.catalogChanges.remove(p.id))) throw new TRPCError({ code: 'NOT_FOUND', message: `no product ${input.productId}` });
    // Subscriptions holding it pause (the customer sees why) rather than fail every cycle.
    await ctx.deps.subscriptions.pauseHolding({ productIds: [p.id] }, 'PRODUCT_UNAVAILABLE', `product ${p.id} was removed from sale`);
    return { productId: p.id, status: ProductStatus.DELETED };
  }),

  restock: sellerProcedure.input(productRestockInput).mutation(async ({ ctx, input }) => {
    const p = await ownedLiveProduct(ctx.deps, ctx.user, input.productId);
    if (p.stock + input.quantity > LIMITS.maxStock) throw badField(['quantity'], `stock may not exceed ${LIMITS.maxStock}`);
    const restocked = await ctx.deps.catalogChanges.restock(p.id, input.quantity);
    if (!restocked) throw new TRPCError({ code: 'CONFLICT', message: 'the product changed meanwhile; try again' });
    return toProductView(restocked);
  }),

  /** Top 5 by units sold in the last three days (popular.handler.ts). */
  popular: popularProducts,
});
