import { randomBytes } from 'node:crypto';
import { createRedis, loadConfig, redisKeys, type Redis, type RedisKeys } from '@bazaar/platform';
import { testEnv } from '../../../test/support/test-env';
import { JobLease, RedisRunCoordinator } from '../src/cron/redis-run-coordinator';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A promise with its resolver: lets a test decide when a leased job finishes. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/**
 * The scheduler's Redis coordination: one run per tick across replicas, and
 * a lease that keeps a slow run from overlapping the next one. Several
 * clients stand in for several scheduler replicas.
 */
describe('RedisRunCoordinator and JobLease (Redis)', () => {
  const keys: RedisKeys = redisKeys(`${testEnv().REDIS_PREFIX}:run-coordinator`);
  const clients: Redis[] = [];
  let redis: Redis;

  beforeAll(() => {
    const config = loadConfig({ ...testEnv() });
    for (let i = 0; i < 4; i++) clients.push(createRedis(config.REDIS_URL, 'command'));
    redis = clients[0]!;
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.quit()));
  });

  const unique = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;
  const replica = (i: number) => clients[i % clients.length]!;

  describe('RedisRunCoordinator.shouldRun', () => {
    it('lets exactly one of 20 concurrent callers run a tick', async () => {
      const key = unique('reconcile-orders:2026-01-01T00:00:00Z');
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => new RedisRunCoordinator(replica(i), keys).shouldRun(key, 1_000)));
      expect(answers.filter(Boolean)).toHaveLength(1);
      // The slot outlives the tick (at least a minute), so a late replica does not run it either.
      expect(await new RedisRunCoordinator(redis, keys).shouldRun(key, 1_000)).toBe(false);
      expect(await redis.pttl(keys.cronSlot(key))).toBeGreaterThan(50_000);
    });

    it('lets each different key run once', async () => {
      const tickKeys = Array.from({ length: 10 }, (_, t) => unique(`tick-${t}`));
      const calls = tickKeys.flatMap((key) => Array.from({ length: 5 }, (_, i) => ({ key, i })));
      const answers = await Promise.all(calls.map(({ key, i }) => new RedisRunCoordinator(replica(i), keys).shouldRun(key, 1_000)));
      for (const key of tickKeys) {
        expect({ key, runs: answers.filter((ok, n) => ok && calls[n]!.key === key).length }).toEqual({ key, runs: 1 });
      }
    });
  });

  describe('JobLease.withLease', () => {
    it('skips a second concurrent holder, and runs the next one after release', async () => {
      const job = unique('lease-job');
      const release = gate();
      const first = new JobLease(replica(0), keys).withLease(job, 10_000, async () => {
        await release.promise;
        return 'first';
      });
      await sleep(20);
      expect(await new JobLease(replica(1), keys).withLease(job, 10_000, async () => 'second')).toEqual({ ran: false });

      release.open();
      expect(await first).toEqual({ ran: true, result: 'first' });
      expect(await redis.exists(keys.cronLease(job))).toBe(0);
      expect(await new JobLease(replica(2), keys).withLease(job, 10_000, async () => 'third')).toEqual({ ran: true, result: 'third' });
    });

    it('lets only one of 20 concurrent holders run', async () => {
      const job = unique('lease-race');
      const release = gate();
      let running = 0;
      const attempts = Array.from({ length: 20 }, (_, i) =>
        new JobLease(replica(i), keys).withLease(job, 10_000, async () => {
          running++;
          await release.promise;
          return i;
        }),
      );
      await sleep(50);
      release.open();
      const results = await Promise.all(attempts);
      expect(results.filter((r) => r.ran)).toHaveLength(1);
      expect(running).toBe(1);
    });

    it('releases the lease when the job throws', async () => {
      const job = unique('lease-throws');
      await expect(
        new JobLease(redis, keys).withLease(job, 10_000, async () => {
          throw new Error('job failed');
        }),
      ).rejects.toThrow('job failed');
      expect(await new JobLease(redis, keys).withLease(job, 10_000, async () => 'next')).toEqual({ ran: true, result: 'next' });
    });

    it('expires a lease whose holder never releases it after leaseMs', async () => {
      const job = unique('lease-stuck');
      const stuck = gate();
      const holder = new JobLease(replica(0), keys).withLease(job, 300, () => stuck.promise);
      await sleep(50);
      const ttl = await redis.pttl(keys.cronLease(job));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300);
      expect(await new JobLease(replica(1), keys).withLease(job, 300, async () => 'early')).toEqual({ ran: false });

      await sleep(400);
      expect(await new JobLease(replica(2), keys).withLease(job, 300, async () => 'after expiry')).toEqual({ ran: true, result: 'after expiry' });

      stuck.open();
      await holder;
    });

    it('never deletes a lease another holder took after its own expired', async () => {
      const job = unique('lease-taken-over');
      const key = keys.cronLease(job);
      const slowDone = gate();
      const slow = new JobLease(replica(0), keys).withLease(job, 150, async () => {
        await slowDone.promise;
        return 'slow';
      });
      await sleep(250); // the slow holder's lease has expired; it is still running

      const nextDone = gate();
      const next = new JobLease(replica(1), keys).withLease(job, 10_000, async () => {
        await nextDone.promise;
        return 'next';
      });
      await sleep(20);
      const nextToken = await redis.get(key);
      expect(nextToken).not.toBeNull();

      // The slow holder finishes and releases: the lease it no longer owns must stay.
      slowDone.open();
      expect(await slow).toEqual({ ran: true, result: 'slow' });
      expect(await redis.get(key)).toBe(nextToken);
      expect(await new JobLease(replica(2), keys).withLease(job, 10_000, async () => 'third')).toEqual({ ran: false });

      nextDone.open();
      expect(await next).toEqual({ ran: true, result: 'next' });
      expect(await redis.exists(key)).toBe(0);
    });
  });
});
