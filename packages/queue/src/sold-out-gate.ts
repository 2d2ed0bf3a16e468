import { sendUnpipelined, waitForReplicas, type Redis, type RedisKeys } from '@bazaar/platform';

/**
 * TAKE: all lines of an order at once, or none. KEYS = n available counters,
 * then n reservation hashes, then the reserved-products set, then n
 * waiting-room event marks, then the token-use hash and log of the token's
 * event. ARGV = orderId, n, n quantities, "userId|acceptedAtMs", n product
 * ids, nowMs, the token's event id ('0': no token), the token's field
 * ("userId:ticket"). Returns {1} taken (or already taken by this order),
 * {0, i} line i does not fit, {-1, i, j, …} those lines' counters are missing
 * (rebuild them, then retry), {2, i} line i is in an open waiting-room event
 * and the order has no admission token of that event, {3} the token was used
 * by another order. The admission check comes first: an order without its
 * token never takes a unit, nor triggers a rebuild.
 */
const TAKE_LUA = `
local n = tonumber(ARGV[2])
local now = tonumber(ARGV[4 + 2 * n])
local tokenEvent = ARGV[5 + 2 * n]
local field = ARGV[6 + 2 * n]
local needsToken = false
for i = 1, n do
  local ev = redis.call('GET', KEYS[2 * n + 1 + i])
  if ev then
    local id, opens, closes = string.match(ev, '^(%d+)|(%d+)|(%d+)$')
    if id and now >= tonumber(opens) and now < tonumber(closes) then
      if id ~= tokenEvent then return {2, i} end
      needsToken = true
    end
  end
end
if needsToken then
  local usedBy = redis.call('HGET', KEYS[3 * n + 2], field)
  if usedBy and usedBy ~= ARGV[1] then return {3} end
end
local missing = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then
  table.insert(missing, 1, -1)
  return missing
end
if redis.call('HEXISTS', KEYS[n + 1], ARGV[1]) == 1 then return {1} end
for i = 1, n do
  if tonumber(redis.call('GET', KEYS[i])) < tonumber(ARGV[2 + i]) then return {0, i} end
end
for i = 1, n do
  redis.call('DECRBY', KEYS[i], ARGV[2 + i])
  redis.call('HSET', KEYS[n + i], ARGV[1], ARGV[2 + i] .. '|' .. ARGV[3 + n])
  redis.call('SADD', KEYS[2 * n + 1], ARGV[3 + n + i])
end
if needsToken then
  redis.call('HSET', KEYS[3 * n + 2], field, ARGV[1])
  redis.call('EXPIRE', KEYS[3 * n + 2], 2592000)
  redis.call('RPUSH', KEYS[3 * n + 3], field)
  redis.call('EXPIRE', KEYS[3 * n + 3], 2592000)
end
return {1}
`;

/**
 * MARK a waiting-room event's products in the gate's slot (KEYS = their event marks; ARGV = "eventId|opensAtMs|closesAtMs",
 * opensAtMs, closesAtMs): set where a product has no mark, has this event's, or has one of an event opening later (a
 * product is in at most one event at a time, so the earliest unclosed event holds it). Returns the marks set.
 */
const MARK_EVENT_LUA = `
local set = 0
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  local opens = v and tonumber(string.match(v, '^%d+|(%d+)|'))
  if (not v) or v == ARGV[1] or (opens and opens > tonumber(ARGV[2])) then
    redis.call('SET', KEYS[i], ARGV[1], 'PXAT', ARGV[3])
    set = set + 1
  end
end
return set
`;

/**
 * POLL for the admission loop: whether every one of the event's products is sold out (1; 0 if any has units or a
 * counter is missing), and up to ARGV[1] token uses taken from the log (KEYS = n counters, then the log).
 */
const ROOM_POLL_LUA = `
local n = #KEYS - 1
local soldOut = 1
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if (not v) or tonumber(v) > 0 then soldOut = 0 end
end
local used = redis.call('LPOP', KEYS[n + 1], ARGV[1])
if not used then used = {} end
table.insert(used, 1, soldOut)
return used
`;

/**
 * RELEASE when an accepted order reaches PAID, FAILED or CANCELLED: its
 * reservations go; the units come back to the counters only when
 * ARGV[2] = '1' (failed, cancelled, expired: MySQL's stock is as if the
 * order never was) — exactly once, because only the HDEL that removes the
 * reservation gives back. A missing counter is left missing (its rebuild
 * counts from MySQL). KEYS = n counters, then n reservation hashes.
 */
const RELEASE_LUA = `
local n = (#KEYS) / 2
local given = 0
for i = 1, n do
  local res = redis.call('HGET', KEYS[n + i], ARGV[1])
  if res and redis.call('HDEL', KEYS[n + i], ARGV[1]) == 1 and ARGV[2] == '1' then
    if redis.call('EXISTS', KEYS[i]) == 1 then
      local qty = tonumber(string.match(res, '^(%d+)'))
      redis.call('INCRBY', KEYS[i], qty)
      given = given + qty
    end
  end
end
return given
`;

