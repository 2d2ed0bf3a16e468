import { PaymentMethod, WalletEntryKind } from '@bazaar/contracts';
import type { RefundStep } from './refund-step';

/**
 * Step 6 — wallet credit (BALANCE orders). The cash that goes back, with its
 * ledger row ORDER_REFUND keyed by the refund id (unique: a second credit
 * for the same refund is impossible).
 * May: the customer's wallet account and one ledger row. May not: a card
 * order's wallet (its cash went back to the card in step 3).
 */
export const walletStep: RefundStep = {
  name: 'wallet',
  applies: (ctx) => ctx.order.paymentMethod === PaymentMethod.BALANCE && ctx.plan.cashReturned > 0,
  async run(ctx) {
    await ctx.repos.settlement.creditWallet(ctx.q, ctx.order.userId, ctx.plan.cashReturned, WalletEntryKind.ORDER_REFUND, ctx.refund.id);
  },
};
