import { OrderSettlementRepository } from '@bazaar/db';
import { noRefusal, type OrderStep } from './order-step';

/** CARD: the payment row (CONFIRMING), written with the reservation so the charge is never asked for an order MySQL does not hold (1 statement). */
export const paymentRowStep: OrderStep = {
  name: 'payment_row',
  applies: (ctx) => ctx.order.paymentKey !== undefined,
  statements: (ctx) =>
    [OrderSettlementRepository.paymentInsert({ orderId: ctx.row.id, userId: ctx.row.userId, paymentKey: ctx.order.paymentKey!, amount: ctx.row.cashPaid })],
  verdict: noRefusal,
};
