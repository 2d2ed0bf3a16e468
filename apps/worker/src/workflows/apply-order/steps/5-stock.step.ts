import { FailureReason } from '@bazaar/contracts';
import { OrderSettlementRepository, affected } from '@bazaar/db';
import { byProductId } from '../../order-rows';
import type { OrderStep } from './order-step';

/**
 * Conditional stock decrements, one per line, in product id order (every
 * transaction that touches several stock rows locks them in that order).
 * Sent after the money steps, so the hot stock rows are held for the
 * shortest time.
 */
export const stockStep: OrderStep = {
  name: 'stock',
  applies: () => true,
  statements: (ctx) => OrderSettlementRepository.stockTake(byProductId(ctx.lines)),
  verdict: (_ctx, results) => (results.every((r) => affected(r) === 1) ? null : FailureReason.OUT_OF_STOCK),
};
