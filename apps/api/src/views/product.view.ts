import type { ProductView } from '@bazaar/contracts';
import type { ProductEntity } from '@bazaar/db';

/** A product as clients see it. */
export const toProductView = (p: ProductEntity): ProductView => ({
  id: p.id,
  storeId: p.storeId,
  name: p.name,
  description: p.description,
  price: p.price,
  stock: p.stock,
  status: p.status,
  createdAt: p.createdAt.toISOString(),
  updatedAt: p.updatedAt.toISOString(),
});
