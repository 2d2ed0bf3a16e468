import { TRPCError } from '@trpc/server';
import { OrderStatus } from '@bazaar/contracts';
import type { OrdersRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import { enqueueCancel, type AcceptedOrderStore, type CancelJobResult, type OrdersQueueData } from '@bazaar/queue';
import type { Queue, QueueEvents } from 'bullmq';
import { preconditionFailed } from '../errors';

export interface CancelResult {
  orderId: string;
  status: OrderStatus;
  /** COMPLETED: the worker has cancelled it; QUEUED: the cancellation waits in the queue and will run. */
  cancellation: 'COMPLETED' | 'QUEUED';
}

/**
 * `orders.cancel`: checks the caller owns the order, then has a worker cancel
 * it (under the customer's lock, like every change to their money) and waits
 * a bounded time for the answer.
 */
export class OrderCancelService {
  constructor(
    private readonly store: AcceptedOrderStore,
    private readonly orders: OrdersRepository,
    private readonly queue: Queue<OrdersQueueData>,
    private readonly events: () => Promise<QueueEvents>,
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
}
