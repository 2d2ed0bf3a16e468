import type { RedisKeys, Redis } from '@bazaar/platform';
import type { SoldOutGate } from './sold-out-gate';

/**
 * A waiting-room event's line in Redis: one slot per event (KEYS = meta, line, seen, admitted, grants), so that
 * entering, polling and each admission step are one script each. Time is Redis's own clock (TIME), so api
 * processes and scheduler replicas with skewed clocks agree on who waited and whose token expired.
 */
const KEYS_PER_ROOM = 5;

/**
 * ENTER / STATUS: ARGV = userId, '1' to enter (take a ticket if not in line) or '0' to only look.
 * Returns {-1} no such room, {-2} closed, {2, "ticket|expiresAtMs"} admitted (unused, unexpired), {3} sold out,
 * {0} not in line, {1, rank, opensAtMs, admitPerSecond, nowMs} waiting (rank 0 = next). Either marks the caller
 * as seen now: the admission loop passes over those who stopped polling.
 */
const LOOK_LUA = `
local m = redis.call('HMGET', KEYS[1], 'closesAt', 'state', 'opensAt', 'rate')
if not m[1] then return {-1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(m[1]) then return {-2} end
local grant = redis.call('HGET', KEYS[5], ARGV[1])
if grant then
  local exp = redis.call('ZSCORE', KEYS[4], ARGV[1])
  if exp and tonumber(exp) > now then return {2, grant} end
end
if m[2] == 'SOLD_OUT' then return {3} end
local ticket = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not ticket then
  if ARGV[2] ~= '1' then return {0} end
  ticket = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('ZADD', KEYS[2], ticket, ARGV[1])
end
redis.call('ZADD', KEYS[3], now, ARGV[1])
return {1, redis.call('ZRANK', KEYS[2], ARGV[1]), m[3], m[4], now}
`;

/**
 * TICK, one admission step (the loop runs it every ~100 ms, one runner at a time): ARGV = soldOut ('1'/'0'),
 * abandonAfterMs, maxScan, then the token uses ("userId:ticket") the gate logged since the last step.
 * Used and expired admissions leave `admitted`; then, once open and not sold out, callers are admitted first
 * come first (lowest ticket) while the credit allows — admitPerSecond per second of Redis time, at most one
 * second's worth banked — and fewer than maxActive are admitted and unused. A caller not seen for
 * abandonAfterMs leaves the line instead. Returns {admitted, used, expired, abandoned, waiting, active, state}.
 */
