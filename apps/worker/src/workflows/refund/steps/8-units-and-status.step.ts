import { OrderStatus, PaymentMethod, RefundKind } from '@bazaar/contracts';
import type { RefundStep } from './refund-step';

/**
 * Step 8 — units, order status, payment row. The lines' units move from
 * pending to refunded (each line guarded: still where the plan priced it),
 * the order's cash_refunded grows; the order becomes PARTIALLY_REFUNDED, or
 * REFUNDED when no unit is left (CANCELLED for orders.cancel's refund),
 * through the state table; a card payment row records the cancel.
 * May: the order row, its lines' refund counters, its payment row. May not: other orders.
 */
export const unitsAndStatusStep: RefundStep = {
  name: 'units_status',
  applies: () => true,
  async run(ctx) {
    const { q, repos, refund, order, plan } = ctx;
    await repos.refunds.applyUnits(q, refund.id, order.orderId, plan);
    const left = await repos.refunds.unitsLeft(q, order.orderId);
    const to = left > 0 ? OrderStatus.PARTIALLY_REFUNDED : refund.kind === RefundKind.CANCEL ? OrderStatus.CANCELLED : OrderStatus.REFUNDED;
    if (!(await repos.settlement.transition(q, order.orderId, order.status, to))) {
      throw new Error(`refund ${refund.id}: order ${order.orderId} moved from ${order.status} under its lock`);
    }
    ctx.orderStatus = to;
    if (order.paymentMethod === PaymentMethod.CARD && ctx.card) {
      const payment = await repos.settlement.payment(q, order.orderId);
      if (!payment) throw new Error(`card order ${order.orderId} has no payment row`);
      await repos.settlement.setPayment(q, order.orderId, ctx.card.status, payment.canceledAmount + plan.cashReturned);
    }
  },
};
