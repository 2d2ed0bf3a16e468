import type { DataSource } from 'typeorm';
import { OrderStatus, type PopularProductsView } from '@bazaar/contracts';
import { PopularProductsRepository, createDataSource, execute } from '@bazaar/db';
import { createRedis, loadConfig, newId, redisKeys, type Redis } from '@bazaar/platform';
import { PopularProductsStore, type PopularSnapshot } from '@bazaar/queue';
import { eventually, newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { isolatedEnv } from '../../../test/support/isolated-env';
import type { TestEnv } from '../../../test/support/test-env';
import { POPULAR_FALLBACK_TTL_SECONDS } from '../src/services/popular-products.service';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * products.popular over HTTP, against real MariaDB and Redis, on a database
 * of its own (the ranking counts every order in it): served from the
 * scheduler's snapshot, products removed since then left out at once, and a
 * missing snapshot computed once from MySQL, however many ask at once.
 */
describe('products.popular (real MariaDB and Redis)', () => {
  let env: TestEnv;
  let api: TestApi;
  let api2: TestApi;
  let ds: DataSource;
  let redis: Redis;
  let store: PopularProductsStore;
  let customerId: number;

  beforeAll(async () => {
    env = await isolatedEnv('popular_api');
    [api, api2] = await Promise.all([startTestApi({ ...env }), startTestApi({ ...env })]);
    const config = loadConfig({ ...env });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    redis = createRedis(config.REDIS_URL, 'command');
    store = new PopularProductsStore(redis, redisKeys(config.REDIS_PREFIX));
    customerId = (await newAccount(api, 'CUSTOMER')).user.id;
  });

  afterAll(async () => {
    await Promise.all([api?.close(), api2?.close()]);
    await redis?.quit();
    await ds?.destroy();
  });

  beforeEach(async () => {
    await execute(ds, 'DELETE FROM order_items');
    await execute(ds, 'DELETE FROM orders');
    await redis.del(redisKeys(env.REDIS_PREFIX).popularProducts);
    jest.restoreAllMocks();
  });

  /** Raw GET in the tRPC wire format, as any client (or a CDN) would send it. */
  async function popular(on: TestApi = api): Promise<PopularProductsView> {
    const res = await fetch(`${on.url}/trpc/products.popular`);
    const body = (await res.json()) as { result?: { data: PopularProductsView }; error?: unknown };
    expect({ status: res.status, error: body.error }).toEqual({ status: 200, error: undefined });
    return body.result!.data;
  }
  const ranked = (v: PopularProductsView) => v.items.map((p) => [p.id, p.unitsSold]);

  /** A paid (or other) order accepted `ageMs` ago, written as a worker would have: [productId, price, quantity]. */
  async function order(status: OrderStatus, ageMs: number, lines: [productId: number, price: number, quantity: number][]): Promise<void> {
    const id = newId();
    const at = new Date(Date.now() - ageMs);
    await execute(
      ds,
      `INSERT INTO orders (id, user_id, status, payment_method, fulfillment, items_total, cash_paid, idempotency_key, request_id, accepted_at, settled_at)
       VALUES (?, ?, ?, 'BALANCE', '{}', 0, 0, ?, 'req', ?, ?)`,
      [id, customerId, status, `key-${id}`, at, at],
    );
    for (const [i, [productId, price, quantity]] of lines.entries()) {
      await execute(
        ds,
        `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, cash)
         SELECT ?, ?, id, store_id, name, ?, ?, ?, ? FROM products WHERE id = ?`,
        [id, i, price, quantity, price * quantity, price * quantity, productId],
      );
    }
  }

  const snapshotOf = (items: PopularSnapshot['items']): PopularSnapshot => ({
    computedAt: new Date().toISOString(),
    windowStart: new Date(Date.now() - 3 * DAY).toISOString(),
    items,
  });

  it('no sales yet: an empty list, not an error', async () => {
    const view = await popular();
    expect(view.items).toEqual([]);
    expect(Date.parse(view.computedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(view.computedAt) - Date.parse(view.windowStart)).toBe(3 * DAY);
  });

  it("serves the scheduler's snapshot: the top 5 only, with current names and prices; a removed product drops out (a spare moves up)", async () => {
    const made = await Promise.all(Array.from({ length: 7 }, (_, i) => newProduct(api, { stock: 10, price: 1_000 + i, name: `Popular ${i}` })));
    // As ranked a while ago: names and prices have changed since for product 0.
    await store.write(
      snapshotOf(made.map(({ product }, i) => ({ id: product.id, storeId: product.storeId, name: `old name ${i}`, price: 1, unitsSold: 70 - i * 10 }))),
      60,
    );
    await made[0]!.seller.client.products.update.mutate({ productId: made[0]!.product.id, name: 'Renamed', price: 5_000 });

    const view = await popular();
    expect(ranked(view)).toEqual(made.slice(0, 5).map(({ product }, i) => [product.id, 70 - i * 10]));
    expect(view.items[0]).toEqual({ id: made[0]!.product.id, storeId: made[0]!.store.id, name: 'Renamed', price: 5_000, unitsSold: 70 });
    expect(view.items[1]).toMatchObject({ name: 'Popular 1', price: 1_001 });

    expect(ranked(await popular(api2))).toEqual(ranked(view));
    await made[1]!.seller.client.products.remove.mutate({ productId: made[1]!.product.id });
    await made[3]!.seller.client.products.remove.mutate({ productId: made[3]!.product.id });
    const expected = [0, 2, 4, 5, 6].map((i) => made[i]!.product.id);
    // At once through the api process that removed them; through another as soon as the product change reaches it.
    expect(ranked(await popular(api)).map(([id]) => id)).toEqual(expected);
    await eventually(
      async () => ranked(await popular(api2)).map(([id]) => id),
      (ids) => JSON.stringify(ids) === JSON.stringify(expected),
      5_000,
    );
  });

  it('a missing snapshot is computed once from MySQL for 40 concurrent requests on two api instances, and kept briefly', async () => {
    const [a, b, c] = await Promise.all([
      newProduct(api, { stock: 100, price: 1_000 }),
      newProduct(api, { stock: 100, price: 2_000 }),
      newProduct(api, { stock: 100, price: 3_000 }),
    ]);
    await order(OrderStatus.PAID, HOUR, [
      [a.product.id, 1_000, 2],
      [b.product.id, 2_000, 3],
    ]);
    await order(OrderStatus.PAID, 2 * DAY, [[a.product.id, 1_000, 2]]);
    await order(OrderStatus.PAID, 4 * DAY, [[c.product.id, 3_000, 50]]);
    await order(OrderStatus.FAILED, HOUR, [[c.product.id, 3_000, 40]]);
    await order(OrderStatus.CANCELLED, HOUR, [[c.product.id, 3_000, 30]]);
    const computed = jest.spyOn(PopularProductsRepository.prototype, 'ranking');

    const views = await Promise.all(Array.from({ length: 40 }, (_, i) => popular(i % 2 ? api : api2)));

    expect(computed).toHaveBeenCalledTimes(1);
    for (const v of views) {
      expect(ranked(v)).toEqual([
        [a.product.id, 4],
        [b.product.id, 3],
      ]);
    }
    const ttl = await store.ttl();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(POPULAR_FALLBACK_TTL_SECONDS);
    // While it lasts, it is served without another computation.
    await popular();
    expect(computed).toHaveBeenCalledTimes(1);

    // The scheduler's next refresh replaces it.
    await store.write(snapshotOf([{ id: c.product.id, storeId: c.store.id, name: 'x', price: 1, unitsSold: 9 }]), 60);
    expect(ranked(await popular())).toEqual([[c.product.id, 9]]);
  });

  it('a snapshot that cannot be read counts as missing', async () => {
    const { product } = await newProduct(api, { stock: 10, price: 500 });
    await order(OrderStatus.PAID, HOUR, [[product.id, 500, 1]]);
    await redis.set(redisKeys(env.REDIS_PREFIX).popularProducts, '{"not":"a snapshot"}', 'EX', 60);
    expect(ranked(await popular())).toEqual([[product.id, 1]]);
  });

  it('is public: a bad Authorization header is ignored, and the typed client gets the same answer', async () => {
    const res = await fetch(`${api.url}/trpc/products.popular`, { headers: { authorization: 'Bearer nope' } });
    expect(res.status).toBe(200);
    expect(await api.client().products.popular.query()).toMatchObject({ items: [] });
  });
});
