import { TRPCError } from '@trpc/server';
import { cartAddInput, cartRemoveInput, cartSetQuantityInput } from '@bazaar/contracts';
import { CartLineLimitError, CartLineNotFoundError, CartProductNotFoundError } from '@bazaar/db';
import { badField } from '../../errors';
import { customerProcedure, router } from '../../trpc';

function refusal(err: unknown): never {
  if (err instanceof CartProductNotFoundError || err instanceof CartLineNotFoundError) throw new TRPCError({ code: 'NOT_FOUND', message: err.message });
  if (err instanceof CartLineLimitError) throw badField(['quantity'], err.message);
  throw err;
}

/**
 * Every procedure acts on the caller's own cart (ctx.user.userId): no input
 * names a cart. Each change answers with the whole cart as it is now.
 */
export const cartRouter = router({
  list: customerProcedure.query(({ ctx }) => ctx.deps.carts.view(ctx.user.userId)),

  add: customerProcedure.input(cartAddInput).mutation(async ({ ctx, input }) => {
    const cart = ctx.deps.carts;
    await cart.add(ctx.user.userId, input.productId, input.quantity).catch(refusal);
    return cart.view(ctx.user.userId);
  }),

  setQuantity: customerProcedure.input(cartSetQuantityInput).mutation(async ({ ctx, input }) => {
    const cart = ctx.deps.carts;
    await cart.setQuantity(ctx.user.userId, input.productId, input.quantity).catch(refusal);
    return cart.view(ctx.user.userId);
  }),

  remove: customerProcedure.input(cartRemoveInput).mutation(async ({ ctx, input }) => {
    const cart = ctx.deps.carts;
    await cart.remove(ctx.user.userId, input.productId).catch(refusal);
    return cart.view(ctx.user.userId);
  }),

  clear: customerProcedure.mutation(async ({ ctx }) => {
    const cart = ctx.deps.carts;
    await cart.clear(ctx.user.userId);
    return cart.view(ctx.user.userId);
  }),
});
