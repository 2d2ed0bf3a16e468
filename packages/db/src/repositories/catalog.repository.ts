import type { DataSource } from 'typeorm';
import { ProductStatus } from '@bazaar/contracts';
import { execute, onReplica, selectRows } from '../data-source';
import { ProductEntity, StoreEntity } from '../entities';

export interface ProductPricing {
  id: number;
  storeId: number;
  name: string;
  price: number;
  status: ProductStatus;
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

  storesOfSeller(sellerId: number): Promise<StoreEntity[]> {
    return this.ds.getRepository(StoreEntity).find({ where: { sellerId }, order: { id: 'ASC' }, take: 100 });
  }

  async createProduct(input: { storeId: number; name: string; description: string; price: number; stock: number }): Promise<ProductEntity> {
    const repo = this.ds.getRepository(ProductEntity);
    const result = await repo.insert({ ...input, status: ProductStatus.ACTIVE });
    return repo.findOneByOrFail({ id: Number((result.identifiers[0] as { id: number | string }).id) });
  }

  findProduct(id: number): Promise<ProductEntity | null> {
    return this.ds.getRepository(ProductEntity).findOneBy({ id });
  }

  /** Adds stock with one conditional statement; false when the product is gone. */
  async restock(productId: number, quantity: number): Promise<boolean> {
    const res = await execute(this.ds, `UPDATE products SET stock = stock + ? WHERE id = ? AND status = 'ACTIVE'`, [quantity, productId]);
    return res.affectedRows === 1;
  }

  /** Pricing data for the accept path's cache, read from a replica. */
  pricing(ids: number[]): Promise<ProductPricing[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return onReplica(this.ds, async (q) => {
      const rows = await selectRows<{
        id: number | string;
        store_id: number | string;
        name: string;
        price: number | string;
        status: ProductStatus;
      }>(q, `SELECT id, store_id, name, price, status FROM products WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
      return rows.map((r) => ({ id: Number(r.id), storeId: Number(r.store_id), name: r.name, price: Number(r.price), status: r.status }));
    });
  }
}
