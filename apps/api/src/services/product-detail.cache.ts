import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { ProductStatus, type ProductView } from '@bazaar/contracts';
import type { CatalogRepository } from '@bazaar/db';
import type { Metrics, RedisKeys } from '@bazaar/platform';
import type { SoldOutGate } from '@bazaar/queue';
import { toProductView } from '../views/product.view';

type Cached = { version: string; view: ProductView | null };

/** Writes the rebuilt view only if no change bumped the version since the rebuild started reading. */
const SET_IF_VERSION_LUA = `
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`;

/**
 * products.get, built for read storms: an in-process LRU (short TTL) in front
 * of a Redis look-aside copy. Every entry carries the product's version, which
 * every change bumps; each read checks the version (one Redis GET, pipelined
 * with the stock read), so a change made through any API process is seen on
 * the next read through every other. A cold product is rebuilt from MySQL
 * once across all processes (a Redis lock; the others wait for its copy), and
 * once per process (concurrent misses share one promise). The stock shown is
 * the sold-out gate's live count of units still available.
 */
export class ProductDetailCache {
  private readonly local = new LRUCache<number, Cached>({ max: 20_000, ttl: 5_000 });
  private readonly inflight = new Map<string, Promise<Cached>>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly catalog: CatalogRepository,
    private readonly gate: SoldOutGate,
    private readonly metrics: Metrics,
    private readonly ttlSeconds = 300,
  ) {
    if (!('productSetIfVersion' in redis)) redis.defineCommand('productSetIfVersion', { numberOfKeys: 2, lua: SET_IF_VERSION_LUA });
  }

  async get(productId: number): Promise<ProductView | null> {
    const [version, available] = await Promise.all([
      this.redis.get(this.keys.productDetailVersion(productId)).then((v) => v ?? '0'),
      this.gate.available(productId),
    ]);
    let entry = this.local.get(productId);
    if (entry && entry.version === version) {
      this.metrics.cacheRequests.inc({ cache: 'product_local', result: 'hit' });
    } else {
      this.metrics.cacheRequests.inc({ cache: 'product_local', result: 'miss' });
      entry = await this.shared(productId, version);
    }
    if (!entry.view) return null;
    return available === null ? entry.view : { ...entry.view, stock: available };
  }

  /** A product changed (update, remove, restock): every cached copy is stale from now on. */
  async invalidate(productId: number): Promise<void> {
    await this.redis.incr(this.keys.productDetailVersion(productId));
    await this.redis.del(this.keys.productDetail(productId));
    this.local.delete(productId);
  }

  private shared(productId: number, version: string): Promise<Cached> {
    const key = `${productId}:${version}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.load(productId, version).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async load(productId: number, version: string): Promise<Cached> {
    const fromRedis = await this.readShared(productId, version);
    if (fromRedis) return fromRedis;
    // One rebuild across every API process; the others wait for its copy.
    const lockKey = this.keys.productDetailLock(productId);
    if ((await this.redis.set(lockKey, '1', 'PX', 2_000, 'NX')) === 'OK') {
      try {
        return await this.rebuild(productId, version);
      } finally {
        await this.redis.del(lockKey);
      }
    }
    for (let waited = 0; waited < 1_000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
      const copy = await this.readShared(productId, version);
      if (copy) return copy;
    }
    return this.rebuild(productId, version);
  }

  private async readShared(productId: number, version: string): Promise<Cached | null> {
    const raw = await this.redis.get(this.keys.productDetail(productId));
    if (raw === null) {
      this.metrics.cacheRequests.inc({ cache: 'product_redis', result: 'miss' });
      return null;
    }
    const cached = JSON.parse(raw) as Cached;
    if (cached.version !== version) return null;
    this.metrics.cacheRequests.inc({ cache: 'product_redis', result: 'hit' });
    this.local.set(productId, cached);
    return cached;
  }

  private async rebuild(productId: number, version: string): Promise<Cached> {
    this.metrics.productDetailLoads.inc();
    const p = await this.catalog.findProduct(productId);
    const cached: Cached = { version, view: p && p.status === ProductStatus.ACTIVE ? toProductView(p) : null };
    await (this.redis as Redis & { productSetIfVersion(k1: string, k2: string, ...a: (string | number)[]): Promise<number> }).productSetIfVersion(
      this.keys.productDetail(productId),
      this.keys.productDetailVersion(productId),
      version,
      JSON.stringify(cached),
      cached.view ? this.ttlSeconds : 30,
    );
    this.local.set(productId, cached);
    return cached;
  }
}
