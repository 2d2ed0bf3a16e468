import type { PopularProductsView } from '@bazaar/contracts';
import type { PopularProductsRepository } from '@bazaar/db';
import { servePopular } from '@bazaar/domain';
import type { Metrics } from '@bazaar/platform';
import type { PopularProductsStore, PopularSnapshot } from '@bazaar/queue';
import type { ProductPricingCache } from './product-pricing.cache';

/** How long a ranking the api computed itself is kept (until the scheduler's next refresh replaces it, at the latest). */
export const POPULAR_FALLBACK_TTL_SECONDS = 30;
/** How long the one rebuilder across processes may take before another may try. */
const REBUILD_LOCK_MS = 5_000;
/** How long the others wait for its result before computing it themselves. */
const WAIT_FOR_REBUILD_MS = 2_000;

/**
 * products.popular, served from the scheduler's Redis snapshot. Every answer
 * goes through the pricing cache, so a product removed since the last refresh
 * drops out at once (a spare moves up) and names and prices are current.
 *
 * When the snapshot is missing (no refresh yet, or Redis lost it), the
 * ranking is computed here from a replica, once: concurrent requests in a
 * process share one computation, and across processes one holds a Redis lock
 * while the others wait briefly for its result. It is cached only where no
 * snapshot is (SET NX) and for POPULAR_FALLBACK_TTL_SECONDS, so it never
 * hides the scheduler's next refresh for long.
 */
export class PopularProductsService {
  private rebuilding: Promise<PopularSnapshot> | null = null;

  constructor(
    private readonly store: PopularProductsStore,
    private readonly repo: PopularProductsRepository,
    private readonly pricing: ProductPricingCache,
    private readonly metrics: Metrics,
  ) {}

  async get(): Promise<PopularProductsView> {
    let snapshot = await this.store.read();
    this.metrics.cacheRequests.inc({ cache: 'popular', result: snapshot ? 'hit' : 'miss' });
    snapshot ??= await this.rebuildOnce();
    const live = await this.pricing.getMany(snapshot.items.map((p) => p.id));
    return { items: servePopular(snapshot.items, live), computedAt: snapshot.computedAt, windowStart: snapshot.windowStart };
  }

  private rebuildOnce(): Promise<PopularSnapshot> {
    this.rebuilding ??= this.rebuild().finally(() => {
      this.rebuilding = null;
    });
    return this.rebuilding;
  }

  private rebuild(): Promise<PopularSnapshot> {
    return this.store.rebuildOnce(
      { lockMs: REBUILD_LOCK_MS, waitMs: WAIT_FOR_REBUILD_MS, pollMs: 25 },
      async () => {
        const snapshot = await this.compute();
        await this.store.writeIfAbsent(snapshot, POPULAR_FALLBACK_TTL_SECONDS);
        return snapshot;
      },
      // The rebuilder is slow or gone: answer from our own computation (not cached: its lock may still be held).
      () => this.compute(),
    );
  }

  private async compute(): Promise<PopularSnapshot> {
    const computedAt = new Date();
    const { windowStart, items } = await this.repo.ranking(computedAt);
    return { computedAt: computedAt.toISOString(), windowStart: windowStart.toISOString(), items };
  }
}
