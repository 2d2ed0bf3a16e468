import { Cluster, Redis as SingleRedis } from 'ioredis';
import { connectionErrors, createRedis, logRedisErrors, sendUnpipelined, waitForReplicas, type RedisTarget } from './redis';
import { createMetrics } from './metrics';

/** Clients that never connect (lazyConnect): only how they are made is under test here. */
describe('createRedis', () => {
  const single: RedisTarget = { REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_URLS: [], REDIS_WAIT_REPLICAS: undefined, REDIS_WAIT_TIMEOUT_MS: 100 };
  const cluster: RedisTarget = { ...single, REDIS_CLUSTER_URLS: ['redis://u:p%40ss@127.0.0.1:2', 'redis://127.0.0.1:3'] };
  const made: (SingleRedis | Cluster)[] = [];
  const make = (target: RedisTarget | string, role: 'command' | 'worker' | 'subscriber') => {
    const r = typeof target === 'string' ? createRedis(target, role, { lazyConnect: true }) : createRedis(target, role, { lazyConnect: true });
    r.on('error', () => undefined);
    made.push(r);
    return r;
  };
  afterEach(() => {
    for (const r of made.splice(0)) r.disconnect();
  });

  it('makes a single Redis at REDIS_URL without REDIS_CLUSTER_URLS, and asks no replica by default', async () => {
    const r = make(single, 'command');
    expect(r).toBeInstanceOf(SingleRedis);
    expect(await waitForReplicas(r, 'k')).toBeNull();
  });

  it('makes a Cluster seeded from every URL, with the first one’s credentials, sharded subscribers only for subscribers', () => {
    const c = make(cluster, 'subscriber') as Cluster;
    expect(c).toBeInstanceOf(Cluster);
    expect((c as unknown as { startupNodes: unknown }).startupNodes).toEqual([
      { host: '127.0.0.1', port: 2 },
      { host: '127.0.0.1', port: 3 },
    ]);
    expect(c.options.redisOptions).toMatchObject({ username: 'u', password: 'p@ss', maxRetriesPerRequest: null });
    expect(c.status).toBe('wait');
    expect(c.options.shardedSubscribers).toBe(true);
    expect((make(cluster, 'command') as Cluster).options).toMatchObject({ shardedSubscribers: false, enableAutoPipelining: true });
  });

  it('sends variable-key scripts unpipelined on a cluster only (auto-pipelining would route them by their key count)', () => {
    const c = make(cluster, 'command') as Cluster;
    sendUnpipelined(c, ['gateTake']);
    sendUnpipelined(c, ['gateTake', 'gateRelease']);
    expect(c.options.autoPipeliningIgnoredCommands).toEqual(['gateTake', 'gateRelease']);
    const s = make(single, 'command') as SingleRedis;
    sendUnpipelined(s, ['gateTake']);
    expect(s.options.autoPipeliningIgnoredCommands).toEqual([]);
  });

  it('a plain URL is always a single Redis (tests and tools)', () => {
    expect(make('redis://127.0.0.1:1', 'worker')).toBeInstanceOf(SingleRedis);
  });
});

describe('Redis connection errors', () => {
  it('are listened to on every client, logged at most once per role every 10 s and counted in /metrics', async () => {
    const warnings: object[] = [];
    logRedisErrors({ warn: (obj) => warnings.push(obj) });
    const before = connectionErrors.worker;
    // A port nobody listens on: every reconnect fails, fast.
    const r = createRedis('redis://127.0.0.1:1', 'worker', { retryStrategy: () => 20 });
    const printed: unknown[] = [];
    const origError = console.error;
    console.error = (...args: unknown[]) => printed.push(args);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      console.error = origError;
      r.disconnect();
    }
    expect(connectionErrors.worker - before).toBeGreaterThan(3);
    expect(warnings).toHaveLength(1);
    expect(printed).toEqual([]); // no "[ioredis] Unhandled error event"
    const metrics = createMetrics('test');
    const line = /bazaar_redis_connection_errors_total\{role="worker"[^}]*\} (\d+)/.exec(await metrics.registry.getSingleMetricAsString('bazaar_redis_connection_errors_total'));
    expect(Number(line?.[1])).toBe(connectionErrors.worker);
  });
});
