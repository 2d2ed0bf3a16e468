import { FulfillmentRepository } from '@bazaar/db';
import { noRefusal, type OrderStep } from './order-step';

/**
 * Each store of a paid order gets its part, PREPARING (1 multi-row statement, in the transaction that makes
 * the order PAID; a refusal rolls it back with everything else, so a FAILED order has no parts). The seller's
 * inbox and fulfillment read and move these rows.
 */
export const storePartsStep: OrderStep = {
  name: 'store_parts',
  applies: () => true,
  statements: (ctx) => [
    FulfillmentRepository.partsInsert({
      orderId: ctx.row.id,
      userId: ctx.row.userId,
      fulfillment: ctx.order.fulfillment,
      storeIds: ctx.lines.map((l) => l.storeId),
    }),
  ],
  verdict: noRefusal,
};
