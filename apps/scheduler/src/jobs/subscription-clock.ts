import type { Config, RedisKeys, Redis } from '@bazaar/platform';

/**
 * The subscription job's clock: the wall clock, or, for child-process tests only, the wall clock plus an
 * offset in ms read from the Redis key SUBSCRIPTION_TEST_CLOCK_KEY (under the run's key prefix) on each
 * tick. Refused outside NODE_ENV=test, so production can never be moved in time.
 */
export function subscriptionClock(config: Pick<Config, 'NODE_ENV' | 'SUBSCRIPTION_TEST_CLOCK_KEY'>, redis: Redis, keys: RedisKeys): () => Promise<Date> {
  const key = config.SUBSCRIPTION_TEST_CLOCK_KEY;
  if (key === undefined) return () => Promise.resolve(new Date());
  if (config.NODE_ENV !== 'test') throw new Error('SUBSCRIPTION_TEST_CLOCK_KEY is only for NODE_ENV=test');
  return async () => new Date(Date.now() + Number((await redis.get(`${keys.prefix}:${key}`)) ?? 0));
}
