import type { PopularProductsRepository } from '@bazaar/db';
import type { Logger } from '@bazaar/platform';
import type { PopularProductsStore } from '@bazaar/queue';

/**
 * How long a snapshot lives without a refresh. Refreshes replace it every
 * POPULAR_CRON tick (a minute by default), so it only runs out when the
 * scheduler has stopped refreshing: then the api computes the ranking itself
 * (briefly cached) instead of serving an old one for ever.
 */
export const POPULAR_SNAPSHOT_TTL_SECONDS = 15 * 60;

/**
 * products.popular: ranks the products by units sold in the last three days
 * (one indexed statement on a replica, see PopularProductsRepository) and
 * replaces the Redis snapshot the api serves, with one SET.
 */
export class RefreshPopularProductsJob {
  static readonly NAME = 'refresh-popular-products';

  constructor(
    private readonly repo: PopularProductsRepository,
    private readonly store: PopularProductsStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async run(log: Logger): Promise<{ ranked: number }> {
    const computedAt = this.now();
    const { windowStart, items } = await this.repo.ranking(computedAt);
    await this.store.write({ computedAt: computedAt.toISOString(), windowStart: windowStart.toISOString(), items }, POPULAR_SNAPSHOT_TTL_SECONDS);
    log.debug({ ranked: items.length, top: items[0]?.id ?? null }, 'popular products refreshed');
    return { ranked: items.length };
  }
}
