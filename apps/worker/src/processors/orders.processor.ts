import { UnrecoverableError, type Job } from 'bullmq';
import { OrderStatus } from '@bazaar/contracts';
import type { Logger, Metrics } from '@bazaar/platform';
import {
  OrderJobName,
  QueueName,
  cancelJobData,
  orderJobData,
  type AcceptedOrderStore,
  type CancelJobResult,
  type OrderOutcomePublisher,
  type OrdersQueueData,
} from '@bazaar/queue';
import type { CustomerLock } from '../locks/customer-lock';
import type { ApplyOrderWorkflow, ApplyOutcome } from '../workflows/apply-order/apply-order.workflow';
import type { CancelOrderWorkflow } from '../workflows/cancel-order/cancel-order.workflow';
import { publishRefund, type RefundsProcessorDeps } from './refunds.processor';

export interface OrdersProcessorDeps extends Pick<RefundsProcessorDeps, 'refundRows'> {
  apply: ApplyOrderWorkflow;
  cancel: CancelOrderWorkflow;
  store: AcceptedOrderStore;
  outcomes: OrderOutcomePublisher;
  lock: CustomerLock;
  metrics: Metrics;
  log: Logger;
}

/**
 * Glue for the `orders` queue: parse the payload, run the workflow under the
 * customer's lock, tell Redis the outcome, count and log. Every job name has
 * exactly one handler.
 */
export function ordersProcessor(deps: OrdersProcessorDeps) {
  const handlers: Record<string, (job: Job<OrdersQueueData>) => Promise<ApplyOutcome | CancelJobResult>> = {
    [OrderJobName.APPLY]: (job) => applyOrder(deps, job),
    [OrderJobName.CANCEL]: (job) => cancelOrder(deps, job),
  };
  return async (job: Job<OrdersQueueData>) => {
    const handler = handlers[job.name];
    if (!handler) throw new UnrecoverableError(`no handler for job ${job.name}`);
    const end = deps.metrics.jobDuration.startTimer({ queue: QueueName.ORDERS });
    try {
      const result = await handler(job);
      end({ outcome: result.status.toLowerCase() });
      return result;
    } catch (err) {
      end({ outcome: 'error' });
      throw err;
    }
  };
}

async function applyOrder(deps: OrdersProcessorDeps, job: Job<OrdersQueueData>): Promise<ApplyOutcome> {
  const parsed = orderJobData.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`malformed ${job.name} job ${job.id}: ${parsed.error.message}`);
  const { order, requestId } = parsed.data;
  const log = deps.log.child({ reqId: requestId, orderId: order.orderId, userId: order.userId, attempt: job.attemptsMade + 1 });
  try {
    const outcome = await deps.lock.withLock(order.userId, async (): Promise<ApplyOutcome> => {
      // The customer cancelled while it waited: record it CANCELLED instead of applying it.
      if (await deps.store.cancelRequested(order.userId, order.orderId)) {
        const cancelled = await deps.cancel.run(order.orderId, order);
        return { status: cancelled.status, reason: null, appliedNow: cancelled.changed };
      }
      return deps.apply.run(order);
    });
    await deps.outcomes.settled(order, outcome.status, outcome.reason);
    if (outcome.duplicateOf) {
      log.warn({ duplicateOf: outcome.duplicateOf }, 'not applied: MySQL holds another order under its idempotency key (Redis had lost its record)');
    } else if (outcome.appliedNow) {
      deps.metrics.orders.inc({ outcome: outcome.status.toLowerCase(), reason: outcome.reason ?? '' });
      log.info({ status: outcome.status, reason: outcome.reason }, 'order settled');
    } else {
      log.info({ status: outcome.status }, 'order was already settled; nothing changed');
    }
    return outcome;
  } catch (err) {
    log.warn({ err }, 'order not settled yet; BullMQ retries with backoff');
    throw err;
  }
}

async function cancelOrder(deps: OrdersProcessorDeps, job: Job<OrdersQueueData>): Promise<CancelJobResult> {
  const parsed = cancelJobData.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`malformed ${job.name} job ${job.id}: ${parsed.error.message}`);
  const { orderId, userId, requestId, reason } = parsed.data;
  const log = deps.log.child({ reqId: requestId, orderId, userId, cancel: reason });
  const accepted = (await deps.store.get(userId, orderId))?.order ?? null;
  const outcome = await deps.lock.withLock(userId, () => deps.cancel.run(orderId, accepted, reason, requestId));
  // A paid order was cancelled by a full refund: Redis and the metrics learn of it as of any refund.
  for (const r of outcome.refunds ?? []) await publishRefund(deps, r, log);
  if (outcome.changed && accepted) await deps.outcomes.settled(accepted, OrderStatus.CANCELLED, null);
  else if (outcome.changed) await deps.outcomes.publish(userId, orderId, OrderStatus.CANCELLED);
  if (outcome.changed) {
    deps.metrics.orders.inc({ outcome: 'cancelled', reason: reason === 'CUSTOMER' ? '' : reason });
    log.info({ status: outcome.status }, 'order cancelled');
  }
  return { status: outcome.status, changed: outcome.changed };
}
