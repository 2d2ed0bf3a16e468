import type { CatalogService } from '@bazaar/api/ordering';

/**
 * Product changes whose Redis copies were not written (Redis failed under the change, or its api died between MySQL
 * and Redis) are written again from MySQL once their mark is `afterSeconds` old (CatalogService.repair): the pricing
 * snapshot, the sold-out gate counter rebuilt from MySQL's stock less what unsettled orders hold, the caches told.
 */
export class RepairCatalogJob {
  static readonly NAME = 'repair-catalog';

  constructor(
    private readonly catalog: CatalogService,
    private readonly afterSeconds: number,
  ) {}

  run(): Promise<{ repaired: number; failed: number }> {
    return this.catalog.repair(this.afterSeconds);
  }
}
