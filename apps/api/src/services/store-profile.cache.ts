import { LRUCache } from 'lru-cache';
import type { CatalogRepository, StoreProfile } from '@bazaar/db';
import type { Metrics, RedisKeys, Redis } from '@bazaar/platform';
import { CoalescedLoads } from './coalesced-loads';

/**
 * What the accept path needs of a store (open or closed, opening hours, time
 * zone, pickup lead time) without a MySQL round trip per order: an in-process
 * LRU with a 2 s TTL in front of a Redis snapshot that every store change
 * rewrites; MySQL (a replica) only when both miss. So a change is seen by
 * every api process within 2 s, and an accept keeps working with MySQL down
 * while the snapshot lives. Concurrent misses of one store share one load.
 */
export class StoreProfileCache {
  private readonly local = new LRUCache<number, StoreProfile>({ max: 20_000, ttl: 2_000 });

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly catalog: CatalogRepository,
    private readonly metrics: Metrics,
    private readonly redisTtlSeconds = 3600,
  ) {}

  async getMany(ids: number[]): Promise<Map<number, StoreProfile>> {
    const out = new Map<number, StoreProfile>();
    const missing = [...new Set(ids)].filter((id) => {
      const hit = this.local.get(id);
      if (hit) out.set(id, hit);
      return !hit;
    });
    if (missing.length === 0) return out;
    this.metrics.cacheRequests.inc({ cache: 'store_local', result: 'miss' }, missing.length);
    for (const [id, p] of await this.shared.get(missing)) out.set(id, p);
    return out;
  }

  private readonly shared = new CoalescedLoads<StoreProfile>(async (ids) => {
    const out = new Map<number, StoreProfile>();
    // One GET per store, not MGET: stores' keys live in different Redis Cluster slots.
    const cached = await Promise.all(ids.map((id) => this.redis.get(this.keys.storeProfile(id))));
    const missing = ids.filter((id, i) => {
      const raw = cached[i];
      if (!raw) return true;
      const p = JSON.parse(raw) as StoreProfile;
      this.local.set(id, p);
      out.set(id, p);
      return false;
    });
    if (missing.length > 0) {
      this.metrics.cacheRequests.inc({ cache: 'store_redis', result: 'miss' }, missing.length);
      for (const p of await this.catalog.storeProfiles(missing)) {
        await this.put(p);
        out.set(p.id, p);
      }
    }
    return out;
  });

  /** After a store change (primary committed): the snapshot every process reads next. */
  async put(p: StoreProfile): Promise<void> {
    this.local.set(p.id, p);
    await this.redis.set(this.keys.storeProfile(p.id), JSON.stringify(p), 'EX', this.redisTtlSeconds);
  }
}
