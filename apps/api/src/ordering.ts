/**
 * The runtime entry `@bazaar/api/ordering`: the accept path of orders.place for other processes (the
 * scheduler places subscription cycles through it), so every order, whoever places it, passes the same
 * pricing, sold-out gate and idempotency record. Built from config, Redis, MySQL and metrics alone. Also the
 * catalog's repair (createCatalogRepair): the scheduler writes again the Redis copies of a product change that
 * failed to fan out.
 */
import type { DataSource } from 'typeorm';
import { CartRepository, CatalogRepository, ProductFanoutsRepository } from '@bazaar/db';
import { CatalogVersions, type Config, type Logger, type Metrics, type RedisKeys, type Redis } from '@bazaar/platform';
import { AcceptedOrderStore, SoldOutGate, type OrdersQueueData } from '@bazaar/queue';
import type { Queue } from 'bullmq';
import { OrderAcceptanceService } from './services/order-acceptance.service';
import { ProductPricingCache } from './services/product-pricing.cache';
import { createCouponService } from './services/coupon.service';
import { CatalogService } from './services/catalog.service';
import { productDetailChanged } from './services/product-detail.cache';

export { OrderAcceptanceService } from './services/order-acceptance.service';
export { CatalogService } from './services/catalog.service';

export function createOrderAcceptance(deps: {
  config: Pick<Config, 'IDEMPOTENCY_TTL_SECONDS' | 'REWARD_BPS'>;
  redis: Redis;
  keys: RedisKeys;
  ds: DataSource;
  ordersQueue: Queue<OrdersQueueData>;
  metrics: Metrics;
}): OrderAcceptanceService {
  const { config, redis, keys, ds, ordersQueue, metrics } = deps;
  const catalog = new CatalogRepository(ds);
  const carts = new CartRepository(ds);
  return new OrderAcceptanceService(
    new ProductPricingCache(redis, keys, catalog, metrics),
    new AcceptedOrderStore(redis, keys),
    ordersQueue,
    new SoldOutGate(redis, keys),
    (productId, orderIds) => catalog.stockSnapshot(productId, orderIds),
    metrics,
    config.IDEMPOTENCY_TTL_SECONDS,
    (userId) => carts.lines(userId),
    createCouponService(ds, redis, keys, catalog, metrics),
    config.REWARD_BPS,
  );
}

/**
 * The catalog's product changes, for a process without the api's caches (the scheduler's repair-catalog job): the
 * same CatalogService, telling the caches through Redis alone (the detail version and message, the list version).
 */
export function createCatalogRepair(deps: { redis: Redis; keys: RedisKeys; ds: DataSource; metrics: Metrics; log: Logger }): CatalogService {
  const { redis, keys, ds, metrics, log } = deps;
  const catalog = new CatalogRepository(ds);
  const versions = new CatalogVersions(redis, keys);
  return new CatalogService(
    catalog,
    new ProductFanoutsRepository(ds),
    {
      pricing: new ProductPricingCache(redis, keys, catalog, metrics),
      gate: new SoldOutGate(redis, keys),
      stockSnapshot: (productId, orderIds) => catalog.stockSnapshot(productId, orderIds),
      changed: async (productId) => {
        await productDetailChanged(redis, keys, productId);
        await versions.catalogChanged();
      },
    },
    metrics,
    log,
  );
}
