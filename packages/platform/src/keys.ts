/**
 * Every Redis key the system uses, built in one place. Keys that one Lua
 * script touches together share a {hash tag}, so they live in one Redis
 * Cluster slot.
 *
 * Accepted orders are spread over ORDER_SHARDS tags: a customer's
 * idempotency records, accepted orders and the shard's pending index all sit
 * in one slot, so accepting an order is one atomic script, and the
 * reconciler walks ORDER_SHARDS small indexes instead of scanning keys.
 */
export const ORDER_SHARDS = 64;

export function orderShardOf(userId: number): number {
  return userId % ORDER_SHARDS;
}

export function redisKeys(prefix: string) {
  const shardTag = (shard: number) => `{${prefix}:os${shard}}`;
  return {
    prefix,
    session: (tokenHash: string) => `${prefix}:session:${tokenHash}`,
    userSessions: (userId: number) => `${prefix}:user-sessions:${userId}`,
    /** The admin console's sessions (Bull Board): a cookie's token, never accepted as an API bearer token. */
    adminSession: (tokenHash: string) => `${prefix}:admin-session:${tokenHash}`,
    orderIdempotency: (userId: number, key: string) => `${shardTag(orderShardOf(userId))}:idem:${userId}:${key}`,
    acceptedOrder: (userId: number, orderId: string) => `${shardTag(orderShardOf(userId))}:order:${orderId}`,
    orderView: (userId: number, orderId: string) => `${shardTag(orderShardOf(userId))}:order-view:${orderId}`,
    pendingOrders: (shard: number) => `${shardTag(shard)}:pending`,
    userPendingOrders: (userId: number) => `${shardTag(orderShardOf(userId))}:user-pending:${userId}`,
    productSnapshot: (productId: number) => `${prefix}:product:${productId}`,
    /** What the accept path needs of a store (status, hours, zone, pickup lead time): written on every store change. */
    storeProfile: (storeId: number) => `${prefix}:store:${storeId}`,
    /** products.get's shared cache: the view, its version (bumped on every change) and the one-rebuilder lock, in one slot. */
    productDetail: (productId: number) => `{${prefix}:p${productId}}:detail:v2`,
    productDetailVersion: (productId: number) => `{${prefix}:p${productId}}:ver`,
    productDetailLock: (productId: number) => `{${prefix}:p${productId}}:rebuild`,
    /**
     * products.list's cached pages hold for one catalog version (every product change sets a new one) and, for the
     * popular sort, one views version (every view flush that moved MySQL's counts sets a new one). One slot, one MGET.
     */
    catalogVersion: `{${prefix}:catalog}:ver`,
    viewCountsVersion: `{${prefix}:catalog}:views-ver`,
    /** Pub/sub channel: a product changed (its id); every API process drops its local copy. */
    productChanges: `${prefix}:product-changes`,
    /**
     * View counts not yet in MySQL, in one slot: views land in `pending`; a
     * flush renames it to `batch-data` under the id in `batch`, applies it to
     * MySQL once (the id is the primary key of its record there), then drops it
     * and records MySQL's new totals in `flushed` (a mirror, so a shown count
     * is one read: flushed + pending + batch-data).
     */
    viewsPending: `{${prefix}:views}:pending`,
    viewsBatch: `{${prefix}:views}:batch`,
    viewsBatchData: `{${prefix}:views}:batch-data`,
    viewsFlushed: `{${prefix}:views}:flushed`,
    /** chat.onMessage: a thread's sharded pub/sub channel (hash tag: one slot per thread). */
    chatThread: (threadId: number) => `{${prefix}:chat:${threadId}}:messages`,
    /** chat.send's per-user fixed window counter (one key, one script). */
    chatSendRate: (userId: number) => `${prefix}:chat-rate:${userId}`,
    /** products.popular: the ranking snapshot (one JSON value, replaced whole) and the api's one-rebuilder lock when it is missing. */
    popularProducts: `${prefix}:popular-products`,
    popularProductsLock: `${prefix}:popular-products:rebuild`,
    /** The sold-out gate: every key in one slot, so one script can take all lines of an order at once. */
    gateAvailable: (productId: number) => `{${prefix}:gate}:avail:${productId}`,
    gateReservations: (productId: number) => `{${prefix}:gate}:res:${productId}`,
    gateReservedProducts: `{${prefix}:gate}:res-products`,
    gateReturned: (operationId: string) => `{${prefix}:gate}:returned:${operationId}`,
    /**
     * A waiting-room event's mark on one of its products ("eventId|opensAtMs|closesAtMs", expiring at closesAt), in the
     * gate's slot: the gate script refuses an order for the product without the event's admission token. The tokens
     * orders used (field "userId:ticket" → orderId: one order per token) and the log of uses the admission loop reads.
     */
    gateEvent: (productId: number) => `{${prefix}:gate}:event:${productId}`,
    gateTokensUsed: (eventId: number) => `{${prefix}:gate}:tokens-used:${eventId}`,
    gateTokensUsedLog: (eventId: number) => `{${prefix}:gate}:tokens-used-log:${eventId}`,
    /**
     * A waiting-room event's line, in one slot per event so each step is one script: meta (settings, ticket
     * sequence, admission credit, state), line (userId → ticket, first come first), seen (userId → last poll, ms),
     * admitted (userId → token expiry, ms: admitted and unused) and grants (userId → "ticket|expiresAtMs").
     */
    roomMeta: (eventId: number) => `{${prefix}:wr:${eventId}}:meta`,
    roomLine: (eventId: number) => `{${prefix}:wr:${eventId}}:line`,
    roomSeen: (eventId: number) => `{${prefix}:wr:${eventId}}:seen`,
    roomAdmitted: (eventId: number) => `{${prefix}:wr:${eventId}}:admitted`,
    roomGrants: (eventId: number) => `{${prefix}:wr:${eventId}}:grants`,
    /**
     * A first-come coupon: its meta hash (remaining, window, terms) and its holders hash (userId → A | R:<orderId> |
     * U:<orderId>), in one slot per coupon so every coupon script is atomic; both expire with the coupon.
     */
    couponMeta: (couponId: number) => `{${prefix}:c${couponId}}:meta`,
    couponHolders: (couponId: number) => `{${prefix}:c${couponId}}:holders`,
    customerLock: (userId: number) => `${prefix}:lock:customer:${userId}`,
    /** Pub/sub channel of a customer's order status changes (orders.onStatus). */
    orderEvents: (userId: number) => `${prefix}:order-events:${userId}`,
    orderEventsPattern: `${prefix}:order-events:*`,
    cronSlot: (key: string) => `${prefix}:cron:slot:${key}`,
    cronLease: (job: string) => `${prefix}:cron:lease:${job}`,
    /**
     * BullMQ's prefix for one queue: a hash tag of its own, so each queue's keys (and the Lua scripts BullMQ runs on
     * them) live in one Redis Cluster slot, and different queues in different slots.
     */
    bullPrefix: (queue: string) => `{${prefix}:bull:${queue}}`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
