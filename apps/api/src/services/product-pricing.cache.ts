import { LRUCache } from 'lru-cache';
import { ProductStatus } from '@bazaar/contracts';
import type { CatalogRepository, ProductPricing } from '@bazaar/db';
import type { Metrics, RedisKeys, Redis } from '@bazaar/platform';
import { CoalescedLoads } from './coalesced-loads';

/**
 * What the accept path needs of a product (price, name, store, status),
 * without a MySQL round trip per request: an in-process LRU with a short TTL
 * in front of a Redis snapshot; MySQL (a replica) only on a miss of both.
 * Concurrent misses of one product share one load.
 */
export class ProductPricingCache {
  private readonly local = new LRUCache<number, ProductPricing>({ max: 50_000, ttl: 2_000 });

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly catalog: CatalogRepository,
    private readonly metrics: Metrics,
    private readonly redisTtlSeconds = 300,
  ) {}

  /** Products by id; ids that do not exist (or are deleted) are absent from the map. */
  async getMany(ids: number[]): Promise<Map<number, ProductPricing>> {
    const out = new Map<number, ProductPricing>();
    const missing = ids.filter((id) => {
      const hit = this.local.get(id);
      if (hit) out.set(id, hit);
      return !hit;
    });
    this.metrics.cacheRequests.inc({ cache: 'pricing_local', result: 'hit' }, ids.length - missing.length);
    if (missing.length === 0) return this.live(out);
    this.metrics.cacheRequests.inc({ cache: 'pricing_local', result: 'miss' }, missing.length);

    for (const [id, p] of await this.shared.get(missing)) out.set(id, p);
    return this.live(out);
  }

  private readonly shared = new CoalescedLoads<ProductPricing>(async (ids) => {
    const out = new Map<number, ProductPricing>();
    const cached = await Promise.all(ids.map((id) => this.redis.get(this.keys.productSnapshot(id))));
    const missing = ids.filter((id, i) => {
      const raw = cached[i];
      if (!raw) return true;
      const p = JSON.parse(raw) as ProductPricing;
      this.local.set(id, p);
      out.set(id, p);
      return false;
    });
    this.metrics.cacheRequests.inc({ cache: 'pricing_redis', result: 'hit' }, cached.length - missing.length);
    if (missing.length > 0) {
      this.metrics.cacheRequests.inc({ cache: 'pricing_redis', result: 'miss' }, missing.length);
      for (const p of await this.catalog.pricing(missing)) {
        await this.put(p);
        out.set(p.id, p);
      }
    }
    return out;
  });

  /** Another process changed the product (pub/sub): the next order reads its new snapshot from Redis. */
  forget(productId: number): void {
    this.local.delete(productId);
  }

  /** Writes a product's snapshot (after create / change) and drops the local copy. */
  async put(p: ProductPricing): Promise<void> {
    this.local.set(p.id, p);
    await this.redis.set(this.keys.productSnapshot(p.id), JSON.stringify(p), 'EX', this.redisTtlSeconds);
  }

  private live(all: Map<number, ProductPricing>): Map<number, ProductPricing> {
    for (const [id, p] of all) if (p.status !== ProductStatus.ACTIVE) all.delete(id);
    return all;
  }
}
