import { waitForReplicas, type Redis, type RedisKeys } from '@bazaar/platform';

/**
 * COUNT: add views (ARGV = productId, n, productId, n, …; n may be 0 to only
 * read) and return, per product, MySQL's flushed total as last mirrored here
 * (-1 when unknown) and the views not yet in MySQL: pending plus those of a
 * batch being flushed. KEYS = pending, batch-data, flushed.
 */
const COUNT_LUA = `
local out = {}
for i = 1, #ARGV, 2 do
  local n = tonumber(ARGV[i + 1])
  local pending
  if n > 0 then pending = redis.call('HINCRBY', KEYS[1], ARGV[i], n) else pending = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') end
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[3], ARGV[i]) or '-1')
  out[#out + 1] = pending + tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
end
return out
`;

/**
 * READ, counting nothing: per product (ARGV = product ids) the same pair as
 * COUNT returns, with one HMGET per hash (a list page of 100 products is 3
 * calls, not 300). KEYS = pending, batch-data, flushed.
 */
const READ_LUA = `
local p = redis.call('HMGET', KEYS[1], unpack(ARGV))
local b = redis.call('HMGET', KEYS[2], unpack(ARGV))
local f = redis.call('HMGET', KEYS[3], unpack(ARGV))
local out = {}
for i = 1, #ARGV do
  out[#out + 1] = tonumber(f[i] or '-1')
  out[#out + 1] = tonumber(p[i] or '0') + tonumber(b[i] or '0')
end
return out
`;

/**
 * CLAIM a batch to flush. An unfinished batch (its flusher died) is handed out
 * again under its own id; otherwise pending views become a new batch under
 * ARGV[1]. Returns {id, productId, n, productId, n, …} or {} when nothing waits.
 * KEYS = batch, batch-data, pending.
 */
const CLAIM_LUA = `
local id = redis.call('GET', KEYS[1])
if not id then
  if redis.call('EXISTS', KEYS[3]) == 0 then return {} end
  redis.call('RENAME', KEYS[3], KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1])
  id = ARGV[1]
end
local out = redis.call('HGETALL', KEYS[2])
table.insert(out, 1, id)
return out
`;

/**
 * COMPLETE: batch ARGV[1] is in MySQL; drop it and mirror MySQL's new totals
 * (ARGV[2..] = productId, total, …) in one step, so flushed + unflushed never
 * counts a view twice or not at all. Only if it is still the current batch.
 * KEYS = batch, batch-data, flushed.
 */
const COMPLETE_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
return 1
`;

interface Commands {
  viewsCount(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<number[]>;
  viewsRead(k1: string, k2: string, k3: string, ...productIds: number[]): Promise<number[]>;
  viewsClaim(k1: string, k2: string, k3: string, id: string): Promise<string[]>;
  viewsComplete(k1: string, k2: string, k3: string, id: string, ...totals: (string | number)[]): Promise<number>;
}

export interface ViewBatch {
  id: string;
  counts: Map<number, number>;
}

export interface ViewTally {
  /** MySQL's total as last mirrored in Redis, or null when Redis does not know it (use MySQL's). */
  flushed: number | null;
  /** Views counted but not yet in MySQL. */
  unflushed: number;
}

/**
 * Product view counts on their way to MySQL. Views are counted in Redis (one
 * HINCRBY per product per call, however many views it carries); the
 * scheduler claims them as a batch, applies it to MySQL exactly once (the
 * batch id is a primary key there, written in the same transaction as the
 * counts) and then drops it. A flusher that dies leaves its batch claimed:
 * the next flush takes the same batch, same id, and MySQL's key tells whether
 * it was already applied. Views counted meanwhile wait in a fresh pending hash.
 */
export class ProductViewsStore {
  private readonly r: Redis & Commands;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    if (!('viewsCount' in redis)) {
      redis.defineCommand('viewsCount', { numberOfKeys: 3, lua: COUNT_LUA });
      redis.defineCommand('viewsRead', { numberOfKeys: 3, lua: READ_LUA });
      redis.defineCommand('viewsClaim', { numberOfKeys: 3, lua: CLAIM_LUA });
      redis.defineCommand('viewsComplete', { numberOfKeys: 3, lua: COMPLETE_LUA });
    }
    this.r = redis as Redis & Commands;
  }

  /** Adds views (n = 0 only reads) and returns each product's tally, in order. */
  async count(views: readonly (readonly [productId: number, n: number])[]): Promise<ViewTally[]> {
    if (views.length === 0) return [];
    const args: (string | number)[] = [];
    for (const [productId, n] of views) args.push(productId, n);
    const tallies = pairs(await this.r.viewsCount(this.keys.viewsPending, this.keys.viewsBatchData, this.keys.viewsFlushed, ...args));
    // An answered read's view is counted for good: on a replica before the answer goes (REDIS_WAIT_REPLICAS).
    if (views.some(([, n]) => n > 0)) await waitForReplicas(this.r, this.keys.viewsPending);
    return tallies;
  }

  /** Each product's tally, counting no view (one script, three HMGETs). */
  async read(productIds: readonly number[]): Promise<ViewTally[]> {
    if (productIds.length === 0) return [];
    return pairs(await this.r.viewsRead(this.keys.viewsPending, this.keys.viewsBatchData, this.keys.viewsFlushed, ...productIds));
  }

  /** The batch to flush now (an unfinished one first), or null when no view waits. */
  async claim(newId: string): Promise<ViewBatch | null> {
    const out = await this.r.viewsClaim(this.keys.viewsBatch, this.keys.viewsBatchData, this.keys.viewsPending, newId);
    const [id, ...flat] = out;
    if (id === undefined) return null;
    // The batch goes to MySQL next, under its id: a failover must not bring its views back as pending (counted twice).
    await waitForReplicas(this.r, this.keys.viewsBatch);
    const counts = new Map<number, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const n = Number(flat[i + 1]);
      if (n > 0) counts.set(Number(flat[i]), n);
    }
    return { id, counts };
  }

  /** The batch is in MySQL, whose totals are now `totals`: drop it. False if it was already dropped. */
  async complete(id: string, totals: ReadonlyMap<number, number>): Promise<boolean> {
    const args: (string | number)[] = [];
    for (const [productId, total] of totals) args.push(productId, total);
    return (await this.r.viewsComplete(this.keys.viewsBatch, this.keys.viewsBatchData, this.keys.viewsFlushed, id, ...args)) === 1;
  }
}

/** The scripts' flat answer (flushed or -1, unflushed, …) as tallies. */
function pairs(out: number[]): ViewTally[] {
  const tallies: ViewTally[] = [];
  for (let i = 0; i + 1 < out.length; i += 2) {
    const flushed = out[i] ?? -1;
    tallies.push({ flushed: flushed < 0 ? null : flushed, unflushed: out[i + 1] ?? 0 });
  }
  return tallies;
}
