import { waitingRoomCreateInput, waitingRoomEventInput } from '@bazaar/contracts';
import { customerProcedure, publicProcedure, router, sellerProcedure } from '../../trpc';

/** Glue: the line, the tokens and the ties to the gate live in WaitingRoomService (and the scheduler's admission loop). */
export const waitingRoomRouter = router({
  /** → {eventId, event}: by the products' seller or an admin. */
  createEvent: sellerProcedure.input(waitingRoomCreateInput).mutation(({ ctx, input }) => ctx.deps.waitingRoom.createEvent(ctx.user, input, ctx.log)),
  /** Public: the event's window, rate, state and counts. */
  get: publicProcedure.input(waitingRoomEventInput).query(({ ctx, input }) => ctx.deps.waitingRoom.get(input.eventId)),
  enter: customerProcedure.input(waitingRoomEventInput).mutation(({ ctx, input }) => ctx.deps.waitingRoom.enter(ctx.user.userId, input.eventId)),
  status: customerProcedure.input(waitingRoomEventInput).query(({ ctx, input }) => ctx.deps.waitingRoom.status(ctx.user.userId, input.eventId)),
});
