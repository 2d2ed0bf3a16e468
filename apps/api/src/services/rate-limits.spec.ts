import { createMetrics, createRedis, loadConfig, type Redis } from '@bazaar/platform';
import { RateLimitNotes, RateLimits } from './rate-limits';

describe('RateLimitNotes', () => {
  it('answers no headers when no limit applied', () => {
    expect(new RateLimitNotes().headers()).toEqual({});
  });

  it('a batch answers its most restrictive limit: the lowest remaining, then the longest wait; Retry-After from the refusals', () => {
    const notes = new RateLimitNotes();
    notes.note({ limit: 600, remaining: 590, resetSeconds: 50 });
    notes.note({ limit: 20, remaining: 3, resetSeconds: 1 });
    notes.note({ limit: 10, remaining: 3, resetSeconds: 8 });
    expect(notes.headers()).toEqual({ 'ratelimit-limit': '10', 'ratelimit-remaining': '3', 'ratelimit-reset': '8' });
    notes.note({ limit: 5, remaining: 0, resetSeconds: 30, retryAfterSeconds: 30 });
    notes.note({ limit: 7, remaining: 0, resetSeconds: 2, retryAfterSeconds: 2 });
    expect(notes.headers()).toEqual({ 'ratelimit-limit': '5', 'ratelimit-remaining': '0', 'ratelimit-reset': '30', 'retry-after': '30' });
  });
});

describe('RateLimits with Redis unreachable', () => {
  let redis: Redis;
  beforeAll(() => {
    // Nothing listens on port 1: the client never becomes ready.
    redis = createRedis('redis://127.0.0.1:1', 'command', { retryStrategy: () => null });
    redis.on('error', () => undefined);
  });
  afterAll(() => redis.disconnect());

  it('goes on limiting in this process (the in-memory insurance limiter), and never throws anything but TOO_MANY_REQUESTS', async () => {
    const table = loadConfig({ RATE_LIMITS: 'orders.place=user:3/60' }).RATE_LIMITS!;
    const limits = new RateLimits(table, redis, 'bzunit', createMetrics('api'));
    const call = { rateLimits: new RateLimitNotes(), log: { warn: jest.fn() } };
    for (let i = 0; i < 3; i++) await limits.take('orders.place', 'user', 42, call);
    await expect(limits.take('orders.place', 'user', 42, call)).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    await limits.take('orders.place', 'user', 43, call);
    // Procedures without a limit in a scope are not counted at all.
    expect(limits.limits('orders.place', 'email')).toBe(false);
    expect(limits.limits('products.get', 'user')).toBe(false);
    expect(limits.limits('products.get', 'ip')).toBe(true);
  });
});
