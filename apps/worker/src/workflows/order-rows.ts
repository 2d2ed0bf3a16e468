import { type OrderStatus, type FailureReason } from '@bazaar/contracts';
import type { SettlementLine, SettlementOrder } from '@bazaar/db';
import { priceOrder } from '@bazaar/domain';
import type { AcceptedOrder } from '@bazaar/queue';
import type { GatewayPayment, PaymentGatewayClient } from '../gateway/payment-gateway.client';

export interface ApplyOutcome {
  status: OrderStatus;
  reason: FailureReason | null;
  /** false when the order had already been settled (a job that ran again). */
  appliedNow: boolean;
}

/**
 * The MySQL rows of an accepted order, priced by the money rules (§2).
 * Points and rewards arrive with the points ledger; until then every won is
 * cash and nothing is earned.
 */
export function settlementRows(
  order: AcceptedOrder,
  status: OrderStatus,
  reason: FailureReason | null = null,
): { row: SettlementOrder; lines: SettlementLine[] } {
  const priced = priceOrder({ lines: order.lines, points: 0, pointBalance: 0, rewardBps: 0 });
  if (!priced.ok) throw new Error(`order ${order.orderId} cannot be priced: ${priced.reason}`);
  const lines: SettlementLine[] = order.lines.map((l, i) => {
    const p = priced.lines[i]!;
    return { productId: l.productId, storeId: l.storeId, productName: l.name, unitPrice: l.unitPrice, quantity: l.quantity, ...p };
  });
  return {
    lines,
    row: {
      id: order.orderId,
      userId: order.userId,
      status,
      failureReason: reason,
      paymentMethod: order.paymentMethod,
      fulfillment: order.fulfillment,
      itemsTotal: priced.itemsTotal,
      discountTotal: priced.discount,
      pointsUsed: priced.pointsUsed,
      cashPaid: priced.cashPaid,
      pointsEarned: priced.earned,
      idempotencyKey: order.idempotencyKey,
      requestId: order.requestId,
      acceptedAt: new Date(order.acceptedAt),
    },
  };
}

/** Stock rows are always locked in product id order, in every transaction that touches several. */
export const byProductId = <T extends { productId: number }>(lines: T[]): T[] => [...lines].sort((a, b) => a.productId - b.productId);

/** The idempotency key of every full cancellation of an order's card payment (void, customer cancel, expiry). */
export const fullCancelKey = (orderId: string) => `cancel-${orderId}`;

/**
 * Gives back whatever the gateway still holds for the order (looked up by
 * order id, cancelled under the order's one full-cancel key, so every path
 * that voids the same order cancels it once). Returns what the gateway knew.
 */
export async function voidOpenCharge(gateway: PaymentGatewayClient, orderId: string, cancelReason: string): Promise<GatewayPayment | null> {
  const charged = await gateway.findByOrderId(orderId);
  if (charged && charged.balanceAmount > 0) await gateway.cancel(charged.paymentKey, { cancelReason }, fullCancelKey(orderId));
  return charged;
}
