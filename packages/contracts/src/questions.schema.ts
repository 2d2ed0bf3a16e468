import { z } from 'zod';
import { id, listInput } from './common';

const body = z.string().trim().min(1).max(2000);
/** questions.list's nextCursor: the last id of the page (clients pass it back as is). */
const cursor = z.string().regex(/^[1-9][0-9]{0,15}$/, 'not a cursor this API returned');

export const questionAskInput = z.strictObject({ productId: id, body });
export type QuestionAskInput = z.infer<typeof questionAskInput>;

/** Answering again replaces the answer. */
export const questionAnswerInput = z.strictObject({ questionId: id, body });
export type QuestionAnswerInput = z.infer<typeof questionAnswerInput>;

/** Newest first. */
export const questionListInput = z.strictObject({ productId: id, ...listInput, cursor: cursor.optional() });
export type QuestionListInput = z.infer<typeof questionListInput>;

export interface QuestionView {
  id: number;
  productId: number;
  body: string;
  /** null until the product's seller answers. */
  answer: string | null;
  answeredAt: string | null;
  createdAt: string;
}
