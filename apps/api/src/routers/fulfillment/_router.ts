import { fulfillmentUpdateInput } from '@bazaar/contracts';
import { router, sellerProcedure } from '../../trpc';

export const fulfillmentRouter = router({
  /** Moves the store's part of an order one step (the store's seller, or an admin). */
  update: sellerProcedure.input(fulfillmentUpdateInput).mutation(({ ctx, input }) => ctx.deps.fulfillment.update(ctx.user, input, ctx.log)),
});
