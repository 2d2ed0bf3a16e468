import { TRPCError } from '@trpc/server';
import { LIMITS, ProductStatus, Role, productCreateInput, productGetInput, productRestockInput, type ProductView } from '@bazaar/contracts';
import type { ProductEntity } from '@bazaar/db';
import type { Deps } from '../../deps';
import { badField } from '../../errors';
import { publicProcedure, router, sellerProcedure } from '../../trpc';

export const toProductView = (p: ProductEntity): ProductView => ({
  id: p.id,
  storeId: p.storeId,
  name: p.name,
  description: p.description,
  price: p.price,
  stock: p.stock,
  status: p.status,
  createdAt: p.createdAt.toISOString(),
  updatedAt: p.updatedAt.toISOString(),
});

/** A seller changes only their own stores' products (an admin any). */
async function assertOwnsStore(deps: Deps, user: { userId: number; role: Role }, storeId: number): Promise<void> {
  const store = await deps.catalog.findStore(storeId);
  if (!store) throw new TRPCError({ code: 'NOT_FOUND', message: `no store ${storeId}` });
  if (store.sellerId !== user.userId && user.role !== Role.ADMIN) throw new TRPCError({ code: 'FORBIDDEN', message: 'not your store' });
}

export const productsRouter = router({
  create: sellerProcedure.input(productCreateInput).mutation(async ({ ctx, input }) => {
    await assertOwnsStore(ctx.deps, ctx.user, input.storeId);
    const p = await ctx.deps.catalog.createProduct(input);
    await ctx.deps.pricing.put({ id: p.id, storeId: p.storeId, name: p.name, price: p.price, status: p.status });
    await ctx.deps.gate.init(p.id, p.stock);
    return toProductView(p);
  }),

  get: publicProcedure.input(productGetInput).query(async ({ ctx, input }) => {
    const p = await ctx.deps.catalog.findProduct(input.productId);
    if (!p || p.status === ProductStatus.DELETED) throw new TRPCError({ code: 'NOT_FOUND', message: `no product ${input.productId}` });
    return toProductView(p);
  }),

  restock: sellerProcedure.input(productRestockInput).mutation(async ({ ctx, input }) => {
    const p = await ctx.deps.catalog.findProduct(input.productId);
    if (!p || p.status === ProductStatus.DELETED) throw new TRPCError({ code: 'NOT_FOUND', message: `no product ${input.productId}` });
    await assertOwnsStore(ctx.deps, ctx.user, p.storeId);
    if (p.stock + input.quantity > LIMITS.maxStock) throw badField(['quantity'], `stock may not exceed ${LIMITS.maxStock}`);
    if (!(await ctx.deps.catalog.restock(p.id, input.quantity))) throw new TRPCError({ code: 'CONFLICT', message: 'the product changed meanwhile; try again' });
    await ctx.deps.gate.add(p.id, input.quantity);
    return toProductView((await ctx.deps.catalog.findProduct(p.id)) ?? p);
  }),
});
