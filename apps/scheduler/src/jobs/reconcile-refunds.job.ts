import type { Queue } from 'bullmq';
import type { RefundsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import { enqueueRefund, refundJobId, type RefundJobData } from '@bazaar/queue';

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

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
      const job = await this.queue.getJob(refundJobId(r.refundId));
      const state = job ? await job.getState() : 'missing';
      if (LIVE_STATES.has(state)) {
        report.waiting++;
        continue;
      }
      if (job && state === 'failed') {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        report.retried++;
        this.metrics.reconciled.inc({ action: 'refund_retried' });
        log.warn({ refundId: r.refundId, failedReason: job.failedReason }, 'retrying a failed refund job');
        continue;
      }
      if (job) await job.remove();
      await enqueueRefund(this.queue, { ...r, requestId: `reconcile-${r.refundId}` });
      report.requeued++;
      this.metrics.reconciled.inc({ action: 'refund_requeued' });
      log.warn({ refundId: r.refundId, jobState: state }, 'pending refund had no job; enqueued it again');
    }
    return report;
  }
}
