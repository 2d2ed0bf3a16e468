import type { DataSource } from 'typeorm';
import { LIMITS, ProductStatus, type ProductListItem } from '@bazaar/contracts';
import { searchIndexTokens } from '@bazaar/domain';
import { execute, inTransaction, onReplica, selectRows, type SqlRunner } from '../data-source';
import { ProductEntity, StoreEntity } from '../entities';
import { productListQuery, toProductListItem, type ProductListFilter, type ProductListRow } from './product-list.query';

export interface ProductPricing {
  id: number;
  storeId: number;
  name: string;
  price: number;
  status: ProductStatus;
}

/** A store as the accept path sees it: open or closed, and its pickup rules (null hours = the defaults). */
export interface StoreProfile {
  id: number;
  status: 'OPEN' | 'CLOSED';
  openingHours: Record<string, { open: string; close: string }[]> | null;
  timeZone: string;
  pickupLeadMinutes: number;
}

async function readStoreProfiles(db: SqlRunner, ids: number[]): Promise<StoreProfile[]> {
  const rows = await selectRows<{
    id: number | string;
    status: 'OPEN' | 'CLOSED';
    opening_hours: unknown;
    time_zone: string;
    pickup_lead_minutes: number | string;
  }>(db, `SELECT id, status, opening_hours, time_zone, pickup_lead_minutes FROM stores WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
  return rows.map((r) => ({
    id: Number(r.id),
    status: r.status,
    openingHours: (typeof r.opening_hours === 'string' ? JSON.parse(r.opening_hours) : (r.opening_hours ?? null)) as StoreProfile['openingHours'],
    timeZone: r.time_zone,
    pickupLeadMinutes: Number(r.pickup_lead_minutes),
  }));
}

async function readPricing(db: SqlRunner, ids: number[]): Promise<ProductPricing[]> {
  const rows = await selectRows<{ id: number | string; store_id: number | string; name: string; price: number | string; status: ProductStatus }>(
    db,
    `SELECT id, store_id, name, price, status FROM products WHERE id IN (${ids.map(() => '?').join(',')})`,
    ids,
  );
  return rows.map((r) => ({ id: Number(r.id), storeId: Number(r.store_id), name: r.name, price: Number(r.price), status: r.status }));
}

export class CatalogRepository {
  constructor(private readonly ds: DataSource) {}

  async createStore(sellerId: number, name: string): Promise<StoreEntity> {
    const repo = this.ds.getRepository(StoreEntity);
    const result = await repo.insert({ sellerId, name });
    return repo.findOneByOrFail({ id: Number((result.identifiers[0] as { id: number | string }).id) });
  }

  /** Primary read: used for ownership checks right after a write. */
  findStore(id: number): Promise<StoreEntity | null> {
    return this.ds.getRepository(StoreEntity).findOneBy({ id });
  }

  /** Changes a store's name, hours, zone or pickup lead time (primary); the store as it is now. */
  async updateStore(
    storeId: number,
    change: { name?: string; openingHours?: Record<string, { open: string; close: string }[]>; timeZone?: string; pickupLeadMinutes?: number },
  ): Promise<StoreEntity | null> {
    const columns: [string, unknown][] = [];
    if (change.name !== undefined) columns.push(['name', change.name]);
    if (change.openingHours !== undefined) columns.push(['opening_hours', JSON.stringify(change.openingHours)]);
    if (change.timeZone !== undefined) columns.push(['time_zone', change.timeZone]);
    if (change.pickupLeadMinutes !== undefined) columns.push(['pickup_lead_minutes', change.pickupLeadMinutes]);
    const sets = columns.map(([c]) => `${c} = ?`);
    const params = columns.map(([, v]) => v);
    if (sets.length > 0) await execute(this.ds, `UPDATE stores SET ${sets.join(', ')} WHERE id = ?`, [...params, storeId]);
    return this.findStore(storeId);
  }

  /** Closes a store for good (nothing of it is on sale any more); false when it was closed already. */
  async closeStore(storeId: number): Promise<boolean> {
    const r = await execute(this.ds, "UPDATE stores SET status = 'CLOSED', closed_at = CURRENT_TIMESTAMP(3) WHERE id = ? AND status = 'OPEN'", [storeId]);
    return r.affectedRows === 1;
  }

  /**
   * What the accept path needs of stores (status, hours, zone, lead time), by id, from a replica; a store the
   * replica does not have (yet: made moments ago, the replica behind) from the primary, so that a new store's
   * pickup rules hold from its first order.
   */
  async storeProfiles(ids: number[]): Promise<StoreProfile[]> {
    if (ids.length === 0) return [];
    const found = await onReplica(this.ds, (q) => readStoreProfiles(q, ids));
    const missing = ids.filter((id) => !found.some((p) => p.id === id));
    return missing.length === 0 ? found : [...found, ...(await readStoreProfiles(this.ds, missing))];
  }

  storesOfSeller(sellerId: number): Promise<StoreEntity[]> {
    return this.ds.getRepository(StoreEntity).find({ where: { sellerId }, order: { id: 'ASC' }, take: 100 });
  }

  async createProduct(input: { storeId: number; name: string; description: string; price: number; stock: number }): Promise<ProductEntity> {
    const repo = this.ds.getRepository(ProductEntity);
    const result = await repo.insert({ ...input, status: ProductStatus.ACTIVE, searchTokens: searchIndexTokens(input.name, input.description) });
    return repo.findOneByOrFail({ id: Number((result.identifiers[0] as { id: number | string }).id) });
  }

  /** Many products in one statement (demo data, imports), ACTIVE, with their search tokens; keep batches to a few hundred rows. */
  async insertProducts(rows: { storeId: number; name: string; description: string; price: number; stock: number; viewCount?: number }[]): Promise<void> {
    if (rows.length === 0) return;
    const params = rows.flatMap((r) => [r.storeId, r.name, r.description, searchIndexTokens(r.name, r.description), r.price, r.stock, r.viewCount ?? 0]);
    await execute(
      this.ds,
      `INSERT INTO products (store_id, name, description, search_tokens, price, stock, view_count, status) VALUES ${rows.map(() => "(?, ?, ?, ?, ?, ?, ?, 'ACTIVE')").join(', ')}`,
      params,
    );
  }

  /** A store's products, all of them, from the primary (demo data: which are there already, and what the order path must learn of the new ones). */
  async storeProducts(storeId: number): Promise<(ProductPricing & { stock: number })[]> {
    const rows = await selectRows<{ id: number | string; name: string; price: number | string; stock: number | string; status: ProductStatus }>(
      this.ds,
      'SELECT id, name, price, stock, status FROM products WHERE store_id = ? ORDER BY id',
      [storeId],
    );
    return rows.map((r) => ({ id: Number(r.id), storeId, name: r.name, price: Number(r.price), stock: Number(r.stock), status: r.status }));
  }

  findProduct(id: number): Promise<ProductEntity | null> {
    return this.ds.getRepository(ProductEntity).findOneBy({ id });
  }

  /**
   * Changes an active product's name, description or price; false when it is gone.
   * A new name or description rewrites the search tokens in the same UPDATE,
   * from the other text read under the row's lock (so two concurrent updates
   * of name and description cannot leave tokens of a stale text).
   */
  async updateProduct(productId: number, fields: { name?: string; description?: string; price?: number }): Promise<boolean> {
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [column, value] of [
      ['name', fields.name],
      ['description', fields.description],
      ['price', fields.price],
    ] as const) {
      if (value !== undefined) {
        sets.push(`${column} = ?`);
        params.push(value);
      }
    }
    if (sets.length === 0) return true;
    if (fields.name === undefined && fields.description === undefined) {
      const res = await execute(this.ds, `UPDATE products SET ${sets.join(', ')} WHERE id = ? AND status = 'ACTIVE'`, [...params, productId]);
      return res.affectedRows === 1;
    }
    return inTransaction(this.ds, async (q) => {
      const [row] = await selectRows<{ name: string; description: string }>(
        q,
        `SELECT name, description FROM products WHERE id = ? AND status = 'ACTIVE' FOR UPDATE`,
        [productId],
      );
      if (!row) return false;
      const tokens = searchIndexTokens(fields.name ?? row.name, fields.description ?? row.description);
      await execute(q, `UPDATE products SET ${sets.join(', ')}, search_tokens = ? WHERE id = ?`, [...params, tokens, productId]);
      return true;
    });
  }

  /** Soft delete: the product stays for the orders that hold it, but is no longer on sale. */
  async removeProduct(productId: number): Promise<boolean> {
    const res = await execute(this.ds, `UPDATE products SET status = 'DELETED' WHERE id = ? AND status = 'ACTIVE'`, [productId]);
    return res.affectedRows === 1;
  }

  /** Adds stock with one conditional statement, never past LIMITS.maxStock; false when the product is gone or would exceed it. */
  async restock(productId: number, quantity: number): Promise<boolean> {
    const res = await execute(this.ds, `UPDATE products SET stock = stock + ? WHERE id = ? AND status = 'ACTIVE' AND stock + ? <= ?`, [
      quantity,
      productId,
      quantity,
      LIMITS.maxStock,
    ]);
    return res.affectedRows === 1;
  }

  /** Pricing data for the accept path's cache, read from a replica; a product the replica does not have (yet) from the primary. */
  async pricing(ids: number[]): Promise<ProductPricing[]> {
    if (ids.length === 0) return [];
    const found = await onReplica(this.ds, (q) => readPricing(q, ids));
    const missing = ids.filter((id) => !found.some((p) => p.id === id));
    return missing.length === 0 ? found : [...found, ...(await readPricing(this.ds, missing))];
  }

  /**
   * One page of products.list (productListQuery), from a replica, or from the
   * primary for a page that is cached under the catalog version read just
   * before (a replica behind the primary would keep the rows from before the
   * change under the version that announced it).
   */
  async listProducts(filter: ProductListFilter, from: 'replica' | 'primary' = 'replica'): Promise<ProductListItem[]> {
    const { sql, params } = productListQuery(filter);
    if (from === 'primary') return (await selectRows<ProductListRow>(this.ds, sql, params)).map(toProductListItem);
    return onReplica(this.ds, async (q) => (await selectRows<ProductListRow>(q, sql, params)).map(toProductListItem));
  }

  /**
   * For the sold-out gate's rebuild, read on the primary in one consistent
   * snapshot: the product's stock, which of the given orders MySQL has
   * recorded (their units are already out of, or back in, that stock), and
   * which of those are settled (no longer awaiting payment).
   */
  async stockSnapshot(productId: number, orderIds: string[]): Promise<{ stock: number; recordedOrderIds: string[]; settledOrderIds: string[] }> {
    const q = this.ds.createQueryRunner('master');
    await q.connect();
    try {
      await q.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      const [row] = await selectRows<{ stock: number | string; status: ProductStatus }>(q, 'SELECT stock, status FROM products WHERE id = ?', [productId]);
      const settled =
        orderIds.length === 0
          ? []
          : await selectRows<{ id: string; status: string }>(q, `SELECT id, status FROM orders WHERE id IN (${orderIds.map(() => '?').join(',')})`, orderIds);
      await q.query('COMMIT');
      const stock = row && row.status === ProductStatus.ACTIVE ? Number(row.stock) : 0;
      return { stock, recordedOrderIds: settled.map((r) => r.id), settledOrderIds: settled.filter((r) => r.status !== 'PENDING').map((r) => r.id) };
    } finally {
      await q.release();
    }
  }
}
