import type { QueryRunner } from 'typeorm';
import { RefundStatus } from '@bazaar/contracts';
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

/**
 * Step 1, as a job begins: if the job's refund is still PENDING, lock its
 * order row, then pick the oldest PENDING refund of the order (the job's own,
 * or one requested before it: refunds of an order apply in the order they
 * were requested) and lock that. Null when the job's refund is settled.
 * May: read and lock. May not: write anything.
 */
export async function lockOldestPending(q: QueryRunner, repos: RefundRepos, targetId: string): Promise<LockedRefund | null> {
  const [head] = await selectRows<{ order_id: string; status: string }>(q, 'SELECT order_id, status FROM refunds WHERE id = ?', [targetId]);
  if (!head) throw new Error(`refund ${targetId} does not exist`);
  if (head.status !== RefundStatus.PENDING) return null;
  const order = await repos.settlement.lockOrder(q, head.order_id);
  if (!order) throw new Error(`refund ${targetId}: its order ${head.order_id} does not exist`);
  // Under the order's lock: no refund of it settles meanwhile. None pending: the target settled just before the lock.
  const oldest = await repos.refunds.oldestPending(q, head.order_id);
  if (!oldest) return null;
  const refund = await repos.refunds.lock(q, oldest);
  if (!refund) throw new Error(`refund ${oldest} vanished`);
  return { refund, order: { ...order, orderId: head.order_id } };
}
