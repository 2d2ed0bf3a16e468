import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger, Metrics } from '@bazaar/platform';
import { QueueName, orderJobData, type OrderJobData, type OrderOutcomePublisher } from '@bazaar/queue';
import type { CustomerLock } from '../locks/customer-lock';
import type { ApplyOrderWorkflow, ApplyOutcome } from '../workflows/apply-order/apply-order.workflow';

/** Glue: parse the payload, run the workflow, tell Redis the outcome, count and log it. */
export function ordersProcessor(deps: { workflow: ApplyOrderWorkflow; outcomes: OrderOutcomePublisher; lock: CustomerLock; metrics: Metrics; log: Logger }) {
  return async (job: Job<OrderJobData>): Promise<ApplyOutcome> => {
    const parsed = orderJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed orders job ${job.id}: ${parsed.error.message}`);
    const { order, requestId } = parsed.data;
    const log = deps.log.child({ reqId: requestId, orderId: order.orderId, userId: order.userId, attempt: job.attemptsMade + 1 });
    const end = deps.metrics.jobDuration.startTimer({ queue: QueueName.ORDERS });
    try {
      const outcome = await deps.lock.withLock(order.userId, () => deps.workflow.run(order));
      await deps.outcomes.settled(order, outcome.status, outcome.reason);
      end({ outcome: outcome.status.toLowerCase() });
      if (outcome.appliedNow) {
        deps.metrics.orders.inc({ outcome: outcome.status.toLowerCase(), reason: outcome.reason ?? '' });
        log.info({ status: outcome.status, reason: outcome.reason }, 'order settled');
      } else {
        log.info({ status: outcome.status }, 'order was already settled; nothing changed');
      }
      return outcome;
    } catch (err) {
      end({ outcome: 'error' });
      log.warn({ err }, 'order not settled yet; BullMQ retries with backoff');
      throw err;
    }
  };
}
