import type { Redis } from 'ioredis';
import { keyBatchesUnder } from '../support/redis-keys';
import type { DataSource } from 'typeorm';

/**
 * What a refused request must leave as it was: the row count of every table in the database, and the set of Redis
 * keys under the prefix. Taken in one SQL statement and one SCAN walk (a few milliseconds on the fuzz run's data).
 *
 * A key that disappears is excused only when its TTL was due by then (it expired; nothing deleted it): a key's TTL
 * is read when a snapshot first sees it, and again at most a second later.
 */
export interface Snapshot {
  at: number;
  rows: Record<string, number>;
  keys: Set<string>;
}

export interface StateDiff {
  rows: Record<string, { before: number; after: number }>;
  added: string[];
  removed: string[];
}

/** Tables and keys a diff leaves out. */
export interface Excuse {
  table?(name: string): boolean;
  key?(name: string): boolean;
}

export class StateWatcher {
  private countSql = '';
  /** When each key seen so far expires (ms since the epoch), Infinity when it has no TTL. */
  private readonly expiresAt = new Map<string, number>();
  private ttlsReadAt = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async snapshot(): Promise<Snapshot> {
    if (!this.countSql) {
      const tables = await this.ds.query<{ name: string }[]>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name`,
      );
      this.countSql = `SELECT ${tables.map(({ name }) => `(SELECT COUNT(*) FROM \`${name}\`) AS \`${name}\``).join(', ')}`;
    }
    const at = Date.now();
    const [[counts], keys] = await Promise.all([this.ds.query<Record<string, string | number>[]>(this.countSql), this.keys()]);
    const rows = Object.fromEntries(Object.entries(counts ?? {}).map(([t, n]) => [t, Number(n)]));
    // A key's TTL is read when a snapshot first sees it, and every key's again each second (a TTL set after the key).
    const refresh = at - this.ttlsReadAt > 1000;
    if (refresh) this.ttlsReadAt = at;
    const fresh = [...keys].filter((k) => refresh || !this.expiresAt.has(k));
    if (fresh.length) {
      const pipeline = this.redis.pipeline();
      for (const k of fresh) pipeline.pttl(k);
      const ttls = (await pipeline.exec()) ?? [];
      fresh.forEach((k, i) => {
        const ttl = Number(ttls[i]?.[1] ?? -1);
        this.expiresAt.set(k, ttl >= 0 ? Date.now() + ttl : Infinity);
      });
    }
    return { at, rows, keys };
  }

  /** What changed from `before` to `after`, less keys that expired in between and `excused` ones; null when nothing did. */
  diff(before: Snapshot, after: Snapshot, excuse: Excuse = {}): StateDiff | null {
    const excused = excuse.key ?? (() => false);
    const rows: StateDiff['rows'] = {};
    for (const [t, n] of Object.entries(after.rows)) if (before.rows[t] !== n && !excuse.table?.(t)) rows[t] = { before: before.rows[t] ?? 0, after: n };
    const added = [...after.keys].filter((k) => !before.keys.has(k) && !excused(k));
    const removed = [...before.keys].filter((k) => !after.keys.has(k) && !excused(k) && (this.expiresAt.get(k) ?? Infinity) > after.at + 50);
    return Object.keys(rows).length || added.length || removed.length ? { rows, added, removed } : null;
  }

  private async keys(): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const keys of keyBatchesUnder(this.redis, this.prefix, 5000)) for (const k of keys) out.add(k);
    return out;
  }
}
