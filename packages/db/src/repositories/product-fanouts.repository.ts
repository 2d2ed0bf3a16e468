import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { execute, selectRows } from '../data-source';

export interface FanoutMark {
  productId: number;
  token: string;
}

/**
 * The marks of product changes not yet copied to Redis (migration 1764400000000-product-fanouts). Marking twice keeps
 * one row with the latest token, so only the latest change's own clear removes it: a change that finishes after a
 * later one began leaves the later one's mark in place.
 */
export class ProductFanoutsRepository {
  constructor(private readonly ds: DataSource) {}

  /** Marks a product as changing; the token clears it. */
  async mark(productId: number): Promise<string> {
    const token = randomBytes(16).toString('base64url');
    await execute(
      this.ds,
      `INSERT INTO product_fanouts (product_id, token) VALUES (?, ?) ON DUPLICATE KEY UPDATE token = VALUES(token), marked_at = CURRENT_TIMESTAMP(3)`,
      [productId, token],
    );
    return token;
  }

  /** Clears the mark if it is still this token's; whether it was. */
  async clear(productId: number, token: string): Promise<boolean> {
    const res = await execute(this.ds, `DELETE FROM product_fanouts WHERE product_id = ? AND token = ?`, [productId, token]);
    return res.affectedRows === 1;
  }

  /** Marks older than `olderThanSeconds` (their change either failed to fan out or died on the way), oldest first. */
  async stale(olderThanSeconds: number, limit: number): Promise<FanoutMark[]> {
    const rows = await selectRows<{ product_id: string | number; token: string }>(
      this.ds,
      `SELECT product_id, token FROM product_fanouts WHERE marked_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND ORDER BY marked_at LIMIT ?`,
      [olderThanSeconds, limit],
    );
    return rows.map((r) => ({ productId: Number(r.product_id), token: r.token }));
  }

  async pending(): Promise<number> {
    const [row] = await selectRows<{ n: string | number }>(this.ds, `SELECT COUNT(*) AS n FROM product_fanouts`, []);
    return Number(row?.n ?? 0);
  }
}
