import { type OrderStatus, type FailureReason } from '@bazaar/contracts';
import type { SettlementLine, SettlementOrder } from '@bazaar/db';
import { DEFAULT_REWARD_BPS, priceOrder, type PricedOrder, type PricingResult } from '@bazaar/domain';
import type { AcceptedOrder } from '@bazaar/queue';
import type { GatewayPayment, PaymentGatewayClient } from '../gateway/payment-gateway.client';

export interface ApplyOutcome {
  status: OrderStatus;
  reason: FailureReason | null;
  /** false when the order had already been settled (a job that ran again). */
  appliedNow: boolean;
  /**
   * Set when the order was never applied because MySQL holds another order under its customer's idempotency key
   * (the id given): Redis had lost the first one's record (a crash without AOF, a write a failover lost, the
   * record's TTL passed) and accepted the retry anew. Settled FAILED in Redis, so its units and coupon go back.
   */
  duplicateOf?: string;
}

/**
 * Prices an accepted order from the terms frozen at accept (lines at their
 * accepted prices, the coupon's terms, the points asked, the reward rate)
 * with the money rules (packages/domain). The live point balance is the
 * point-spend step's to check, inside the transaction: here the points
 * asked are taken as available. A coupon that does not apply is a refusal.
 */
export function priceAccepted(order: AcceptedOrder): PricingResult {
  const points = order.points ?? 0;
  return priceOrder({ lines: order.lines, coupon: order.coupon ?? null, points, pointBalance: points, rewardBps: order.rewardBps ?? DEFAULT_REWARD_BPS });
}

/**
 * The MySQL rows of an accepted order, priced by {@link priceAccepted}. An
 * order refused by its pricing (its coupon does not apply) is recorded with
 * its lines priced without the coupon, points or reward: nothing was taken.
 */
export function settlementRows(
  order: AcceptedOrder,
  status: OrderStatus,
  reason: FailureReason | null = null,
): { row: SettlementOrder; lines: SettlementLine[]; priced: PricedOrder } {
  const asked = priceAccepted(order);
  const priced = asked.ok ? asked : (priceOrder({ lines: order.lines, pointBalance: 0, rewardBps: 0 }) as PricedOrder);
  const lines: SettlementLine[] = order.lines.map((l, i) => {
    const p = priced.lines[i]!;
    return { productId: l.productId, storeId: l.storeId, productName: l.name, unitPrice: l.unitPrice, quantity: l.quantity, ...p };
  });
  return {
    lines,
    priced,
    row: {
      id: order.orderId,
      userId: order.userId,
      status,
      failureReason: reason,
      paymentMethod: order.paymentMethod,
      couponId: order.coupon?.couponId ?? null,
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
