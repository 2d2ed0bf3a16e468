/**
 * Loads by id in which concurrent callers asking for the same id share one load in flight. A cold cache under a
 * storm (a flash sale's first 2,000 orders for a product whose store nobody has read yet) then sends one query per
 * id, not one per request: without it every request went to MySQL at once and the pool's queue overflowed.
 * A failed load fails the callers that waited on it and is forgotten, so the next call tries again.
 */
export class CoalescedLoads<V> {
  private readonly inflight = new Map<number, Promise<V | undefined>>();

  constructor(private readonly loadMany: (ids: number[]) => Promise<Map<number, V>>) {}

  /** The values found, by id; ids the loader did not return are absent. */
  async get(ids: readonly number[]): Promise<Map<number, V>> {
    const wanted = [...new Set(ids)];
    const fresh = wanted.filter((id) => !this.inflight.has(id));
    if (fresh.length > 0) {
      const batch = this.loadMany(fresh);
      for (const id of fresh) {
        const one = batch.then((found) => found.get(id));
        const forget = () => {
          if (this.inflight.get(id) === one) this.inflight.delete(id);
        };
        one.then(forget, forget);
        this.inflight.set(id, one);
      }
    }
    const values = await Promise.all(wanted.map((id) => this.inflight.get(id) ?? Promise.resolve(undefined)));
    const out = new Map<number, V>();
    wanted.forEach((id, i) => {
      const v = values[i];
      if (v !== undefined) out.set(id, v);
    });
    return out;
  }

  /** Loads in flight (for tests). */
  get size(): number {
    return this.inflight.size;
  }
}