const TICK_LUA = `
local m = redis.call('HMGET', KEYS[1], 'opensAt', 'closesAt', 'rate', 'maxActive', 'ttlMs', 'credit', 'lastMs')
if not m[1] then return {-1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local used = 0
for i = 4, #ARGV do
  local user, ticket = string.match(ARGV[i], '^(%d+):(%d+)$')
  if user then
    local grant = redis.call('HGET', KEYS[5], user)
    if grant and string.match(grant, '^(%d+)|') == ticket then
      redis.call('HDEL', KEYS[5], user)
      redis.call('ZREM', KEYS[4], user)
      used = used + 1
    end
  end
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 10000)
for _, user in ipairs(gone) do
  redis.call('HDEL', KEYS[5], user)
  redis.call('ZREM', KEYS[4], user)
end
local state = 'OPEN'
if now >= tonumber(m[2]) then state = 'CLOSED' elseif ARGV[1] == '1' then state = 'SOLD_OUT' end
redis.call('HSET', KEYS[1], 'state', state)
local admitted, abandoned = 0, 0
if state == 'OPEN' and now >= tonumber(m[1]) then
  local rate = tonumber(m[3])
  -- Credit accrues from the opening (or the last step after it), at most one second's worth.
  local last = math.max(tonumber(m[7] or m[1]), tonumber(m[1]))
  if last > now then last = now end
  local credit = math.min(rate, tonumber(m[6] or 0) + (now - last) * rate / 1000)
  local slots = math.min(math.floor(credit), tonumber(m[4]) - redis.call('ZCARD', KEYS[4]))
  local cutoff = now - tonumber(ARGV[2])
  local scanned = 0
  local ttl = tonumber(m[5])
  while admitted < slots and scanned < tonumber(ARGV[3]) do
    local batch = redis.call('ZRANGE', KEYS[2], 0, slots - admitted - 1, 'WITHSCORES')
    if #batch == 0 then break end
    for j = 1, #batch, 2 do
      local user, ticket = batch[j], batch[j + 1]
      scanned = scanned + 1
      redis.call('ZREM', KEYS[2], user)
      local seen = redis.call('ZSCORE', KEYS[3], user)
      redis.call('ZREM', KEYS[3], user)
      if (not seen) or tonumber(seen) < cutoff then
        abandoned = abandoned + 1
      else
        local exp = now + ttl
        redis.call('ZADD', KEYS[4], exp, user)
        redis.call('HSET', KEYS[5], user, ticket .. '|' .. exp)
        admitted = admitted + 1
      end
    end
  end
  redis.call('HSET', KEYS[1], 'credit', tostring(credit - admitted), 'lastMs', now)
  if admitted > 0 then redis.call('HINCRBY', KEYS[1], 'admittedTotal', admitted) end
else
  redis.call('HSET', KEYS[1], 'credit', '0', 'lastMs', now)
end
return {admitted, used, #gone, abandoned, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[4]), state}
`;

