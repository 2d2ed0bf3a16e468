import { OrderSettlementRepository } from '@bazaar/db';
import { byProductId } from '../../order-rows';
import { noRefusal, type OrderStep } from './order-step';

/**
 * An order from the cart: its quantities leave the cart in the transaction
 * that makes it PAID (2 statements; after the stock rows, the order cart.add
 * locks them in). A refusal rolls them back with everything else.
 */
export const cartLinesStep: OrderStep = {
  name: 'cart_lines',
  applies: (ctx) => ctx.order.fromCart === true,
  statements: (ctx) => OrderSettlementRepository.cartTake(ctx.row.userId, byProductId(ctx.lines)),
  verdict: noRefusal,
};
