import type { ProductView } from '@bazaar/contracts';
import type { ProductEntity } from '@bazaar/db';

/** A product as clients see it, as MySQL has it (products.get adds the live stock and unflushed views). */
export const toProductView = (p: ProductEntity): ProductView => ({
  id: p.id,
  storeId: p.storeId,
  name: p.name,
  description: p.description,
  price: p.price,
  status: p.status,
  createdAt: p.createdAt.toISOString(),
  updatedAt: p.updatedAt.toISOString(),
  stock: p.stock,
  viewCount: p.viewCount,
});
