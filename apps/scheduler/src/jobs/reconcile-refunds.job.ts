import type { Queue } from 'bullmq';
import type { RefundsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import { enqueueRefund, refundJobId, type OrderOutcomePublisher, type RefundJobData } from '@bazaar/queue';
import { requeue } from './requeue';

export interface RefundReconcileReport {
  examined: number;
  requeued: number;
  retried: number;
  waiting: number;
  /** Completed refunds whose Redis effects (gate units, coupon hold, cached view) the reconciler finished. */
  finished: number;
}

/**
 * A refund still PENDING in MySQL after `afterSeconds` with no live job (the
 * api died between its commit and the enqueue, Redis lost the job, or the
 * job ran out of attempts while the gateway was down) gets its job again.
 * The refund id as job id and the worker's PENDING check make a refund that
 * was fine after all a no-op.
 *
 * A refund COMPLETED in MySQL whose worker died before Redis learnt of it
 * (the sold-out gate's units, the coupon's hold, the order's cached view)
 * is finished here: the same idempotent effects, then marked done.
 */
export class ReconcileRefundsJob {
  static readonly NAME = 'reconcile-refunds';

  constructor(
    private readonly refunds: RefundsRepository,
    private readonly outcomes: OrderOutcomePublisher,
    private readonly queue: Queue<RefundJobData>,
    private readonly metrics: Metrics,
    private readonly afterSeconds: number,
  ) {}

  async run(log: Logger): Promise<RefundReconcileReport> {
    const report: RefundReconcileReport = { examined: 0, requeued: 0, retried: 0, waiting: 0, finished: 0 };
    const before = new Date(Date.now() - this.afterSeconds * 1000);
    for (const r of await this.refunds.effectsOwedSince(before, 500)) {
      await this.outcomes.refundCompleted({
        refundId: r.id,
        userId: r.userId,
        orderId: r.orderId,
        orderStatus: r.orderStatus,
        couponReturned: r.couponReturned ? r.couponId : null,
        lines: r.items.map((i) => ({ productId: i.productId, quantity: i.quantity })),
      });
      await this.refunds.markEffectsDone(r.id);
      report.finished++;
      this.metrics.reconciled.inc({ action: 'refund_finished' });
      log.warn({ refundId: r.id, orderId: r.orderId }, 'completed refund had not reached Redis (gate units, coupon, view); finished it');
    }
    const stale = await this.refunds.pendingSince(before, 500);
    report.examined = stale.length;
    for (const r of stale) {
      const done = await requeue(this.queue, refundJobId(r.refundId), async () => {
        await enqueueRefund(this.queue, { ...r, requestId: `reconcile-${r.refundId}` });
        return true;
      });
      if (done.action === 'gone') continue;
      report[done.action]++;
      if (done.action === 'waiting') continue;
      this.metrics.reconciled.inc({ action: `refund_${done.action}` });
      if (done.action === 'retried') log.warn({ refundId: r.refundId, failedReason: done.failedReason }, 'retrying a failed refund job');
      else log.warn({ refundId: r.refundId, jobState: done.state }, 'pending refund had no job; enqueued it again');
    }
    return report;
  }
}
