import { TRPCError } from '@trpc/server';
import { walletChargeInput, walletHistoryInput } from '@bazaar/contracts';
import { IdempotencyConflictError, WalletLimitError } from '@bazaar/db';
import { badField } from '../../errors';
import { customerProcedure, router } from '../../trpc';

export const walletRouter = router({
  balance: customerProcedure.query(async ({ ctx }) => ({ balance: await ctx.deps.wallet.balance(ctx.user.userId) })),

  /** An idempotent top-up (a real card charge comes with the payment gateway). */
  charge: customerProcedure.input(walletChargeInput).mutation(async ({ ctx, input }) => {
    try {
      const { entry, replayed } = await ctx.deps.wallet.charge(ctx.user.userId, input.amount, input.idempotencyKey);
      ctx.deps.metrics.walletCharges.inc({ outcome: replayed ? 'replayed' : 'charged' });
      return { entryId: entry.id, amount: entry.amount, balanceAfter: entry.balanceAfter };
    } catch (err) {
      if (err instanceof IdempotencyConflictError) throw new TRPCError({ code: 'CONFLICT', message: err.message });
      if (err instanceof WalletLimitError) throw badField(['amount'], err.message);
      throw err;
    }
  }),

  history: customerProcedure.input(walletHistoryInput).query(({ ctx, input }) => {
    if (input.cursor !== undefined && !/^[1-9][0-9]{0,15}$/.test(input.cursor)) throw badField(['cursor'], 'not a cursor this API returned');
    const cursor = input.cursor === undefined ? undefined : Number(input.cursor);
    return ctx.deps.wallet.history(ctx.user.userId, cursor, input.limit);
  }),
});
