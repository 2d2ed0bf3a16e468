import { Cluster, Redis as SingleRedis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from './config';

/**
 * A connection to the system's Redis: one server (ioredis `Redis`) or a Redis Cluster (ioredis `Cluster`), as
 * REDIS_CLUSTER_URLS says. Both speak the same commands, scripts, pipelines and pub/sub; what only one of them has
 * (a single node's SCAN, `duplicate()`'s arguments) is not used outside this file. Every key a script, MULTI,
 * pipeline or MGET touches together shares one {hash tag} (keys.ts), so each such call lives in one cluster slot.
 */
export type Redis = SingleRedis | Cluster;

export { Cluster };

/**
 * 'command' clients fail fast when Redis is down (an API answers an error rather than hanging) and pipeline
 * automatically: commands issued in the same tick by concurrent requests go out in one write. 'worker' clients
 * (BullMQ, background jobs, plain SUBSCRIBE/PSUBSCRIBE) wait and retry forever. 'subscriber' clients are 'worker'
 * clients for sharded pub/sub (SSUBSCRIBE): on a cluster they keep one connection per master, since a sharded
 * channel is served by the node owning its slot (and followed to the replica that takes over).
 */
export type RedisRole = 'command' | 'worker' | 'subscriber';

/** Where Redis is and how durable a write must be before it is acknowledged: the config's REDIS_* settings. */
export type RedisTarget = Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_URLS' | 'REDIS_WAIT_REPLICAS' | 'REDIS_WAIT_TIMEOUT_MS'>;

const durability = new WeakMap<object, { replicas: number; timeoutMs: number }>();

/** Writes whose WAIT timed out short of REDIS_WAIT_REPLICAS, in this process (the write stood on its master alone). */
export const replicationShortfalls = { count: 0 };

/** Connection errors of this process's Redis clients (refused, reset, timed out), counted by role. */
export const connectionErrors: Record<RedisRole, number> = { command: 0, worker: 0, subscriber: 0 };
let errorLog: { warn(obj: object, msg: string): void } | null = null;
const lastLogged = new Map<RedisRole, number>();

/**
 * Where this process's Redis connection errors are logged: one warning per role every 10 s at most (a Redis that is
 * down for a minute is a handful of lines, not thousands), the rest counted in connectionErrors. Without it they are
 * only counted; the commands that meet them fail with their own errors either way.
 */
export function logRedisErrors(log: { warn(obj: object, msg: string): void }): void {
  errorLog = log;
}

function onConnectionError(role: RedisRole, err: Error): void {
  connectionErrors[role]++;
  const now = Date.now();
  if (!errorLog || now - (lastLogged.get(role) ?? 0) < 10_000) return;
  lastLogged.set(role, now);
  errorLog.warn({ err, role, errorsSoFar: connectionErrors[role] }, 'Redis connection error; ioredis reconnects');
}

function roleOptions(role: RedisRole): RedisOptions {
  return role === 'command'
    ? { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, commandTimeout: 5000, enableAutoPipelining: true }
    : { maxRetriesPerRequest: null, enableReadyCheck: true };
}

/** The startup nodes of REDIS_CLUSTER_URLS, and the credentials and TLS they share (taken from the first URL). */
function clusterNodes(urls: readonly string[]): { nodes: { host: string; port: number }[]; auth: RedisOptions } {
  const parsed = urls.map((u) => new URL(u));
  const first = parsed[0]!;
  const auth: RedisOptions = {
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return { nodes: parsed.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })), auth };
}

/**
 * The one way every process makes a Redis connection: a single server at REDIS_URL, or, when REDIS_CLUSTER_URLS
 * is set, a Cluster client seeded from those nodes (it discovers the rest and follows MOVED/ASK and failovers).
 * A plain URL (tests, tools) always makes a single-server client.
 */
export function createRedis(url: string, role: RedisRole, extra?: RedisOptions): SingleRedis;
export function createRedis(target: RedisTarget, role: RedisRole, extra?: RedisOptions): Redis;
export function createRedis(target: string | RedisTarget, role: RedisRole, extra: RedisOptions = {}): Redis {
  // Connected at once unless the caller asks otherwise (a spec that only looks at how a client was made).
  const options: RedisOptions = { ...roleOptions(role), ...extra, lazyConnect: extra.lazyConnect ?? false };
  if (typeof target === 'string') return watched(new SingleRedis(target, options), role);
  let client: Redis;
  if (target.REDIS_CLUSTER_URLS.length === 0) {
    client = new SingleRedis(target.REDIS_URL, options);
  } else {
    const { nodes, auth } = clusterNodes(target.REDIS_CLUSTER_URLS);
    const { enableAutoPipelining, enableOfflineQueue, enableReadyCheck, lazyConnect, ...perNode } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...perNode, ...auth },
      enableReadyCheck: enableReadyCheck ?? true,
      enableOfflineQueue: enableOfflineQueue ?? true,
      enableAutoPipelining: enableAutoPipelining ?? false,
      scaleReads: 'master',
      // A command that meets a failover (connection closed, CLUSTERDOWN, TRYAGAIN) is retried after these delays,
      // at most maxRedirections times in all (~2 s), which covers a replica's promotion at cluster-node-timeout 1-2 s.
      maxRedirections: 20,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      retryDelayOnMoved: 0,
      slotsRefreshTimeout: 2000,
      slotsRefreshInterval: 5000,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      shardedSubscribers: role === 'subscriber',
      lazyConnect,
    };
    client = new Cluster(nodes, clusterOptions);
  }
  const replicas = target.REDIS_WAIT_REPLICAS ?? (target.REDIS_CLUSTER_URLS.length > 0 ? 1 : 0);
  if (replicas > 0) durability.set(client, { replicas, timeoutMs: target.REDIS_WAIT_TIMEOUT_MS });
  return watched(client, role);
}

