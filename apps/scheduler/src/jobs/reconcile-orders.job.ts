import type { Queue } from 'bullmq';
import type { OrdersRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';
import { enqueueOrder, type AcceptedOrderStore, type OrderOutcomePublisher, type OrdersQueueData } from '@bazaar/queue';
import { requeue } from './requeue';

export interface ReconcileReport {
  examined: number;
  settled: number;
  requeued: number;
  retried: number;
  waiting: number;
}

/**
 * An accepted order neither settled in MySQL nor waiting in the queue after
 * `afterSeconds` (a crash between accept and enqueue, a job that stalled too
 * often or ran out of attempts) is enqueued again. The fixed job id and the
 * worker's idempotency make this harmless when the order was fine after all.
 */
export class ReconcileOrdersJob {
  static readonly NAME = 'reconcile-orders';

  constructor(
    private readonly store: AcceptedOrderStore,
    private readonly outcomes: OrderOutcomePublisher,
    private readonly orders: OrdersRepository,
    private readonly queue: Queue<OrdersQueueData>,
    private readonly metrics: Metrics,
    private readonly afterSeconds: number,
  ) {}

  async run(log: Logger): Promise<ReconcileReport> {
    const report: ReconcileReport = { examined: 0, settled: 0, requeued: 0, retried: 0, waiting: 0 };
    const stale = await this.store.pendingOlderThan(Date.now() - this.afterSeconds * 1000, 200);
    report.examined = stale.length;
    if (stale.length === 0) return report;
    const settled = await this.orders.settledStatuses(stale.map((s) => s.orderId));

    for (const { orderId, userId } of stale) {
      const done = settled.get(orderId);
      if (done) {
        // Settled in MySQL, but the worker died before telling Redis.
        const rec = await this.store.get(userId, orderId);
        if (rec) await this.outcomes.settled(rec.order, done.status, done.reason);
        else await this.store.markSettled(userId, orderId, done.status, done.reason);
        report.settled++;
        this.metrics.reconciled.inc({ action: 'settled' });
        continue;
      }
      let requestId: string | undefined;
      const job = await requeue(this.queue, orderId, async () => {
        // Read again: a worker may have settled it since MySQL was read above (a job completes only after its
        // commit, so a job found completed or gone here most often means that). Then nothing is enqueued, and
        // the worker's own report to Redis takes it off the pending index.
        if ((await this.orders.settledStatuses([orderId])).size > 0) return false;
        const rec = await this.store.get(userId, orderId);
        if (!rec) return false;
        requestId = rec.order.requestId;
        await enqueueOrder(this.queue, { order: rec.order, requestId });
        return true;
      });
      if (job.action === 'waiting' || job.action === 'gone') {
        if (job.action === 'waiting') report.waiting++;
        continue;
      }
      report[job.action]++;
      this.metrics.reconciled.inc({ action: job.action });
      if (job.action === 'retried') log.warn({ orderId, failedReason: job.failedReason }, 'retrying a failed order job');
      else log.warn({ orderId, reqId: requestId, jobState: job.state }, 'accepted order was not queued; enqueued it again');
    }
    return report;
  }
}