/** RETURN units of a settled (PAID) order that is cancelled or refunded: once per operation id. */
const RETURN_LUA = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[i]) end
end
return 1
`;

/** Raise a counter that exists (restock); a missing one is rebuilt from MySQL when needed. */
const ADD_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return -1
`;

/**
 * REBUILD's last step: set the counter to MySQL's stock minus the units
 * still held by unsettled reservations — unless another process rebuilt it
 * first — and drop the reservations MySQL shows settled.
 */
const SET_REBUILT_LUA = `
local set = redis.call('SET', KEYS[1], ARGV[1], 'NX')
for i = 2, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
if set then return 1 else return 0 end
`;

type Commands = {
  gateTake(...args: (string | number)[]): Promise<number[]>;
  gateRelease(...args: (string | number)[]): Promise<number>;
  gateReturn(...args: (string | number)[]): Promise<number>;
  gateAdd(key: string, qty: number): Promise<number>;
  gateSetRebuilt(...args: (string | number)[]): Promise<number>;
  gateMarkEvent(...args: (string | number)[]): Promise<number>;
  gateRoomPoll(...args: (string | number)[]): Promise<(number | string)[]>;
};

export type TakeResult =
  | { ok: true }
  | { ok: false; productId: number }
  | { ok: 'missing'; productIds: number[] }
  /** The product is in an open waiting-room event and the order has no admission token of that event. */
  | { ok: 'admission'; productId: number }
  /** The admission token was used by another order. */
  | { ok: 'token_used' };

/** An order's admission token, verified by the caller (signature, owner, expiry): which event and which admission. */
export interface GateAdmission {
  eventId: number;
  userId: number;
  ticket: number;
}

export interface GateLine {
  productId: number;
  quantity: number;
}

export interface Reservation {
  orderId: string;
  quantity: number;
  userId: number;
  acceptedAtMs: number;
}

/** What a rebuild needs from MySQL, read in one consistent snapshot. */
export type StockSnapshot = (
  productId: number,
  reservedOrderIds: string[],
) => Promise<{ stock: number; recordedOrderIds: string[]; settledOrderIds: string[] }>;

/**
 * The sold-out gate: per-product available counters in Redis, so a storm of
 * orders on a sold-out product is refused at the door instead of queued.
 * MySQL stays the truth (the worker's conditional decrement still guards);
 * a lost counter is rebuilt from MySQL's stock minus the units reserved by
 * accepted, unsettled orders.
 */
