import { Queue, type DefaultJobOptions, type JobsOptions } from 'bullmq';
import type { RedisKeys, Redis } from '@bazaar/platform';
import type { CancelJobData, OrderJobData, RefundJobData } from './payloads';

export const QueueName = { ORDERS: 'orders', REFUNDS: 'refunds' } as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

export const OrderJobName = { APPLY: 'apply-order', CANCEL: 'cancel-order' } as const;

export type OrdersQueueData = OrderJobData | CancelJobData;

/** The one place job options are set: retries with exponential backoff, bounded retention. */
export function defaultJobOptions(attempts: number): DefaultJobOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 7 * 86400, count: 50_000 },
  };
}

/** The one place job ids are built: the order id itself, so re-adding the same order is a no-op. */
export function orderJobId(orderId: string): string {
  if (!/^[0-9A-Z]{26}$/.test(orderId)) throw new Error(`not an order id: ${orderId}`);
  return orderId;
}

export function createOrdersQueue(connection: Redis, keys: RedisKeys, attempts: number): Queue<OrdersQueueData> {
  return new Queue<OrdersQueueData>(QueueName.ORDERS, {
    connection,
    prefix: keys.bullPrefix(QueueName.ORDERS),
    defaultJobOptions: defaultJobOptions(attempts),
  });
}

export async function enqueueOrder(queue: Queue<OrdersQueueData>, data: OrderJobData, opts: JobsOptions = {}): Promise<void> {
  await queue.add(OrderJobName.APPLY, data, { ...opts, jobId: orderJobId(data.order.orderId) });
}

/**
 * One cancel job per order at a time. Kept a minute after it completes, so
 * concurrent callers waiting on it (orders.cancel) still find its result;
 * after that a later cancel (or audit) runs it again — harmlessly.
 */
export function cancelJobId(orderId: string): string {
  return `cancel-${orderJobId(orderId)}`;
}

export function enqueueCancel(queue: Queue<OrdersQueueData>, data: CancelJobData) {
  return queue.add(OrderJobName.CANCEL, data, { jobId: cancelJobId(data.orderId), removeOnComplete: { age: 60 } });
}

export const RefundJobName = { APPLY: 'apply-refund' } as const;

export function createRefundsQueue(connection: Redis, keys: RedisKeys, attempts: number): Queue<RefundJobData> {
  return new Queue<RefundJobData>(QueueName.REFUNDS, {
    connection,
    prefix: keys.bullPrefix(QueueName.REFUNDS),
    defaultJobOptions: defaultJobOptions(attempts),
  });
}

/** The one place refund job ids are built: the refund id itself, so re-adding the same refund is a no-op. */
export function refundJobId(refundId: string): string {
  if (!/^[0-9A-Z]{26}$/.test(refundId)) throw new Error(`not a refund id: ${refundId}`);
  return refundId;
}

export function enqueueRefund(queue: Queue<RefundJobData>, data: RefundJobData) {
  return queue.add(RefundJobName.APPLY, data, { jobId: refundJobId(data.refundId) });
}
