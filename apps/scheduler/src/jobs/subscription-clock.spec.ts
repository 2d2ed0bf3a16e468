import { redisKeys, type Redis } from '@bazaar/platform';
import { cycleKey } from './place-subscriptions.job';
import { subscriptionClock } from './subscription-clock';

const keys = redisKeys('t');
const redis = { get: (k: string) => Promise.resolve(k === 't:clock' ? '60000' : null) } as unknown as Redis;

describe('subscriptionClock', () => {
  it('is the wall clock without a test key', async () => {
    const t = (await subscriptionClock({ NODE_ENV: 'production', SUBSCRIPTION_TEST_CLOCK_KEY: undefined }, redis, keys)()).getTime();
    expect(Math.abs(t - Date.now())).toBeLessThan(1000);
  });
  it('adds the Redis offset under NODE_ENV=test, and is refused otherwise', async () => {
    const t = (await subscriptionClock({ NODE_ENV: 'test', SUBSCRIPTION_TEST_CLOCK_KEY: 'clock' }, redis, keys)()).getTime();
    expect(Math.abs(t - Date.now() - 60_000)).toBeLessThan(1000);
    expect(() => subscriptionClock({ NODE_ENV: 'production', SUBSCRIPTION_TEST_CLOCK_KEY: 'clock' }, redis, keys)).toThrow(/only for NODE_ENV=test/);
  });
});

describe('cycleKey', () => {
  it('is a valid idempotency key from the smallest to the largest subscription id', () => {
    for (const k of [cycleKey(1, 0, 0), cycleKey(Number.MAX_SAFE_INTEGER, 999_999, 3)]) expect(k).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(cycleKey(7, 3, 0)).toBe('sub-7-c3');
    expect(cycleKey(7, 3, 2)).toBe('sub-7-c3-r2');
  });
});