export class SoldOutGate {
  private readonly r: Redis & Commands;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    if (!('gateTake' in redis)) {
      redis.defineCommand('gateTake', { lua: TAKE_LUA });
      redis.defineCommand('gateRelease', { lua: RELEASE_LUA });
      redis.defineCommand('gateReturn', { lua: RETURN_LUA });
      redis.defineCommand('gateAdd', { numberOfKeys: 1, lua: ADD_LUA });
      redis.defineCommand('gateSetRebuilt', { numberOfKeys: 2, lua: SET_REBUILT_LUA });
      redis.defineCommand('gateMarkEvent', { lua: MARK_EVENT_LUA });
      redis.defineCommand('gateRoomPoll', { lua: ROOM_POLL_LUA });
      sendUnpipelined(redis, ['gateTake', 'gateRelease', 'gateReturn', 'gateMarkEvent', 'gateRoomPoll']);
    }
    this.r = redis as Redis & Commands;
  }

  /**
   * Reserve every line for this order, or nothing. Idempotent per order id. A line whose product is in an open
   * waiting-room event needs `admission` of that event, and the admission is then used by this order (one order each).
   */
  async take(orderId: string, userId: number, lines: GateLine[], acceptedAtMs: number, admission?: GateAdmission): Promise<TakeResult> {
    const n = lines.length;
    const tokenEvent = admission?.eventId ?? 0;
    const keys = [
      ...lines.map((l) => this.keys.gateAvailable(l.productId)),
      ...lines.map((l) => this.keys.gateReservations(l.productId)),
      this.keys.gateReservedProducts,
      ...lines.map((l) => this.keys.gateEvent(l.productId)),
      this.keys.gateTokensUsed(tokenEvent),
      this.keys.gateTokensUsedLog(tokenEvent),
    ];
    const argv = [
      orderId,
      n,
      ...lines.map((l) => l.quantity),
      `${userId}|${acceptedAtMs}`,
      ...lines.map((l) => l.productId),
      acceptedAtMs,
      String(tokenEvent),
      admission ? `${admission.userId}:${admission.ticket}` : '',
    ];
    const res = await this.r.gateTake(keys.length, ...keys, ...argv);
    const [code, ...rest] = res;
    if (code === 1) {
      // Units taken for an order about to be accepted: on a replica before the customer hears yes (REDIS_WAIT_REPLICAS).
      await waitForReplicas(this.r, keys[0]!);
      return { ok: true };
    }
    if (code === 0) return { ok: false, productId: lines[(rest[0] ?? 1) - 1]!.productId };
    if (code === 2) return { ok: 'admission', productId: lines[(rest[0] ?? 1) - 1]!.productId };
    if (code === 3) return { ok: 'token_used' };
    return { ok: 'missing', productIds: rest.map((i) => lines[i - 1]!.productId) };
  }

  /** Marks a waiting-room event's products (see MARK_EVENT_LUA); returns how many marks were set. */
  markEvent(event: { id: number; productIds: readonly number[]; opensAtMs: number; closesAtMs: number }): Promise<number> {
    if (event.closesAtMs <= Date.now()) return Promise.resolve(0);
    const keys = event.productIds.map((p) => this.keys.gateEvent(p));
    return this.r.gateMarkEvent(keys.length, ...keys, `${event.id}|${event.opensAtMs}|${event.closesAtMs}`, event.opensAtMs, event.closesAtMs);
  }

  /** The event's mark on a product ("eventId|opensAtMs|closesAtMs"), or null. */
  eventMark(productId: number): Promise<string | null> {
    return this.r.get(this.keys.gateEvent(productId));
  }

  /** For the admission loop: whether all of an event's products are sold out, and up to `max` token uses from its log. */
  async pollRoom(eventId: number, productIds: readonly number[], max: number): Promise<{ soldOut: boolean; used: string[] }> {
    const keys = [...productIds.map((p) => this.keys.gateAvailable(p)), this.keys.gateTokensUsedLog(eventId)];
    const [soldOut, ...used] = await this.r.gateRoomPoll(keys.length, ...keys, max);
    return { soldOut: Number(soldOut) === 1, used: used.map(String) };
  }

  /** The order settled: drop its reservations; give the units back unless it was paid. Returns units given back. */
  release(orderId: string, productIds: number[], giveBack: boolean): Promise<number> {
    const keys = [...productIds.map((p) => this.keys.gateAvailable(p)), ...productIds.map((p) => this.keys.gateReservations(p))];
    return this.r.gateRelease(keys.length, ...keys, orderId, giveBack ? '1' : '0');
  }

  /** Units of a paid order come back (cancel, refund): once per operation id. */
  async returnUnits(operationId: string, lines: GateLine[]): Promise<boolean> {
    const keys = [this.keys.gateReturned(operationId), ...lines.map((l) => this.keys.gateAvailable(l.productId))];
    return (await this.r.gateReturn(keys.length, ...keys, 30 * 86400, ...lines.map((l) => l.quantity))) === 1;
  }

  /** A new product's counter. */
  async init(productId: number, stock: number): Promise<void> {
    await this.r.set(this.keys.gateAvailable(productId), stock);
  }

  /** Drops a counter that may be wrong (a restock whose raise failed): the next take, or the catalog repair, rebuilds it from MySQL. */
  async forget(productId: number): Promise<void> {
    await this.r.del(this.keys.gateAvailable(productId));
  }

  /** Restock: raise the counter if it exists (a missing one is rebuilt from MySQL anyway). */
  async add(productId: number, quantity: number): Promise<void> {
    await this.r.gateAdd(this.keys.gateAvailable(productId), quantity);
  }

  async available(productId: number): Promise<number | null> {
    const v = await this.r.get(this.keys.gateAvailable(productId));
    return v === null ? null : Number(v);
  }

  /** Several products' counters in one command (they share the gate's slot); null where a counter is missing. */
  async availableMany(productIds: readonly number[]): Promise<(number | null)[]> {
    if (productIds.length === 0) return [];
    const vs = await this.r.mget(productIds.map((id) => this.keys.gateAvailable(id)));
    return vs.map((v) => (v === null ? null : Number(v)));
  }

  async reservations(productId: number): Promise<Reservation[]> {
    const all = await this.r.hgetall(this.keys.gateReservations(productId));
    return Object.entries(all).map(([orderId, v]) => {
      const [q = '0', u = '0', at = '0'] = v.split('|');
      return { orderId, quantity: Number(q), userId: Number(u), acceptedAtMs: Number(at) };
    });
  }

  /** Products that may hold reservations (for the sweeper). */
  reservedProducts(): Promise<string[]> {
    return this.r.smembers(this.keys.gateReservedProducts);
  }

  /**
   * Rebuilds a lost counter: snapshot the reservations, read MySQL's stock and
   * which of those orders are settled in one consistent snapshot, then set
   * stock − units held by the unsettled ones (if nobody else did meanwhile).
   * While the counter is missing no order can take from it, so no
   * reservation can appear between the two reads.
   */
  async rebuild(productId: number, snapshot: StockSnapshot): Promise<number> {
    const reserved = await this.reservations(productId);
    const { stock, recordedOrderIds, settledOrderIds } = await snapshot(
      productId,
      reserved.map((r) => r.orderId),
    );
    // Units of orders MySQL has recorded are already counted in its stock; the others are held only here.
    const recorded = new Set(recordedOrderIds);
    const held = reserved.filter((r) => !recorded.has(r.orderId)).reduce((s, r) => s + r.quantity, 0);
    // Settled orders' reservations go now (their own release then finds nothing to give back twice);
    // an order still awaiting payment keeps its reservation until it settles.
    await this.r.gateSetRebuilt(this.keys.gateAvailable(productId), this.keys.gateReservations(productId), Math.max(0, stock - held), ...settledOrderIds);
    return (await this.available(productId)) ?? 0;
  }
}
