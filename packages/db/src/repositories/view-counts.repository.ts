import type { DataSource } from 'typeorm';
import { execute, inRetryingTransaction, isDuplicateKey, selectRows, type SqlRunner } from '../data-source';

/** Products per UPDATE statement when a batch is applied. */
const CHUNK = 500;

/**
 * Flushed view counts. A batch is applied once: its id is inserted in the same
 * transaction as the counts it adds, so applying it again (its flusher died
 * before dropping the Redis copy, or two flushers raced) finds the id and adds
 * nothing.
 */
export class ViewCountsRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * Applies the batch: 'applied', or 'duplicate' when this batch id is already
   * in MySQL. Either way, also MySQL's totals for its products as they stand
   * with the batch in (nothing but the current batch writes them).
   */
  async applyBatch(batchId: string, counts: ReadonlyMap<number, number>): Promise<{ outcome: 'applied' | 'duplicate'; totals: Map<number, number> }> {
    const entries = [...counts].sort(([a], [b]) => a - b);
    const views = entries.reduce((s, [, n]) => s + n, 0);
    try {
      return await inRetryingTransaction(this.ds, async (q) => {
        await execute(q, 'INSERT INTO view_flushes (batch_id, products, views) VALUES (?, ?, ?)', [batchId, entries.length, views]);
        // Rows in id order, like every other writer of products, so flushes and orders never deadlock each other for long.
        for (let i = 0; i < entries.length; i += CHUNK) {
          const chunk = entries.slice(i, i + CHUNK);
          const params: number[] = [];
          for (const [id, n] of chunk) params.push(id, n);
          for (const [id] of chunk) params.push(id);
          await execute(
            q,
            `UPDATE products SET view_count = view_count + CASE id ${chunk.map(() => 'WHEN ? THEN ?').join(' ')} ELSE 0 END, updated_at = updated_at
             WHERE id IN (${chunk.map(() => '?').join(',')})`,
            params,
          );
        }
        return { outcome: 'applied' as const, totals: await this.totals(q, entries.map(([id]) => id)) };
      });
    } catch (err) {
      if (isDuplicateKey(err)) return { outcome: 'duplicate', totals: await this.totals(this.ds, [...counts.keys()]) };
      throw err;
    }
  }

  /** Batch records only matter while a batch could be re-applied (minutes); older ones go. */
  async pruneRecords(olderThanHours: number): Promise<number> {
    const r = await execute(this.ds, 'DELETE FROM view_flushes WHERE flushed_at < NOW(3) - INTERVAL ? HOUR LIMIT 10000', [olderThanHours]);
    return r.affectedRows;
  }

  /** MySQL's flushed totals of these products (on the primary). */
  async totals(db: SqlRunner, productIds: readonly number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (let i = 0; i < productIds.length; i += CHUNK) {
      const chunk = productIds.slice(i, i + CHUNK);
      const rows = await selectRows<{ id: number | string; view_count: number | string }>(
        db,
        `SELECT id, view_count FROM products WHERE id IN (${chunk.map(() => '?').join(',')})`,
        [...chunk],
      );
      for (const r of rows) out.set(Number(r.id), Number(r.view_count));
    }
    return out;
  }
}
