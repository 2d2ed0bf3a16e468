import { ORDER_SHARDS, orderShardOf, waitForReplicas, type Redis, type RedisKeys } from '@bazaar/platform';
import { OrderStatus, type FailureReason } from '@bazaar/contracts';
import { acceptedOrder, type AcceptedOrder } from './payloads';

/**
 * Accept atomically, in the customer's shard slot: the idempotency record,
 * the accepted order, the shard's pending index and the customer's pending
 * index. A duplicate (same caller, same key) gets the first order's id back.
 */
const ACCEPT_LUA = `
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[5])
redis.call('HSET', KEYS[2], 'data', ARGV[3], 'status', 'PENDING')
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
return {1, ARGV[1]}
`;

/**
 * After the MySQL commit: record the outcome for readers, keep it a while,
 * drop it from the indexes, and drop the cached order view (every change
 * does: a status change, or a refund that leaves the status as it was — the
 * record's revision moves either way).
 */
const SETTLE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'reason', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[4])
return 1
`;

/**
 * Caches an order's view only if the accepted record still shows the status
 * and revision the view was read with: a settle that ran in between (and
 * dropped the cache) makes this a no-op, so a stale view is never cached
 * after the drop.
 */
const CACHE_VIEW_LUA = `
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
if (redis.call('HGET', KEYS[1], 'rev') or '0') ~= ARGV[4] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
`;

export interface AcceptResult {
  created: boolean;
  orderId: string;
  paramsHash: string;
}

export interface AcceptedRecord {
  order: AcceptedOrder;
  status: OrderStatus;
  reason: FailureReason | null;
  /** Moves on every settle (status change or refund): a cached view names the revision it was read at. */
  rev: string;
}

/** Marks a waiting order's cancellation as requested (only while it still waits). */
const REQUEST_CANCEL_LUA = `
if redis.call('HGET', KEYS[1], 'status') ~= 'PENDING' then return 0 end
redis.call('HSET', KEYS[1], 'cancelRequested', '1')
return 1
`;

type Commands = {
  bazaarRequestCancel(k1: string): Promise<number>;
  bazaarAccept(k1: string, k2: string, k3: string, k4: string, ...argv: (string | number)[]): Promise<[number, string]>;
  bazaarSettle(k1: string, k2: string, k3: string, k4: string, ...argv: (string | number)[]): Promise<number>;
  bazaarCacheView(k1: string, k2: string, ...argv: (string | number)[]): Promise<number>;
};

const pendingMember = (userId: number, orderId: string) => `${orderId}:${userId}`;

export function parsePendingMember(member: string): { orderId: string; userId: number } {
  const [orderId = '', userId = ''] = member.split(':');
  return { orderId, userId: Number(userId) };
}

/** Accepted, not yet settled orders in Redis: the API writes them, workers settle them, the reconciler sweeps them. */
export class AcceptedOrderStore {
  private readonly r: Redis & Commands;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
    private readonly settledTtlSeconds = 86400,
  ) {
    if (!('bazaarAccept' in redis)) {
      redis.defineCommand('bazaarAccept', { numberOfKeys: 4, lua: ACCEPT_LUA });
      redis.defineCommand('bazaarSettle', { numberOfKeys: 4, lua: SETTLE_LUA });
      redis.defineCommand('bazaarCacheView', { numberOfKeys: 2, lua: CACHE_VIEW_LUA });
      redis.defineCommand('bazaarRequestCancel', { numberOfKeys: 1, lua: REQUEST_CANCEL_LUA });
    }
    this.r = redis as Redis & Commands;
  }

  private userPendingKey(userId: number): string {
    return this.keys.userPendingOrders(userId);
  }

  async accept(order: AcceptedOrder, paramsHash: string, idempotencyTtlSeconds: number): Promise<AcceptResult> {
    const value = `${paramsHash}|${order.orderId}`;
    const idempotencyKey = this.keys.orderIdempotency(order.userId, order.idempotencyKey);
    const [created, stored] = await this.r.bazaarAccept(
      idempotencyKey,
      this.keys.acceptedOrder(order.userId, order.orderId),
      this.keys.pendingOrders(orderShardOf(order.userId)),
      this.userPendingKey(order.userId),
      value,
      pendingMember(order.userId, order.orderId),
      JSON.stringify(order),
      Date.parse(order.acceptedAt),
      idempotencyTtlSeconds,
    );
    // The customer is told "accepted" next: the record must survive its master's failover (REDIS_WAIT_REPLICAS).
    await waitForReplicas(this.r, idempotencyKey);
    const [hash = '', orderId = ''] = stored.split('|');
    return { created: created === 1, orderId, paramsHash: hash };
  }

  /** The idempotency record of (caller, key), if any. */
  async lookup(userId: number, idempotencyKey: string): Promise<{ orderId: string; paramsHash: string } | null> {
    const stored = await this.r.get(this.keys.orderIdempotency(userId, idempotencyKey));
    if (!stored) return null;
    const [paramsHash = '', orderId = ''] = stored.split('|');
    return { orderId, paramsHash };
  }

  async get(userId: number, orderId: string): Promise<AcceptedRecord | null> {
    const h = await this.r.hgetall(this.keys.acceptedOrder(userId, orderId));
    if (!h.data) return null;
    return {
      order: acceptedOrder.parse(JSON.parse(h.data)),
      status: (h.status as OrderStatus | undefined) ?? OrderStatus.PENDING,
      reason: (h.reason || null) as FailureReason | null,
      rev: h.rev ?? '0',
    };
  }

  async markSettled(userId: number, orderId: string, status: OrderStatus, reason: FailureReason | null): Promise<void> {
    await this.r.bazaarSettle(
      this.keys.acceptedOrder(userId, orderId),
      this.keys.pendingOrders(orderShardOf(userId)),
      this.userPendingKey(userId),
      this.keys.orderView(userId, orderId),
      status,
      reason ?? '',
      pendingMember(userId, orderId),
      this.settledTtlSeconds,
    );
  }

  /**
   * The customer asked to cancel a waiting order: its apply job, if it has
   * not started, cancels instead of applying. False when it no longer waits.
   */
  async requestCancel(userId: number, orderId: string): Promise<boolean> {
    return (await this.r.bazaarRequestCancel(this.keys.acceptedOrder(userId, orderId))) === 1;
  }

  /** Whether the customer asked to cancel this waiting order. */
  async cancelRequested(userId: number, orderId: string): Promise<boolean> {
    return (await this.r.hget(this.keys.acceptedOrder(userId, orderId), 'cancelRequested')) === '1';
  }

  /** A cached order view (JSON), if any. */
  cachedView(userId: number, orderId: string): Promise<string | null> {
    return this.r.get(this.keys.orderView(userId, orderId));
  }

  /** Caches a settled order's view read at the record's `status` and `rev` (see CACHE_VIEW_LUA). */
  async cacheView(userId: number, orderId: string, at: { status: OrderStatus; rev: string }, json: string, ttlSeconds = 600): Promise<boolean> {
    const keys = [this.keys.acceptedOrder(userId, orderId), this.keys.orderView(userId, orderId)] as const;
    return (await this.r.bazaarCacheView(...keys, at.status, json, ttlSeconds, at.rev)) === 1;
  }

  /** The customer's unsettled order ids, newest first. */
  async pendingOfUser(userId: number, limit: number): Promise<string[]> {
    const members = await this.r.zrevrange(this.userPendingKey(userId), 0, limit - 1);
    return members.map((m) => parsePendingMember(m).orderId);
  }

  /**
   * Unsettled orders accepted before `cutoffMs`, across all shards (oldest first per shard). One command per shard,
   * all issued at once: the shards live in different cluster slots (one explicit pipeline could not span them), and
   * an auto-pipelining client sends them in one write per node anyway.
   */
  async pendingOlderThan(cutoffMs: number, perShard: number): Promise<{ orderId: string; userId: number }[]> {
    const shards = await Promise.all(
      Array.from({ length: ORDER_SHARDS }, (_, s) => this.r.zrangebyscore(this.keys.pendingOrders(s), 0, cutoffMs, 'LIMIT', 0, perShard)),
    );
    return shards.flat().map(parsePendingMember);
  }

  /** Number of accepted, unsettled orders across all shards (one ZCARD per shard, as above). */
  async pendingCount(): Promise<number> {
    const counts = await Promise.all(Array.from({ length: ORDER_SHARDS }, (_, s) => this.r.zcard(this.keys.pendingOrders(s))));
    return counts.reduce((sum, c) => sum + c, 0);
  }
}
