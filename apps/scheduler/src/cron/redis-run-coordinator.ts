import { withLock, type RedisKeys, type Redis } from '@bazaar/platform';

/**
 * node-cron's distributed mode asks shouldRun(key) once per task and tick
 * (key = name + the tick's time); the first replica to SET NX the key runs
 * it, every other replica skips that tick.
 */
export class RedisRunCoordinator {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async shouldRun(key: string, ttlMs: number): Promise<boolean> {
    const ok = await this.redis.set(this.keys.cronSlot(key), String(process.pid), 'PX', Math.max(ttlMs, 60_000), 'NX');
    return ok === 'OK';
  }
}

/**
 * A lease with an expiry held while a job runs, so that a run slower than its
 * interval never overlaps the next tick's run on another replica. Released
 * only by its holder (compare-and-delete); if the holder dies, it expires.
 */
export class JobLease {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async withLease<T>(job: string, leaseMs: number, fn: () => Promise<T>): Promise<{ ran: true; result: T } | { ran: false }> {
    const r = await withLock(this.redis, this.keys.cronLease(job), leaseMs, fn);
    return r.held ? { ran: true, result: r.result } : { ran: false };
  }
}