/** CREATE a room's meta unless it exists (ARGV = field, value, …); the line keeps its tickets across re-creates. */
const CREATE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`;

type Commands = {
  roomLook(...args: (string | number)[]): Promise<(number | string)[]>;
  roomTick(...args: (string | number)[]): Promise<(number | string)[]>;
  roomCreate(...args: (string | number)[]): Promise<number>;
};

export interface RoomSettings {
  eventId: number;
  opensAtMs: number;
  closesAtMs: number;
  admitPerSecond: number;
  maxActive: number;
  tokenTtlSeconds: number;
}

export type RoomLook =
  | { state: 'WAITING'; rank: number; opensAtMs: number; admitPerSecond: number; nowMs: number }
  | { state: 'ADMITTED'; ticket: number; expiresAtMs: number }
  | { state: 'SOLD_OUT' }
  | { state: 'NOT_IN_LINE' }
  | { state: 'CLOSED' }
  | { state: 'NO_ROOM' };

export interface RoomTick {
  admitted: number;
  used: number;
  expired: number;
  abandoned: number;
  waiting: number;
  active: number;
  state: 'OPEN' | 'SOLD_OUT' | 'CLOSED';
}

export class WaitingRoomStore {
  private readonly r: Redis & Commands;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    if (!('roomLook' in redis)) {
      redis.defineCommand('roomLook', { numberOfKeys: KEYS_PER_ROOM, lua: LOOK_LUA });
      redis.defineCommand('roomTick', { numberOfKeys: KEYS_PER_ROOM, lua: TICK_LUA });
      redis.defineCommand('roomCreate', { numberOfKeys: 1, lua: CREATE_LUA });
    }
    this.r = redis as Redis & Commands;
  }

  private roomKeys(eventId: number): string[] {
    const k = this.keys;
    return [k.roomMeta(eventId), k.roomLine(eventId), k.roomSeen(eventId), k.roomAdmitted(eventId), k.roomGrants(eventId)];
  }

  /** Creates the room's meta if it is missing (a new event, or Redis lost it); true when it was created. */
  async create(s: RoomSettings): Promise<boolean> {
    const fields = {
      opensAt: s.opensAtMs,
      closesAt: s.closesAtMs,
      rate: s.admitPerSecond,
      maxActive: s.maxActive,
      ttlMs: s.tokenTtlSeconds * 1000,
      state: 'OPEN',
      credit: 0,
    };
    const created = await this.r.roomCreate(this.keys.roomMeta(s.eventId), ...Object.entries(fields).flat());
    // Everything of the room goes a day after it closes.
    const at = Math.ceil(s.closesAtMs / 1000) + 86_400;
    await Promise.all(this.roomKeys(s.eventId).map((key) => this.r.expireat(key, at)));
    return created === 1;
  }

  /** waitingRoom.enter (enter: true) or waitingRoom.status (enter: false) for one caller. */
  async look(eventId: number, userId: number, enter: boolean): Promise<RoomLook> {
    const [code, a, b, c, d] = await this.r.roomLook(...this.roomKeys(eventId), userId, enter ? '1' : '0');
    switch (Number(code)) {
      case 1:
        return { state: 'WAITING', rank: Number(a), opensAtMs: Number(b), admitPerSecond: Number(c), nowMs: Number(d) };
      case 2: {
        const [ticket = '0', exp = '0'] = String(a).split('|');
        return { state: 'ADMITTED', ticket: Number(ticket), expiresAtMs: Number(exp) };
      }
      case 3:
        return { state: 'SOLD_OUT' };
      case 0:
        return { state: 'NOT_IN_LINE' };
      case -2:
        return { state: 'CLOSED' };
      default:
        return { state: 'NO_ROOM' };
    }
  }

  /** One admission step (see TICK_LUA). */
  async tick(eventId: number, soldOut: boolean, abandonAfterMs: number, maxScan: number, used: readonly string[]): Promise<RoomTick | null> {
    const res = await this.r.roomTick(...this.roomKeys(eventId), soldOut ? '1' : '0', abandonAfterMs, maxScan, ...used);
    if (Number(res[0]) === -1) return null;
    const [admitted, u, expired, abandoned, waiting, active, state] = res;
    return {
      admitted: Number(admitted),
      used: Number(u),
      expired: Number(expired),
      abandoned: Number(abandoned),
      waiting: Number(waiting),
      active: Number(active),
      state: String(state) as RoomTick['state'],
    };
  }

  /** The room's counts without changing anything: waiting, admitted-and-unused, state, admitted so far. */
  async counts(eventId: number): Promise<{ waiting: number; active: number; state: string | null; admittedTotal: number }> {
    const k = this.keys;
    const [[, waiting], [, active], [, meta]] = (await this.r
      .multi()
      .zcard(k.roomLine(eventId))
      .zcard(k.roomAdmitted(eventId))
      .hmget(k.roomMeta(eventId), 'state', 'admittedTotal')
      .exec()) as [[null, number], [null, number], [null, (string | null)[]]];
    return { waiting, active, state: meta[0] ?? null, admittedTotal: Number(meta[1] ?? 0) };
  }
}

/** A waiting-room event as MySQL holds it (what its Redis state is made from). */
export interface RoomEvent {
  id: number;
  productIds: readonly number[];
  opensAt: Date;
  closesAt: Date;
  admitPerSecond: number;
  maxActive: number;
  tokenTtlSeconds: number;
}

/**
 * An event's Redis state from its MySQL row: the room (if missing) and its products' marks in the sold-out gate.
 * Idempotent; true when the room had to be created (new, or lost by Redis). The api (createEvent, a lost room on
 * enter/status) and the admission loop (every sync) both call it.
 */
export async function materializeRoom(rooms: WaitingRoomStore, gate: SoldOutGate, e: RoomEvent): Promise<boolean> {
  const opensAtMs = e.opensAt.getTime();
  const closesAtMs = e.closesAt.getTime();
  const created = await rooms.create({
    eventId: e.id,
    opensAtMs,
    closesAtMs,
    admitPerSecond: e.admitPerSecond,
    maxActive: e.maxActive,
    tokenTtlSeconds: e.tokenTtlSeconds,
  });
  await gate.markEvent({ id: e.id, productIds: e.productIds, opensAtMs, closesAtMs });
  return created;
}
