import { OrderSettlementRepository } from '@bazaar/db';
import { noRefusal, type OrderStep } from './order-step';

/**
 * The order row and its lines (2 statements), in the opening round trip. The
 * order id is the primary key: a second run of the same order fails here
 * with a duplicate key, and the runner answers with what the first run
 * recorded. Never refused otherwise.
 */
export const orderRowStep: OrderStep = {
  name: 'order_row',
  applies: () => true,
  statements: (ctx) => [OrderSettlementRepository.orderInsert(ctx.row), OrderSettlementRepository.itemsInsert(ctx.row.id, ctx.lines)],
  verdict: noRefusal,
};
