import type { Metrics } from '@bazaar/platform';
import type { OrderTransaction, OrderTxOutcome, OrderTxPlan } from './order-transaction';
import type { OrderTxContext } from './steps/order-step';

interface Pending {
  ctx: OrderTxContext;
  plan: OrderTxPlan;
  resolve: (outcome: OrderTxOutcome) => void;
  reject: (err: unknown) => void;
}

export interface OrderBatcherOptions {
  /** At most this many orders per transaction; 1 turns batching off. */
  maxSize: number;
  /** A batch that is not full closes this long after its first order arrived. */
  maxWaitMs: number;
}

/**
 * Group commit: the orders a worker's concurrent jobs apply at about the same time go into one MySQL
 * transaction ({@link OrderTransaction.runMany}), each behind its own savepoint, with one COMMIT. A batch
 * closes when it holds `maxSize` orders or `maxWaitMs` after its first one. Each job still holds its
 * customer's lock (two orders of one customer never share a batch) and is answered only after the commit,
 * so a worker killed mid-batch has committed none of it and BullMQ hands every job of it out again.
 *
 * A batch that fails as a whole (anything but a refusal: an error on one order's statements, deadlocks
 * past the retries) is run again one order at a time, so one order's trouble stays its own.
 */
export class OrderBatcher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tx: OrderTransaction,
    private readonly opts: OrderBatcherOptions,
    private readonly metrics?: Pick<Metrics, 'orderBatchSize'>,
  ) {}

  apply(ctx: OrderTxContext, plan: OrderTxPlan): Promise<OrderTxOutcome> {
    if (this.opts.maxSize <= 1) return this.tx.run(ctx, plan);
    return new Promise<OrderTxOutcome>((resolve, reject) => {
      this.queue.push({ ctx, plan, resolve, reject });
      if (this.queue.length >= this.opts.maxSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.maxWaitMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, this.opts.maxSize);
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.opts.maxWaitMs);
    if (batch.length === 0) return;
    this.metrics?.orderBatchSize.observe(batch.length);
    this.tx.runMany(batch).then(
      (outcomes) => batch.forEach((p, i) => p.resolve(outcomes[i]!)),
      () => {
        for (const p of batch) this.tx.run(p.ctx, p.plan).then(p.resolve, p.reject);
      },
    );
  }
}