/** Every client has an error listener (ioredis would print "Unhandled error event" for each failed reconnect). */
function watched<T extends Redis>(client: T, role: RedisRole): T {
  client.on('error', (err: Error) => onConnectionError(role, err));
  return client;
}

/**
 * Holds the caller until the writes this client made to `key`'s node have reached REDIS_WAIT_REPLICAS replicas
 * (WAIT), or REDIS_WAIT_TIMEOUT_MS passed; a no-op when no replica is asked for. Replication is asynchronous: a
 * write a master acknowledged but had not yet sent to its replica is gone if that master dies and the replica
 * takes over. Call it after a write the caller is about to promise to someone (an accepted order, a counted view).
 * Returns the replicas that acknowledged (null: not asked). A timeout does not fail the write: it stands on its
 * master alone, counted in replicationShortfalls.
 *
 * WAIT blocks the connection it is sent on, and it must be the connection the write went out on (it waits for that
 * connection's own writes), which all of a process's commands to that node share. So WAITs are grouped: per hash
 * tag, at most one is in flight, and the next one, sent when it returns, covers every write finished meanwhile (one
 * WAIT per replication round trip, however many writes). After a WAIT that came back short (a replica down or
 * lagging), the tag's writes do not wait for SHORTFALL_PAUSE_MS (each counted as a shortfall), so a missing replica
 * stalls a connection for one timeout a second, not one per write.
 *
 * WAIT has no key, so on a cluster it rides in a pipeline behind a read of `key`: the pipeline goes to the node
 * owning key's slot, on that node's one connection.
 */
export async function waitForReplicas(redis: Redis, key: string): Promise<number | null> {
  const want = durability.get(redis);
  if (!want) return null;
  const tag = /\{([^}]+)\}/.exec(key)?.[1] ?? key;
  let groups = waitGroups.get(redis);
  if (!groups) waitGroups.set(redis, (groups = new Map<string, WaitGroup>()));
  let g = groups.get(tag);
  if (!g) groups.set(tag, (g = { inFlight: null, next: null, pausedUntilMs: 0 }));
  if (Date.now() < g.pausedUntilMs) {
    replicationShortfalls.count++;
    return 0;
  }
  const group = g;
  // Joining a WAIT not yet sent: it goes out after this caller's write was answered, so it covers it.
  let joined = group.next;
  if (!joined) {
    joined = (async () => {
      await Promise.resolve(); // group.next is set (below) before anything here runs
      while (group.inFlight) await group.inFlight.catch(() => undefined);
      // Sent now: a write answered from here on needs the next WAIT.
      group.next = null;
      const sent = sendWait(redis, key, want);
      group.inFlight = sent;
      try {
        return await sent;
      } finally {
        if (group.inFlight === sent) group.inFlight = null;
      }
    })();
    group.next = joined;
  }
  const acked = await joined;
  if (acked < want.replicas) {
    replicationShortfalls.count++;
    group.pausedUntilMs = Date.now() + SHORTFALL_PAUSE_MS;
  }
  return acked;
}

/** After a WAIT that came back short, how long its hash tag's writes go without waiting. */
const SHORTFALL_PAUSE_MS = 1000;
interface WaitGroup {
  inFlight: Promise<number> | null;
  next: Promise<number> | null;
  pausedUntilMs: number;
}
const waitGroups = new WeakMap<object, Map<string, WaitGroup>>();

async function sendWait(redis: Redis, key: string, want: { replicas: number; timeoutMs: number }): Promise<number> {
  if (!(redis instanceof Cluster)) return redis.wait(want.replicas, want.timeoutMs);
  const res = await redis.pipeline().exists(key).wait(want.replicas, want.timeoutMs).exec();
  const [err, n] = res?.[1] ?? [new Error('WAIT got no answer'), 0];
  if (err) throw err;
  return Number(n);
}

/**
 * Custom script commands called with their key count first (a variable number of keys) must not be auto-pipelined on
 * a cluster: ioredis routes an auto-pipelined custom command by its first argument, which for these is the count, not
 * a key, so it would batch the call with another node's commands and the whole batch would fail ("All keys in the
 * pipeline should belong to the same slots allocation group"). Sent on their own, they are routed by their keys.
 */
export function sendUnpipelined(redis: Redis, commands: readonly string[]): void {
  if (!(redis instanceof Cluster)) return;
  redis.options.autoPipeliningIgnoredCommands = [...new Set([...(redis.options.autoPipeliningIgnoredCommands ?? []), ...commands])];
}
