import { LRUCache } from 'lru-cache';
import { ProductStatus, type ProductView } from '@bazaar/contracts';
import type { CatalogRepository } from '@bazaar/db';
import { rebuildOnce, type Metrics, type RedisKeys, type Redis } from '@bazaar/platform';
import type { ProductViewsStore, SoldOutGate } from '@bazaar/queue';
import { toProductView } from '../views/product.view';

/** What is cached: the product as MySQL had it at one version (null: no such product). */
interface Cached {
  version: string;
  view: ProductView | null;
}

/** A local entry also keeps the answer's JSON up to the live figures, built once per version. */
interface Entry extends Cached {
  /** `{"id":…,"updatedAt":"…","stock":` — the answer is head + stock + `,"viewCount":` + views + `}`. */
  head: string | null;
}

/** One read of one product: the cached product and its live figures. */
export interface ProductRead {
  entry: Entry & { view: ProductView; head: string };
  stock: number;
  viewCount: number;
}

/** Writes the rebuilt view only if no change bumped the version since the rebuild started reading. */
const SET_IF_VERSION_LUA = `
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`;

const headOf = (view: ProductView | null): string | null => {
  if (!view) return null;
  const { stock: _s, viewCount: _v, ...rest } = view;
  return `${JSON.stringify(rest).slice(0, -1)},"stock":`;
};

/**
 * products.get, built for read storms: an in-process LRU in front of a Redis
 * look-aside copy. Every entry carries the product's version, which every
 * change bumps; every read checks it, so a change made through any API
 * process is seen on the next read through every other. A cold product is
 * rebuilt from MySQL once across all processes (a Redis lock; the others wait
 * for its copy) and once per process (concurrent misses share one promise).
 *
 * Changes are also published (Redis pub/sub): each API process drops its
 * local copy at once, so memory does not hold stale products; correctness
 * does not rest on it, since a message can arrive after the next read.
 *
 * Reads arriving in the same turn of the event loop are served together: one
 * version GET per product, one MGET of the sold-out gate's live counts, one
 * script that counts their views (n views of a product: one HINCRBY) and
 * returns the counts not yet in MySQL. Each answer is sent only after its view
 * is counted in Redis, so an answered view is never lost.
 */
/**
 * A product changed: its version moves on (every process's copy is stale from the next read), the Redis copy goes,
 * and every process is told to drop its local one. What ProductDetailCache.invalidate does in Redis; a process with
 * no cache of its own (the scheduler's catalog repair) calls it directly.
 */
export async function productDetailChanged(redis: Redis, keys: RedisKeys, productId: number): Promise<void> {
  await redis.incr(keys.productDetailVersion(productId));
  await redis.del(keys.productDetail(productId));
  await redis.publish(keys.productChanges, String(productId));
}

export class ProductDetailCache {
  private readonly local = new LRUCache<number, Entry>({ max: 20_000, ttl: 60_000 });
  private readonly inflight = new Map<string, Promise<Entry>>();
  private waiting = new Map<number, { resolve: (r: ProductRead | null) => void; reject: (e: unknown) => void }[]>();
  private scheduled = false;
  private batchedReads = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly catalog: CatalogRepository,
    private readonly gate: SoldOutGate,
    private readonly views: ProductViewsStore,
    private readonly metrics: Metrics,
    private readonly subscriber: Redis | null = null,
    private readonly ttlSeconds = 300,
  ) {
    if (!('productSetIfVersion' in redis)) redis.defineCommand('productSetIfVersion', { numberOfKeys: 2, lua: SET_IF_VERSION_LUA });
  }

  /**
   * Subscribes to product changes: a changed product's local copy goes as soon
   * as the message comes, and so does whatever else `alsoForget` keeps of it.
   */
  async listen(alsoForget: (productId: number) => void = () => undefined): Promise<void> {
    if (!this.subscriber) return;
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.keys.productChanges) return;
      this.local.delete(Number(message));
      alsoForget(Number(message));
    });
    await this.subscriber.subscribe(this.keys.productChanges);
  }

  async close(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }

  /** Reads a product and counts one view of it; null when there is no such (live) product, and then no view is counted. */
  read(productId: number): Promise<ProductRead | null> {
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(productId);
      this.batchedReads++;
      if (list) list.push({ resolve, reject });
      else this.waiting.set(productId, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.serve());
      }
    });
  }

  /** The view as products.get answers it. */
  async get(productId: number): Promise<ProductView | null> {
    const r = await this.read(productId);
    return r && { ...r.entry.view, stock: r.stock, viewCount: r.viewCount };
  }

  /** A product changed (update, remove, restock): every cached copy is stale from now on. */
  async invalidate(productId: number): Promise<void> {
    this.local.delete(productId);
    await productDetailChanged(this.redis, this.keys, productId);
  }

  /** Whether this process holds a local copy (tests: pub/sub reached it). */
  holds(productId: number): boolean {
    return this.local.has(productId);
  }

  private async serve(): Promise<void> {
    const batch = this.waiting;
    this.waiting = new Map();
    this.scheduled = false;
    const ids = [...batch.keys()];
    this.metrics.productReadBatches.inc();
    this.metrics.productReads.inc(this.batchedReads);
    this.batchedReads = 0;
    try {
      const [versions, available] = await Promise.all([
        Promise.all(ids.map((id) => this.redis.get(this.keys.productDetailVersion(id)))),
        this.gate.availableMany(ids),
      ]);
      const entries = await Promise.all(ids.map((id, i) => this.entry(id, versions[i] ?? '0', batch.get(id)?.length ?? 1)));
      // Views are counted only for products that exist.
      const found = ids.flatMap((id, i) => {
        const entry = entries[i];
        return entry?.view && entry.head !== null ? [{ id, entry: entry as ProductRead['entry'], stock: available[i] ?? entry.view.stock }] : [];
      });
      const tallies = await this.views.count(found.map((f) => [f.id, batch.get(f.id)?.length ?? 0] as const));
      const reads = new Map<number, ProductRead>();
      found.forEach((f, k) => {
        const tally = tallies[k] ?? { flushed: null, unflushed: 0 };
        reads.set(f.id, { entry: f.entry, stock: f.stock, viewCount: (tally.flushed ?? f.entry.view.viewCount) + tally.unflushed });
      });
      for (const [id, waiters] of batch) for (const w of waiters) w.resolve(reads.get(id) ?? null);
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    }
  }

  private async entry(productId: number, version: string, readers: number): Promise<Entry> {
    const entry = this.local.get(productId);
    if (entry && entry.version === version) {
      this.metrics.cacheRequests.inc({ cache: 'product_local', result: 'hit' }, readers);
      return entry;
    }
    this.metrics.cacheRequests.inc({ cache: 'product_local', result: 'miss' }, readers);
    const key = `${productId}:${version}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.load(productId, version)
        .then((c) => this.keep(productId, c))
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private keep(productId: number, cached: Cached): Entry {
    const entry: Entry = { ...cached, head: headOf(cached.view) };
    this.local.set(productId, entry);
    return entry;
  }

  private async load(productId: number, version: string): Promise<Cached> {
    const fromRedis = await this.readShared(productId, version);
    if (fromRedis) return fromRedis;
    // One rebuild across every API process; the others wait for its copy.
    return rebuildOnce(
      this.redis,
      this.keys.productDetailLock(productId),
      { lockMs: 2_000, waitMs: 1_000, pollMs: 20 },
      () => this.readShared(productId, version),
      () => this.rebuild(productId, version),
    );
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
    return cached;
  }
}
