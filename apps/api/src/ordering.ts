/**
 * The runtime entry `@bazaar/api/ordering`: the accept path of orders.place for other processes (the
 * scheduler places subscription cycles through it), so every order, whoever places it, passes the same
 * pricing, sold-out gate and idempotency record. Built from config, Redis, MySQL and metrics alone.
 */
import type { DataSource } from 'typeorm';
import { CartRepository, CatalogRepository } from '@bazaar/db';
import type { Config, Metrics, RedisKeys, Redis } from '@bazaar/platform';
import { AcceptedOrderStore, SoldOutGate, type OrdersQueueData } from '@bazaar/queue';
import type { Queue } from 'bullmq';
import { OrderAcceptanceService } from './services/order-acceptance.service';
import { ProductPricingCache } from './services/product-pricing.cache';
import { createCouponService } from './services/coupon.service';

export { OrderAcceptanceService } from './services/order-acceptance.service';

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
