import type { ViewCountsRepository } from '@bazaar/db';
import { newId, type CatalogVersions, type Logger, type Metrics } from '@bazaar/platform';
import type { ProductViewsStore } from '@bazaar/queue';

/** Points where a test stops a flush, as a crash would. */
export interface FlushFaults {
  afterClaim?: () => Promise<void>;
  afterApply?: () => Promise<void>;
}

/**
 * Moves product-view counts from Redis to MySQL, each view exactly once: claim
 * a batch (an unfinished one first, under its own id), apply it (the batch id
 * commits with the counts, so a second application adds nothing), then drop
 * it from Redis together with mirroring MySQL's new totals. A flush that dies
 * at any point leaves the batch claimed, and the next flush finishes it.
 * Views keep landing in a fresh pending hash meanwhile.
 *
 * A batch that moved MySQL's counts (applied now, or by an earlier flush that
 * died before dropping it) sets a new views version once it is dropped: the
 * api's cached products.list pages sorted by view count are rebuilt on their
 * next read, in MySQL's new order (other sorts stay cached).
 */
export class FlushProductViewsJob {
  static readonly NAME = 'flush-product-views';
  /** Batches per run: an unfinished one, then what is pending. */
  private static readonly MAX_BATCHES = 3;
  private runs = 0;

  constructor(
    private readonly views: ProductViewsStore,
    private readonly counts: ViewCountsRepository,
    private readonly metrics: Metrics,
    private readonly versions: Pick<CatalogVersions, 'viewCountsChanged'>,
    private readonly faults: FlushFaults = {},
  ) {}

  async run(log: Logger): Promise<{ batches: number; views: number }> {
    let batches = 0;
    let views = 0;
    try {
      for (let i = 0; i < FlushProductViewsJob.MAX_BATCHES; i++) {
        const id = newId();
        const batch = await this.views.claim(id);
        if (!batch) break;
        const resumed = batch.id !== id;
        await this.faults.afterClaim?.();
        const { outcome, totals } = await this.counts.applyBatch(batch.id, batch.counts);
        await this.faults.afterApply?.();
        await this.views.complete(batch.id, totals);
        if (batch.counts.size > 0) await this.versions.viewCountsChanged();
        const n = [...batch.counts.values()].reduce((s, v) => s + v, 0);
        this.metrics.viewFlushes.inc({ outcome });
        if (outcome === 'applied') {
          this.metrics.viewsFlushed.inc(n);
          views += n;
        }
        batches++;
        if (resumed || outcome === 'duplicate')
          log.warn({ batchId: batch.id, outcome, products: batch.counts.size, views: n }, 'finished a batch left by an earlier flush');
        if (!resumed) break;
      }
      if (batches === 0) this.metrics.viewFlushes.inc({ outcome: 'empty' });
    } catch (err) {
      this.metrics.viewFlushes.inc({ outcome: 'error' });
      throw err;
    }
    // Batch records matter only while a batch could be re-applied: keep a day of them.
    if (++this.runs % 100 === 1) await this.counts.pruneRecords(24);
    return { batches, views };
  }
}
