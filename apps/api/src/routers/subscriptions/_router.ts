import { subscriptionCreateInput, subscriptionIdInput, subscriptionListInput, subscriptionRegisterCardInput } from '@bazaar/contracts';
import { customerProcedure, router } from '../../trpc';

/** subscriptions.*: the customer's own (another customer's → NOT_FOUND); registerCard: a card for CARD subscriptions. */
export const subscriptionsRouter = router({
  /** The customerKey to open the gateway's card registration window with; its authKey then goes to registerCard. */
  cardCustomerKey: customerProcedure.query(({ ctx }) => ctx.deps.subscriptions.cardCustomerKey(ctx.user.userId)),
  registerCard: customerProcedure
    .input(subscriptionRegisterCardInput)
    .mutation(({ ctx, input }) => ctx.deps.subscriptions.registerCard(ctx.user.userId, input.authKey, ctx.log)),
  create: customerProcedure.input(subscriptionCreateInput).mutation(({ ctx, input }) => ctx.deps.subscriptions.create(ctx.user.userId, input)),
  list: customerProcedure.input(subscriptionListInput).query(({ ctx, input }) => ctx.deps.subscriptions.list(ctx.user.userId, input.cursor, input.limit)),
  get: customerProcedure.input(subscriptionIdInput).query(({ ctx, input }) => ctx.deps.subscriptions.get(ctx.user.userId, input.subscriptionId)),
  pause: customerProcedure.input(subscriptionIdInput).mutation(({ ctx, input }) => ctx.deps.subscriptions.pause(ctx.user.userId, input.subscriptionId)),
  resume: customerProcedure.input(subscriptionIdInput).mutation(({ ctx, input }) => ctx.deps.subscriptions.resume(ctx.user.userId, input.subscriptionId)),
  cancel: customerProcedure
    .input(subscriptionIdInput)
    .mutation(({ ctx, input }) => ctx.deps.subscriptions.cancel(ctx.user.userId, input.subscriptionId, ctx.log)),
});
