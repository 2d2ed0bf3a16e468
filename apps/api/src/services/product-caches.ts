import type { ProductDetailCache } from './product-detail.cache';
import type { ProductListCache } from './product-list.cache';

/**
 * The caches that show products, told of a product change (create, update,
 * remove, restock) in one call: the product's own copy in the detail cache and
 * every cached list page. The mutation awaits it before it answers, so the
 * next read through any api process sees the change.
 */
export class ProductCaches {
  constructor(
    private readonly details: ProductDetailCache,
    private readonly lists: ProductListCache,
  ) {}

  async changed(productId: number): Promise<void> {
    await Promise.all([this.details.invalidate(productId), this.lists.invalidate()]);
  }
}
