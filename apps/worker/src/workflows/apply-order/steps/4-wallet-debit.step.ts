import { FailureReason, PaymentMethod } from '@bazaar/contracts';
import { OrderSettlementRepository, affected } from '@bazaar/db';
import type { OrderStep } from './order-step';

/** BALANCE orders with cash to pay: the debit (never below 0) and its ledger row (2 statements). */
export const walletDebitStep: OrderStep = {
  name: 'wallet_debit',
  applies: (ctx) => ctx.row.paymentMethod === PaymentMethod.BALANCE && ctx.row.cashPaid > 0,
  statements: (ctx) => OrderSettlementRepository.walletDebit(ctx.row.userId, ctx.row.id, ctx.row.cashPaid),
  verdict: (_ctx, [debit]) => (affected(debit) === 1 ? null : FailureReason.INSUFFICIENT_BALANCE),
};
