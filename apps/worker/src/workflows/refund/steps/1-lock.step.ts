import type { QueryRunner } from 'typeorm';
import { selectRows, type LockedOrder, type RefundRow } from '@bazaar/db';
import type { RefundRepos } from './refund-step';

export interface LockedRefund {
  refund: RefundRow;
  order: LockedOrder & { orderId: string };
}

/**
 * Step 1 — lock. Locks the order row, then the refund row (the same order
 * as every refund request and every order change, so they queue rather than
 * deadlock), and reads both. May: read and lock. May not: write anything.
 * The caller skips a refund that is no longer PENDING.
 */
export async function lockRefund(q: QueryRunner, repos: RefundRepos, refundId: string): Promise<LockedRefund | null> {
  const [head] = await selectRows<{ order_id: string }>(q, 'SELECT order_id FROM refunds WHERE id = ?', [refundId]);
  if (!head) return null;
  const order = await repos.settlement.lockOrder(q, head.order_id);
  const refund = await repos.refunds.lock(q, refundId);
  if (!order || !refund) return null;
  return { refund, order: { ...order, orderId: head.order_id } };
}
