import { tryLock, unlock, type RedisKeys, type Redis } from '@bazaar/platform';

export class LockBusyError extends Error {
  constructor(userId: number) {
    super(`customer ${userId} is being served by another worker`);
  }
}

/**
 * One customer's wallet and points are changed by one worker at a time
 * across the fleet. The lock expires (a paused or dead holder cannot block a
 * customer forever); when it does expire under a live holder, MySQL still
 * refuses to apply an order twice (primary key, state checks), so the lock is
 * about contention, never about correctness.
 */
export class CustomerLock {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlMs = 15_000,
    private readonly waitMs = 5_000,
  ) {}

  async withLock<T>(userId: number, fn: () => Promise<T>): Promise<T> {
    const key = this.keys.customerLock(userId);
    const until = Date.now() + this.waitMs;
    let token: string | null;
    for (let delay = 2; !(token = await tryLock(this.redis, key, this.ttlMs)); delay = Math.min(delay * 2, 50)) {
      if (Date.now() > until) throw new LockBusyError(userId);
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    }
    try {
      return await fn();
    } finally {
      await unlock(this.redis, key, token);
    }
  }
}
