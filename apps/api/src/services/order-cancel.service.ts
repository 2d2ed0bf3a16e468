import { TRPCError } from '@trpc/server';
import { OrderStatus } from '@bazaar/contracts';
import type { OrdersRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import { enqueueCancel, type AcceptedOrderStore, type CancelJobResult, type OrdersQueueData, type RefundJobResult } from '@bazaar/queue';
import type { Queue, QueueEvents } from 'bullmq';
import { preconditionFailed } from '../errors';
import type { RefundService } from './refund.service';

export interface CancelResult {
  orderId: string;
  status: OrderStatus;
  /** COMPLETED: the worker has cancelled it; QUEUED: the cancellation waits in the queue and will run. */
  cancellation: 'COMPLETED' | 'QUEUED';
}

/**
 * `orders.cancel`: checks the caller owns the order, then has a worker cancel
 * it (under the customer's lock, like every change to their money) and waits
 * a bounded time for the answer. A waiting order is cancelled by a cancel job;
 * a PAID order is refunded in full through the refund path (one mechanism
 * gives money back), and ends CANCELLED.
 */
export class OrderCancelService {
  constructor(
    private readonly store: AcceptedOrderStore,
    private readonly orders: OrdersRepository,
    private readonly queue: Queue<OrdersQueueData>,
    private readonly events: () => Promise<QueueEvents>,
    private readonly refunds: RefundService,
    private readonly refundsEvents: () => Promise<QueueEvents>,
    private readonly waitMs: number,
  ) {}

  async cancel(userId: number, orderId: string, requestId: string, log: Logger): Promise<CancelResult> {
    const accepted = await this.store.get(userId, orderId);
    const settled = accepted ? null : await this.orders.findSettled(orderId);
    if (!accepted && (!settled || settled.userId !== userId)) throw new TRPCError({ code: 'NOT_FOUND', message: `no order ${orderId}` });
    const current = settled?.status ?? accepted?.status;
    if (current === OrderStatus.FAILED) throw preconditionFailed(null, 'a failed order has nothing to cancel');
    if (current === OrderStatus.PARTIALLY_REFUNDED || current === OrderStatus.REFUNDED) {
      throw preconditionFailed(null, 'a refunded order cannot be cancelled; request a refund of the rest instead');
    }
    if (current === OrderStatus.CANCELLED) return { orderId, status: OrderStatus.CANCELLED, cancellation: 'COMPLETED' };
    if (current === OrderStatus.PAID && !(accepted && accepted.status === OrderStatus.PENDING)) return this.cancelPaid(userId, orderId, requestId, log);

    // A waiting order's apply job will see this and cancel instead of applying.
    if (current === OrderStatus.PENDING && accepted) await this.store.requestCancel(userId, orderId);
    const events = await this.events();
    const job = await enqueueCancel(this.queue, { orderId, userId, requestId, reason: 'CUSTOMER' });
    try {
      const result = (await job.waitUntilFinished(events, this.waitMs)) as CancelJobResult;
      const status = result.status as OrderStatus;
      if (status === OrderStatus.FAILED) throw preconditionFailed(null, 'the order failed meanwhile; there is nothing to cancel');
      if (status !== OrderStatus.CANCELLED) throw preconditionFailed(null, `an order in status ${status} cannot be cancelled`);
      return { orderId, status, cancellation: 'COMPLETED' };
    } catch (err) {
      if (err instanceof TRPCError) throw err;
      log.warn({ err, orderId }, 'cancellation not finished in time; it stays queued');
      return { orderId, status: current ?? OrderStatus.PENDING, cancellation: 'QUEUED' };
    }
  }

  /** A paid order: a full refund of kind CANCEL, then wait (bounded) for a worker to apply it. */
  private async cancelPaid(userId: number, orderId: string, requestId: string, log: Logger): Promise<CancelResult> {
    const refund = await this.refunds.requestCancel(userId, orderId, requestId, log);
    if (refund.status === 'COMPLETED') return { orderId, status: OrderStatus.CANCELLED, cancellation: 'COMPLETED' };
    if (refund.status === 'FAILED') throw preconditionFailed(null, 'the card cancel was refused by the payment gateway; the order stays paid');
    const events = await this.refundsEvents();
    const job = refund.job;
    try {
      if (!job) throw new Error('refund job not enqueued (the reconciler enqueues it)');
      const result = (await job.waitUntilFinished(events, this.waitMs)) as RefundJobResult;
      if (result.status === 'FAILED') throw preconditionFailed(null, 'the card cancel was refused by the payment gateway; the order stays paid');
      return { orderId, status: OrderStatus.CANCELLED, cancellation: 'COMPLETED' };
    } catch (err) {
      if (err instanceof TRPCError) throw err;
      log.warn({ err, orderId, refundId: refund.refundId }, 'cancellation not finished in time; its refund stays queued');
      return { orderId, status: OrderStatus.PAID, cancellation: 'QUEUED' };
    }
  }
}
