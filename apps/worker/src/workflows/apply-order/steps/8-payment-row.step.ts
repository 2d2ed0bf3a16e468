import { OrderSettlementRepository } from '@bazaar/db';
import type { AcceptedOrder } from '@bazaar/queue';
import { noRefusal, type OrderStep } from './order-step';

/** A card order: confirmed from a paymentKey, or charged to a billing key (a subscription's cycle). Both keep a payment row. */
export const hasPaymentRow = (order: AcceptedOrder): boolean => order.paymentKey !== undefined || order.billingKey !== undefined;

/**
 * What a billing charge's payment row holds as payment_key until the gateway names the payment (the column is
 * unique and not null): `billing-<orderId>`. The PAID commit replaces it with the gateway's paymentKey
 * (10-billing-payment-key.step.ts), so refunds and cancels only ever see the real one.
 */
export const pendingBillingPaymentKey = (orderId: string) => `billing-${orderId}`;

/** CARD: the payment row (CONFIRMING), written with the reservation so the charge is never asked for an order MySQL does not hold (1 statement). */
export const paymentRowStep: OrderStep = {
  name: 'payment_row',
  applies: (ctx) => hasPaymentRow(ctx.order),
  statements: (ctx) => [
    OrderSettlementRepository.paymentInsert({
      orderId: ctx.row.id,
      userId: ctx.row.userId,
      paymentKey: ctx.order.paymentKey ?? pendingBillingPaymentKey(ctx.row.id),
      amount: ctx.row.cashPaid,
    }),
  ],
  verdict: noRefusal,
};
