import { TRPCError } from '@trpc/server';
import { Role, pointsGrantInput, pointsHistoryInput, type PointMovementView } from '@bazaar/contracts';
import type { PointMovementRow } from '@bazaar/db';
import { newId } from '@bazaar/platform';
import { badField } from '../../errors';
import { adminProcedure, customerProcedure, router } from '../../trpc';

const toView = (m: PointMovementRow): PointMovementView => ({
  id: m.id,
  kind: m.kind,
  amount: m.amount,
  lotId: m.lotId,
  ref: m.ref,
  reason: m.reason,
  createdAt: m.createdAt.toISOString(),
});

export const pointsRouter = router({
  /** The live balance: lots not yet expired (an expired lot never counts, whether or not the scheduler has written its expiry). */
  balance: customerProcedure.query(async ({ ctx }) => ({ balance: await ctx.deps.points.balance(ctx.user.userId, new Date()) })),

  /** Every movement of the caller's points, newest first. */
  history: customerProcedure.input(pointsHistoryInput).query(async ({ ctx, input }) => {
    if (input.cursor !== undefined && !/^[1-9][0-9]{0,15}$/.test(input.cursor)) throw badField(['cursor'], 'not a cursor this API returned');
    const page = await ctx.deps.points.history(ctx.user.userId, input.cursor === undefined ? undefined : Number(input.cursor), input.limit);
    return { items: page.items.map(toView), nextCursor: page.nextCursor };
  }),

  /** An admin grants points to a customer: a GRANT lot valid until expiresAt; the movement names the admin and the reason. */
  grant: adminProcedure.input(pointsGrantInput).mutation(async ({ ctx, input }) => {
    const user = await ctx.deps.users.findById(input.userId);
    if (!user || user.role !== Role.CUSTOMER) throw new TRPCError({ code: 'NOT_FOUND', message: `no customer ${input.userId}` });
    const lotId = await ctx.deps.points.grant({
      grantId: newId(),
      adminId: ctx.user.userId,
      userId: input.userId,
      amount: input.amount,
      expiresAt: new Date(input.expiresAt),
      reason: input.reason,
      now: new Date(),
    });
    ctx.deps.metrics.points.inc({ movement: 'grant' }, input.amount);
    ctx.log.info({ lotId, customer: input.userId, amount: input.amount }, 'points granted');
    return { lotId };
  }),
});
