import { BillingKeysRepository } from '@bazaar/db';
import { noRefusal, type OrderStep } from './order-step';

/**
 * A billing charge's PAID commit: the payment row takes the paymentKey the gateway gave the charge, in place
 * of the reservation's placeholder (1 statement). The commit's context carries the charged order, its
 * paymentKey set from the gateway's answer.
 */
export const billingPaymentKeyStep: OrderStep = {
  name: 'billing_payment_key',
  applies: (ctx) => ctx.order.billingKey !== undefined && ctx.order.paymentKey !== undefined,
  statements: (ctx) => [BillingKeysRepository.paymentKeyStmt(ctx.row.id, ctx.order.paymentKey!)],
  verdict: noRefusal,
};
