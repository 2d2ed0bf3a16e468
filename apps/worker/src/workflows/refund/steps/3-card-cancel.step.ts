import { PaymentStatus } from '@bazaar/contracts';
import type { PaymentRow } from '@bazaar/db';
import type { RefundPlan } from '@bazaar/domain';
import { lastCancel, type PaymentGatewayClient } from '../../../gateway/payment-gateway.client';

export interface CardCancelResult {
  transactionKey: string | null;
  status: PaymentStatus;
}

/**
 * Step 3 — the card's partial cancel, outside any transaction (no row lock
 * is held across the network). `cancelAmount` is the cash this refund gives
 * back; `refundableAmount` is what our books say the card still holds, so
 * the gateway refuses if the books and the gateway disagree; the
 * Idempotency-Key is the refund id, so a retry after a timeout or a lost
 * answer gets the first result and never cancels twice.
 * May: call the gateway. May not: touch MySQL. A refusal (isCancelRefusal)
 * means nothing was given back; anything else unknown is thrown for a retry.
 */
export async function cancelOnCard(gateway: PaymentGatewayClient, payment: PaymentRow, refundId: string, plan: RefundPlan): Promise<CardCancelResult> {
  const paid = await gateway.cancel(
    payment.paymentKey,
    { cancelReason: `refund ${refundId}`, cancelAmount: plan.cashReturned, refundableAmount: payment.amount - payment.canceledAmount },
    refundId,
  );
  return {
    transactionKey: lastCancel(paid)?.transactionKey ?? null,
    status: paid.balanceAmount === 0 ? PaymentStatus.CANCELED : PaymentStatus.PARTIAL_CANCELED,
  };
}
