import { UnrecoverableError, type Job } from 'bullmq';
import { RefundStatus } from '@bazaar/contracts';
import type { RefundsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import { QueueName, refundJobData, type OrderOutcomePublisher, type RefundJobData, type RefundJobResult } from '@bazaar/queue';
import type { CustomerLock } from '../locks/customer-lock';
import type { RefundOutcome, RefundWorkflow } from '../workflows/refund/refund.workflow';

export interface RefundsProcessorDeps {
  refunds: RefundWorkflow;
  /** Marks a completed refund's Redis effects done (the outbox the reconciler sweeps). */
  refundRows: Pick<RefundsRepository, 'markEffectsDone'>;
  outcomes: OrderOutcomePublisher;
  lock: CustomerLock;
  metrics: Metrics;
  log: Logger;
}

/**
 * Glue for the `refunds` queue: parse the payload, apply the refund under
 * the customer's lock (their wallet and points change), then tell Redis
 * (the order's cached view and subscribers, the coupon's hold) and count.
 * A job that finds its refund settled repeats only the Redis side, which is
 * idempotent.
 */
export function refundsProcessor(deps: RefundsProcessorDeps) {
  return async (job: Job<RefundJobData>): Promise<RefundJobResult> => {
    const parsed = refundJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed ${job.name} job ${job.id}: ${parsed.error.message}`);
    const { refundId, userId, requestId } = parsed.data;
    const log = deps.log.child({ reqId: requestId, refundId, orderId: parsed.data.orderId, userId, attempt: job.attemptsMade + 1 });
    const end = deps.metrics.jobDuration.startTimer({ queue: QueueName.REFUNDS });
    try {
      const outcomes = await deps.lock.withLock(userId, () => deps.refunds.run(refundId));
      for (const o of outcomes) await publishRefund(deps, o, log);
      const own = outcomes[outcomes.length - 1]!;
      end({ outcome: own.status.toLowerCase() });
      return { refundId, status: own.status, orderStatus: own.orderStatus };
    } catch (err) {
      end({ outcome: 'error' });
      log.warn({ err }, 'refund not applied yet; BullMQ retries with backoff');
      throw err;
    }
  };
}

/** What Redis, the metrics and the log learn of a settled refund (also used by cancel jobs that refund a paid order). */
export async function publishRefund(deps: Pick<RefundsProcessorDeps, 'outcomes' | 'metrics' | 'refundRows'>, o: RefundOutcome, log: Logger): Promise<void> {
  if (o.status === RefundStatus.COMPLETED && o.effectsOwed) {
    await deps.outcomes.refundCompleted(o);
    await deps.refundRows.markEffectsDone(o.refundId);
    deps.metrics.refundStatements.inc({ step: 'effects' });
  }
  if (!o.changed) {
    log.info({ refundId: o.refundId, status: o.status }, 'refund was already settled; nothing changed');
    return;
  }
  deps.metrics.refunds.inc({ outcome: o.status.toLowerCase() });
  if (o.plan && o.status === RefundStatus.COMPLETED) {
    deps.metrics.refundedAmounts.inc({ what: 'cash' }, o.plan.cashReturned);
    deps.metrics.refundedAmounts.inc({ what: 'points' }, o.plan.points);
    deps.metrics.refundedAmounts.inc({ what: 'clawback' }, o.plan.clawback);
    deps.metrics.points.inc({ movement: 'restore' }, o.pointsRestored);
    deps.metrics.points.inc({ movement: 'reissue' }, o.pointsReissued);
    deps.metrics.points.inc({ movement: 'clawback' }, o.plan.clawbackFromLot);
  }
  log.info(
    { refundId: o.refundId, status: o.status, orderStatus: o.orderStatus, cash: o.plan?.cashReturned, points: o.plan?.points, clawback: o.plan?.clawback },
    o.status === RefundStatus.COMPLETED ? 'refund completed' : 'refund failed',
  );
}
