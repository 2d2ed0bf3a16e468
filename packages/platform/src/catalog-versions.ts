import type { Redis } from './redis';
import { newId } from './ids';
import type { RedisKeys } from './keys';

/** The versions a cached list page is built under. */
export interface CatalogVersionPair {
  /** Changes with every product change (create, update, remove, restock). */
  catalog: string;
  /** Changes with every view flush that moved MySQL's view counts (what the popular sort orders by). */
  viewCounts: string;
}

/**
 * The two versions products.list's cached pages are checked against on every
 * read. A change sets a fresh ULID rather than incrementing a counter: were
 * Redis to lose the key, a counter would start again at a number an api
 * process may still hold a page under, while a ULID never comes back. A
 * missing version is set (only where still missing) before it is used, for
 * the same reason.
 */
export class CatalogVersions {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** A product was created, updated, removed or restocked: every cached page is stale from now on. */
  async catalogChanged(): Promise<void> {
    await this.redis.set(this.keys.catalogVersion, newId());
  }

  /** A view flush moved MySQL's view counts: pages sorted by them are stale from now on. */
  async viewCountsChanged(): Promise<void> {
    await this.redis.set(this.keys.viewCountsVersion, newId());
  }

  /** Both versions, one MGET (and, when one is missing, a SET NX of a fresh one and a second MGET). */
  async read(): Promise<CatalogVersionPair> {
    const keys = [this.keys.catalogVersion, this.keys.viewCountsVersion];
    let [catalog, viewCounts] = await this.redis.mget(keys);
    if (catalog == null || viewCounts == null) {
      await Promise.all(keys.map((k) => this.redis.set(k, newId(), 'NX')));
      [catalog, viewCounts] = await this.redis.mget(keys);
      if (catalog == null || viewCounts == null) throw new Error('catalog versions vanished between SET and MGET');
    }
    return { catalog, viewCounts };
  }
}
