import { z } from 'zod';
import { LIMITS, id, idempotencyKey, ulid } from './common';
import type { PaymentMethod, RefundFailureReason, RefundKind, RefundStatus, Role } from './enums';

export const refundLineInput = z.strictObject({
  orderItemId: id,
  quantity: z.number().int().min(1).max(LIMITS.maxQuantityPerLine),
});

export const refundRequestInput = z
  .strictObject({
    orderId: ulid,
    idempotencyKey,
    items: z.array(refundLineInput).min(1).max(LIMITS.maxLinesPerOrder),
  })
  .superRefine((v, ctx) => {
    const seen = new Set<number>();
    v.items.forEach((line, i) => {
      if (seen.has(line.orderItemId)) ctx.addIssue({ code: 'custom', path: ['items', i, 'orderItemId'], message: 'each line at most once per refund' });
      seen.add(line.orderItemId);
    });
  });
export type RefundRequestInput = z.infer<typeof refundRequestInput>;

export const refundGetInput = z.strictObject({ refundId: ulid });
export const refundListInput = z.strictObject({ orderId: ulid });

export interface RefundRequestResult {
  refundId: string;
  status: RefundStatus;
}

/**
 * One line of a refund. The amounts are what went back: fixed when a worker
 * applies the refund (they depend on the units of the line refunded before
 * it, money.md §4), null until it COMPLETED (and for a FAILED refund, which
 * gave nothing back).
 */
export interface RefundLineView {
  orderItemId: number;
  productId: number;
  storeId: number;
  productName: string;
  quantity: number;
  cash: number | null;
  points: number | null;
  clawback: number | null;
}

export interface RefundView {
  id: string;
  orderId: string;
  kind: RefundKind;
  status: RefundStatus;
  failureReason: RefundFailureReason | null;
  /** The gateway's code when it refused the card cancel. */
  failureCode: string | null;
  paymentMethod: PaymentMethod;
  requestedBy: { userId: number; role: Role };
  /** The lines the caller may see: a seller sees only their own store's lines, and totals over those. */
  items: RefundLineView[];
  /** Sums of the lines shown (null unless COMPLETED). */
  cash: number | null;
  points: number | null;
  clawback: number | null;
  /**
   * Reward points the customer had already spent, taken from this refund's
   * cash instead (money.md §4), and the cash that actually went back (to the
   * wallet, or to the card). Whole-refund figures: null for a seller who
   * sees only part of the refund, and unless COMPLETED.
   */
  clawbackFromCash: number | null;
  cashReturned: number | null;
  createdAt: string;
  /** When it ended: COMPLETED or FAILED (null while PENDING). */
  completedAt: string | null;
}
