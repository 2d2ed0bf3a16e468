import { Redis, type RedisOptions } from 'ioredis';

export { Redis };

export type RedisRole = 'command' | 'worker';

/**
 * 'command' clients fail fast when Redis is down (an API answers an error
 * rather than hanging) and pipeline automatically: commands issued in the
 * same tick by concurrent requests go out in one write. 'worker' clients
 * (BullMQ, background jobs) wait and retry forever.
 */
export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const base: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, commandTimeout: 5000, enableAutoPipelining: true };
  return new Redis(url, { ...base, ...extra, lazyConnect: false });
}
