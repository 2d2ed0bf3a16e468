import { chatHistoryInput, chatMarkReadInput, chatOnMessageInput, chatOpenInput, chatSendInput, chatThreadsInput } from '@bazaar/contracts';
import { customerProcedure, protectedProcedure, router } from '../../trpc';

/** chat.*: a customer opens a thread with a store; the thread's customer and the store's seller read and write it (anyone else → NOT_FOUND). */
export const chatRouter = router({
  open: customerProcedure.input(chatOpenInput).mutation(({ ctx, input }) => ctx.deps.chat.open(ctx.user, input.storeId)),
  send: protectedProcedure.input(chatSendInput).mutation(({ ctx, input }) => ctx.deps.chat.send(ctx.user, input, ctx.log)),
  history: protectedProcedure.input(chatHistoryInput).query(({ ctx, input }) => ctx.deps.chat.history(ctx.user, input)),
  threads: protectedProcedure.input(chatThreadsInput).query(({ ctx, input }) => ctx.deps.chat.threads(ctx.user, input.cursor, input.limit)),
  markRead: protectedProcedure.input(chatMarkReadInput).mutation(({ ctx, input }) => ctx.deps.chat.markRead(ctx.user, input.threadId, input.messageId)),
  /** Over SSE: each message under its id as the event id; reconnecting with lastEventId resumes after it. */
  onMessage: protectedProcedure.input(chatOnMessageInput).subscription(({ ctx, input, signal }) => ctx.deps.chat.onMessage(ctx.user, input, signal)),
});
