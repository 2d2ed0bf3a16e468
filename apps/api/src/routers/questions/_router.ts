import { TRPCError } from '@trpc/server';
import { questionAnswerInput, questionAskInput, questionListInput } from '@bazaar/contracts';
import { NotYourQuestionError, QuestionNotFoundError, QuestionProductNotFoundError } from '@bazaar/db';
import { customerProcedure, publicProcedure, router, sellerProcedure } from '../../trpc';

function refusal(err: unknown): never {
  if (err instanceof QuestionProductNotFoundError || err instanceof QuestionNotFoundError) throw new TRPCError({ code: 'NOT_FOUND', message: err.message });
  if (err instanceof NotYourQuestionError) throw new TRPCError({ code: 'FORBIDDEN', message: err.message });
  throw err;
}

export const questionsRouter = router({
  ask: customerProcedure
    .input(questionAskInput)
    .mutation(({ ctx, input }) => ctx.deps.questions.ask(ctx.user.userId, input.productId, input.body).catch(refusal)),

  /** Only the seller whose store sells the product; an admin is no exception (the answer speaks for the store). */
  answer: sellerProcedure
    .input(questionAnswerInput)
    .mutation(({ ctx, input }) => ctx.deps.questions.answer(ctx.user.userId, input.questionId, input.body).catch(refusal)),

  /** Public; newest first; nextCursor is the page's last id. */
  list: publicProcedure
    .input(questionListInput)
    .query(({ ctx, input }) =>
      ctx.deps.questions.list(input.productId, input.cursor === undefined ? undefined : Number(input.cursor), input.limit).catch(refusal),
    ),
});
