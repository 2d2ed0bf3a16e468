import { PointsRepository } from '@bazaar/db';
import { REWARD_VALID_DAYS, expiryAfter } from '@bazaar/domain';
import { noRefusal, type OrderStep } from './order-step';

/**
 * The reward lot (money.md §2: `earned` of the cash paid, valid 365 days),
 * created by the transaction that makes the order PAID: the lot and its EARN
 * movement (2 statements), unique per order.
 */
export const rewardLotStep: OrderStep = {
  name: 'reward_lot',
  applies: (ctx) => ctx.priced.earned > 0,
  statements: (ctx) => PointsRepository.rewardLotStatements(ctx.row.userId, ctx.row.id, ctx.priced.earned, expiryAfter(ctx.now, REWARD_VALID_DAYS), ctx.now),
  verdict: noRefusal,
};
