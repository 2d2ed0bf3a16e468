import type { RedisKeys, Redis } from '@bazaar/platform';

/**
 * The Redis copy of first-come coupons: per coupon, in one slot, a meta hash
 * (remaining, from / until in ms, terms as JSON) and a holders hash
 * userId → `A` (claimed, available) | `R:<orderId>` (reserved by a waiting
 * order) | `U:<orderId>` (used by that order). Every script below runs with
 * KEYS = meta, holders, and is all or nothing. Every key expires at the
 * coupon's validUntil. MySQL stays the truth for claims: Redis only refuses
 * the storm early, so a unit Redis wrongly believes free is refused by
 * MySQL's guarded UPDATE, and lost state is rebuilt from MySQL.
 */

/** CLAIM: ARGV = userId, nowMs. Window, then one per customer, then a unit left. */
const CLAIM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local m = redis.call('HMGET', KEYS[1], 'remaining', 'from', 'until')
local now = tonumber(ARGV[2])
if now < tonumber(m[2]) or now >= tonumber(m[3]) then return 'NOT_ACTIVE' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'ALREADY' end
if tonumber(m[1]) <= 0 then return 'SOLD_OUT' end
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HSET', KEYS[2], ARGV[1], 'A')
redis.call('PEXPIREAT', KEYS[2], m[3])
return 'ok'
`;

/** GIVE_BACK (MySQL's claim failed with an error): a holder that is not used goes, and its unit comes back. ARGV = userId. */
const GIVE_BACK_LUA = `
local h = redis.call('HGET', KEYS[2], ARGV[1])
if not h or string.sub(h, 1, 2) == 'U:' then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'remaining', 1) end
return 1
`;

/** SOLD_OUT (MySQL refused: every unit is claimed, for good): the holder this claim recorded goes; nothing is left. ARGV = userId. */
const SOLD_OUT_LUA = `
if redis.call('HGET', KEYS[2], ARGV[1]) == 'A' then redis.call('HDEL', KEYS[2], ARGV[1]) end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'remaining', 0) end
return 1
`;

/**
 * DUPLICATE (MySQL has this customer's claim already; Redis had lost it): the
 * unit this attempt took comes back, the holder stays, set to MySQL's state of
 * the claim (ARGV[2]) unless Redis holds a reservation of its own. ARGV = userId, state.
 */
const DUPLICATE_LUA = `
local h = redis.call('HGET', KEYS[2], ARGV[1])
if h == 'A' or not h then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'remaining', 1)
  redis.call('PEXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'until'))
end
return 1
`;

/**
 * CONFIRM after MySQL committed the claim: the holder must be there. It is
 * missing only when the keys were lost after this claim took its unit and were
 * rebuilt from a snapshot without it (remaining then counts this unit as free:
 * take it), or are still missing (record the holder; the rebuild counts it). ARGV = userId, untilMs.
 */
const CONFIRM_LUA = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'A')
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('HGET', KEYS[1], 'remaining')) > 0 then
  redis.call('HINCRBY', KEYS[1], 'remaining', -1)
end
return 1
`;

/** RESERVE for an order: `A` → `R:<orderId>`, or already `R:<orderId>` (idempotent). ARGV = userId, orderId, nowMs. */
const RESERVE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local m = redis.call('HMGET', KEYS[1], 'from', 'until')
local now = tonumber(ARGV[3])
if now < tonumber(m[1]) or now >= tonumber(m[2]) then return 'NOT_ACTIVE' end
local h = redis.call('HGET', KEYS[2], ARGV[1])
local mine = 'R:' .. ARGV[2]
if h == mine then return 'ok' end
if h ~= 'A' then return 'UNAVAILABLE' end
redis.call('HSET', KEYS[2], ARGV[1], mine)
return 'ok'
`;

/** Compare-and-set of one holder: from ARGV[2] to ARGV[3] (ARGV[2] = '*': any existing holder). KEYS = holders. ARGV = userId, from, to. */
const SWAP_LUA = `
local h = redis.call('HGET', KEYS[1], ARGV[1])
if not h then return 0 end
if ARGV[2] ~= '*' and h ~= ARGV[2] then return 0 end
if h == ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;

/**
 * REBUILD (only when meta is missing): holders from MySQL's claims (ARGV[5..]
 * as userId, state pairs), keeping a Redis-only reservation of a claim MySQL
 * shows unused, and keeping holders MySQL does not know yet (claims in flight:
 * Redis took, MySQL has not committed) — their units are not free.
 * remaining = quantity − claimed (ARGV[1]) − those in flight. ARGV = free, fromMs, untilMs, terms, pairs…
 */
const REBUILD_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local old = {}
local flat = redis.call('HGETALL', KEYS[2])
for i = 1, #flat, 2 do old[flat[i]] = flat[i + 1] end
redis.call('DEL', KEYS[2])
for i = 5, #ARGV, 2 do
  local u, s = ARGV[i], ARGV[i + 1]
  local o = old[u]
  if s == 'A' and o and string.sub(o, 1, 2) == 'R:' then s = o end
  old[u] = nil
  redis.call('HSET', KEYS[2], u, s)
end
local inflight = 0
for u, s in pairs(old) do
  redis.call('HSET', KEYS[2], u, s)
  inflight = inflight + 1
end
local free = tonumber(ARGV[1]) - inflight
if free < 0 then free = 0 end
redis.call('HSET', KEYS[1], 'remaining', free, 'from', ARGV[2], 'until', ARGV[3], 'terms', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIREAT', KEYS[2], ARGV[3]) end
return free
`;

type Commands = {
  couponClaim(meta: string, holders: string, userId: number, nowMs: number): Promise<string>;
  couponGiveBack(meta: string, holders: string, userId: number): Promise<number>;
  couponSoldOut(meta: string, holders: string, userId: number): Promise<number>;
  couponDuplicate(meta: string, holders: string, userId: number, state: string): Promise<number>;
  couponConfirm(meta: string, holders: string, userId: number, untilMs: number): Promise<number>;
  couponReserve(meta: string, holders: string, userId: number, orderId: string, nowMs: number): Promise<string>;
  couponSwap(holders: string, userId: number, from: string, to: string): Promise<number>;
  couponRebuild(meta: string, holders: string, ...argv: (string | number)[]): Promise<number>;
};

/** A coupon's immutable terms as Redis keeps them (and as pricing needs them). */
export interface CouponStoreTerms {
  kind: 'FIXED' | 'PERCENT';
  value: number;
  maxDiscount: number | null;
  minOrderAmount: number;
  storeId: number | null;
}

/** What `init` and `rebuild` write. */
export interface CouponStoreRecord {
  id: number;
  quantity: number;
  /** Units MySQL shows claimed (0 at create). */
  claimed: number;
  validFromMs: number;
  validUntilMs: number;
  terms: CouponStoreTerms;
}

/** One MySQL claim for a rebuild: its holder state is `A`, `R:<orderId>` or `U:<orderId>`. */
export interface CouponHolderSnapshot {
  userId: number;
  state: string;
}

export type CouponClaimAnswer = 'ok' | 'SOLD_OUT' | 'ALREADY' | 'NOT_ACTIVE' | 'missing';
export type CouponReserveAnswer = 'ok' | 'UNAVAILABLE' | 'NOT_ACTIVE' | 'missing';

/** A holder's state: `A`, `R:<orderId>` or `U:<orderId>`. */
export type HolderState = { kind: 'A' } | { kind: 'R' | 'U'; orderId: string };

export function parseHolderState(s: string): HolderState | null {
  if (s === 'A') return { kind: 'A' };
  const m = /^([RU]):(.+)$/.exec(s);
  return m ? { kind: m[1] as 'R' | 'U', orderId: m[2]! } : null;
}

export const holderState = {
  available: 'A',
  reserved: (orderId: string) => `R:${orderId}`,
  used: (orderId: string) => `U:${orderId}`,
} as const;

export class CouponStore {
  private readonly r: Redis & Commands;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    if (!('couponClaim' in redis)) {
      redis.defineCommand('couponClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
      redis.defineCommand('couponGiveBack', { numberOfKeys: 2, lua: GIVE_BACK_LUA });
      redis.defineCommand('couponSoldOut', { numberOfKeys: 2, lua: SOLD_OUT_LUA });
      redis.defineCommand('couponDuplicate', { numberOfKeys: 2, lua: DUPLICATE_LUA });
      redis.defineCommand('couponConfirm', { numberOfKeys: 2, lua: CONFIRM_LUA });
      redis.defineCommand('couponReserve', { numberOfKeys: 2, lua: RESERVE_LUA });
      redis.defineCommand('couponSwap', { numberOfKeys: 1, lua: SWAP_LUA });
      redis.defineCommand('couponRebuild', { numberOfKeys: 2, lua: REBUILD_LUA });
    }
    this.r = redis as Redis & Commands;
  }

  private k(couponId: number): [string, string] {
    return [this.keys.couponMeta(couponId), this.keys.couponHolders(couponId)];
  }

  /** A new coupon (nobody holds it yet). Written only where no copy is, like a rebuild. */
  async init(record: CouponStoreRecord): Promise<void> {
    await this.rebuild(record, []);
  }

  /** Takes one unit for this customer: 'missing' means meta is gone (rebuild from MySQL, then retry). */
  claim(couponId: number, userId: number, nowMs: number): Promise<CouponClaimAnswer> {
    return this.r.couponClaim(...this.k(couponId), userId, nowMs) as Promise<CouponClaimAnswer>;
  }

  /** MySQL's claim failed with an error: the holder (unless used) goes, its unit comes back. True when it gave back. */
  async giveBack(couponId: number, userId: number): Promise<boolean> {
    return (await this.r.couponGiveBack(...this.k(couponId), userId)) === 1;
  }

  /** MySQL said sold out (final: quantity never changes): this claim's holder goes, remaining becomes 0. */
  async soldOut(couponId: number, userId: number): Promise<void> {
    await this.r.couponSoldOut(...this.k(couponId), userId);
  }

  /** MySQL said this customer claimed already: the unit comes back, the holder stays with MySQL's state (A, R:…, U:…). */
  async duplicate(couponId: number, userId: number, state: string): Promise<void> {
    await this.r.couponDuplicate(...this.k(couponId), userId, state);
  }

  /** After MySQL committed the claim: makes sure the holder is recorded (see CONFIRM_LUA). True when it had to. */
  async confirm(couponId: number, userId: number, validUntilMs: number): Promise<boolean> {
    return (await this.r.couponConfirm(...this.k(couponId), userId, validUntilMs)) === 1;
  }

  /** Holder `A` → `R:<orderId>` (or already that: 'ok' again). */
  reserve(couponId: number, userId: number, orderId: string, nowMs: number): Promise<CouponReserveAnswer> {
    return this.r.couponReserve(...this.k(couponId), userId, orderId, nowMs) as Promise<CouponReserveAnswer>;
  }

  /** `R:<orderId>` → `A`, compare-and-set: true exactly once per reservation. */
  async release(couponId: number, userId: number, orderId: string): Promise<boolean> {
    return (await this.r.couponSwap(this.keys.couponHolders(couponId), userId, holderState.reserved(orderId), holderState.available)) === 1;
  }

  /** Any existing holder → `U:<orderId>` (the order is PAID in MySQL, which is the truth). True when it changed. */
  async markUsed(couponId: number, userId: number, orderId: string): Promise<boolean> {
    return (await this.r.couponSwap(this.keys.couponHolders(couponId), userId, '*', holderState.used(orderId))) === 1;
  }

  /** `U:<orderId>` → `A` (the order was cancelled or fully refunded), compare-and-set: true exactly once. */
  async returnUsed(couponId: number, userId: number, orderId: string): Promise<boolean> {
    return (await this.r.couponSwap(this.keys.couponHolders(couponId), userId, holderState.used(orderId), holderState.available)) === 1;
  }

  /** The coupon's terms and window from meta; null when meta is missing. */
  async terms(couponId: number): Promise<(CouponStoreTerms & { validFromMs: number; validUntilMs: number }) | null> {
    const [terms, from, until] = await this.r.hmget(this.keys.couponMeta(couponId), 'terms', 'from', 'until');
    if (!terms || !from || !until) return null;
    return { ...(JSON.parse(terms) as CouponStoreTerms), validFromMs: Number(from), validUntilMs: Number(until) };
  }

  /** Units Redis believes left; null when meta is missing. */
  async remaining(couponId: number): Promise<number | null> {
    const v = await this.r.hget(this.keys.couponMeta(couponId), 'remaining');
    return v === null ? null : Number(v);
  }

  /** Every holder of one coupon (tests, reconciliation). */
  holders(couponId: number): Promise<Record<string, string>> {
    return this.r.hgetall(this.keys.couponHolders(couponId));
  }

  /** This customer's holder state of each coupon (null where none), one HGET per coupon (they live in different slots). */
  holderStates(couponIds: readonly number[], userId: number): Promise<(string | null)[]> {
    return Promise.all(couponIds.map((id) => this.r.hget(this.keys.couponHolders(id), String(userId))));
  }

  /**
   * Writes the coupon's copy from MySQL, only if meta is missing (another
   * process may have rebuilt it first: then nothing changes). Returns the
   * remaining it wrote, or null when a copy was there already. A claimed unit
   * is never re-opened: remaining is quantity − claimed − claims in flight.
   */
  async rebuild(record: CouponStoreRecord, holders: readonly CouponHolderSnapshot[]): Promise<number | null> {
    const free = Math.max(0, record.quantity - record.claimed);
    const res = await this.r.couponRebuild(
      ...this.k(record.id),
      free,
      record.validFromMs,
      record.validUntilMs,
      JSON.stringify(record.terms),
      ...holders.flatMap((h) => [h.userId, h.state]),
    );
    return res < 0 ? null : res;
  }
}
