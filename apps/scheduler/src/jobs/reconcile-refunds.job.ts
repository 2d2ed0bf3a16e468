import type { Queue } from 'bullmq';
import type { RefundsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import { enqueueRefund, refundJobId, type RefundJobData } from '@bazaar/queue';
import { requeue } from './requeue';

export interface RefundReconcileReport {
  examined: number;
  requeued: number;
  retried: number;
  waiting: number;
}

/**
 * A refund still PENDING in MySQL after `afterSeconds` with no live job (the
 * api died between its commit and the enqueue, Redis lost the job, or the
 * job ran out of attempts while the gateway was down) gets its job again.
 * The refund id as job id and the worker's PENDING check make a refund that
 * was fine after all a no-op.
 */
export class ReconcileRefundsJob {
  static readonly NAME = 'reconcile-refunds';

  constructor(
    private readonly refunds: RefundsRepository,
    private readonly queue: Queue<RefundJobData>,
    private readonly metrics: Metrics,
    private readonly afterSeconds: number,
  ) {}

  async run(log: Logger): Promise<RefundReconcileReport> {
    const report: RefundReconcileReport = { examined: 0, requeued: 0, retried: 0, waiting: 0 };
    const stale = await this.refunds.pendingSince(new Date(Date.now() - this.afterSeconds * 1000), 500);
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
