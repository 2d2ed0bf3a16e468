import { randomUUID } from 'node:crypto';
import type { Redis } from './redis';

/** Deletes the lock only if the token still holds it: it may have expired and been taken by another. */
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** Takes `key` for `ms` if nobody holds it: the holder's token, or null. The lock expires if its holder dies. */
export async function tryLock(redis: Redis, key: string, ms: number): Promise<string | null> {
  const token = randomUUID();
  return (await redis.set(key, token, 'PX', ms, 'NX')) === 'OK' ? token : null;
}

/** Releases `key` if `token` still holds it. */
export async function unlock(redis: Redis, key: string, token: string): Promise<void> {
  await redis.eval(RELEASE_LUA, 1, key, token);
}

/** Runs fn holding `key` (for at most `ms`), or not at all when another holds it. */
export async function withLock<T>(redis: Redis, key: string, ms: number, fn: () => Promise<T>): Promise<{ held: true; result: T } | { held: false }> {
  const token = await tryLock(redis, key, ms);
  if (!token) return { held: false };
  try {
    return { held: true, result: await fn() };
  } finally {
    await unlock(redis, key, token);
  }
}

/**
 * One rebuild across processes: the caller that takes `lockKey` runs `build`
 * (which publishes its result where `read` finds it); the others look with
 * `read` every `pollMs` for up to `waitMs`, then run `fallback` themselves
 * (the rebuilder is slow or gone).
 */
export async function rebuildOnce<T>(
  redis: Redis,
  lockKey: string,
  timing: { lockMs: number; waitMs: number; pollMs: number },
  read: () => Promise<T | null>,
  build: () => Promise<T>,
  fallback: () => Promise<T> = build,
): Promise<T> {
  const built = await withLock(redis, lockKey, timing.lockMs, build);
  if (built.held) return built.result;
  for (let waited = 0; waited < timing.waitMs; waited += timing.pollMs) {
    await new Promise((r) => setTimeout(r, timing.pollMs));
    const found = await read();
    if (found !== null) return found;
  }
  return fallback();
}
