import { z } from 'zod';
import { id } from '@bazaar/contracts';
import { rebuildOnce, type RedisKeys, type Redis } from '@bazaar/platform';

/** The products.popular ranking as kept in Redis: one JSON value, always replaced whole. */
export const popularSnapshot = z.strictObject({
  computedAt: z.iso.datetime(),
  windowStart: z.iso.datetime(),
  items: z.array(
    z.strictObject({
      id,
      storeId: id,
      name: z.string(),
      price: z.number().int().min(0),
      unitsSold: z.number().int().min(1),
    }),
  ),
});
export type PopularSnapshot = z.infer<typeof popularSnapshot>;

/**
 * The popular-products snapshot in Redis. The scheduler replaces it on every
 * refresh with one SET (a reader sees the old ranking or the new one, never a
 * mix); the api only writes one where there is none (SET NX), so its fallback
 * never overwrites a fresher ranking the scheduler wrote meanwhile.
 */
export class PopularProductsStore {
  private last: { raw: string; snapshot: PopularSnapshot | null } | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async write(snapshot: PopularSnapshot, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.keys.popularProducts, JSON.stringify(popularSnapshot.parse(snapshot)), 'EX', ttlSeconds);
  }

  /** Writes the snapshot only if there is none; false when one was there. */
  async writeIfAbsent(snapshot: PopularSnapshot, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.set(this.keys.popularProducts, JSON.stringify(popularSnapshot.parse(snapshot)), 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  /** The current snapshot; null when there is none (or it is not one we can read: treated as missing, and replaced on the next refresh). */
  async read(): Promise<PopularSnapshot | null> {
    const raw = await this.redis.get(this.keys.popularProducts);
    if (raw === null) return null;
    // The same snapshot is read many times between two refreshes: parse it once.
    if (this.last?.raw !== raw) {
      let parsed: PopularSnapshot | null = null;
      try {
        const r = popularSnapshot.safeParse(JSON.parse(raw));
        parsed = r.success ? r.data : null;
      } catch {
        parsed = null; // not JSON
      }
      this.last = { raw, snapshot: parsed };
    }
    return this.last.snapshot;
  }

  /** Seconds the snapshot has left (-2 when there is none). */
  ttl(): Promise<number> {
    return this.redis.ttl(this.keys.popularProducts);
  }

  /** One computation across processes when the snapshot is missing: the lock holder builds, the others wait for its snapshot (rebuildOnce). */
  rebuildOnce(
    timing: { lockMs: number; waitMs: number; pollMs: number },
    build: () => Promise<PopularSnapshot>,
    fallback: () => Promise<PopularSnapshot>,
  ): Promise<PopularSnapshot> {
    return rebuildOnce(this.redis, this.keys.popularProductsLock, timing, () => this.read(), build, fallback);
  }
}
