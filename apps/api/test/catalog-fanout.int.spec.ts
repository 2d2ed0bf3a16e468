import { ProductFanoutsRepository, selectRows } from '@bazaar/db';
import { createRedis, redisKeys } from '@bazaar/platform';
import { createCatalogRepair } from '@bazaar/api/ordering';
import { CatalogService, ProductPricingCache } from '@bazaar/api/hosting';
import { SoldOutGate } from '@bazaar/queue';
import { DELIVERY, newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { freePort } from '../../../test/support/processes';

/**
 * CatalogService: a product change and its fan-out to Redis (pricing snapshot, sold-out gate, caches), and the
 * repair that writes the copies again from MySQL when the fan-out failed (Redis unreachable under the change) or
 * never ran (the api died between MySQL and Redis). Real MariaDB, real Redis, and a Redis that refuses connections.
 */
describe('catalog changes and their repair', () => {
  jest.setTimeout(60_000);
  let api: TestApi;
  /** The same service as the api's, over a Redis connection that cannot connect: the fan-out fails as in an outage. */
  let cut: CatalogService;
  let repair: CatalogService;
  let fanouts: ProductFanoutsRepository;
  const closed: { quit(): Promise<unknown> }[] = [];

  beforeAll(async () => {
    api = await startTestApi();
    const { ds, keys, metrics, catalog } = api.deps;
    const down = createRedis(`redis://127.0.0.1:${await freePort()}`, 'command', {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    closed.push({ quit: async () => down.disconnect() });
    fanouts = new ProductFanoutsRepository(ds);
    const silent = { warn: () => undefined, info: () => undefined };
    cut = new CatalogService(
      catalog,
      fanouts,
      {
        pricing: new ProductPricingCache(down, keys, catalog, metrics),
        gate: new SoldOutGate(down, keys),
        stockSnapshot: (id, orderIds) => catalog.stockSnapshot(id, orderIds),
        changed: (id) => api.deps.productCaches.changed(id),
      },
      metrics,
      silent,
    );
    repair = createCatalogRepair({ redis: api.deps.redis, keys, ds, metrics, log: silent as never });
  });
  afterAll(async () => {
    for (const c of closed) await c.quit();
    await api.close();
  });

  const marks = async (productId: number) =>
    (await selectRows<{ n: number }>(api.deps.ds, 'SELECT COUNT(*) AS n FROM product_fanouts WHERE product_id = ?', [productId]))[0]!.n;
  const keysOf = () => redisKeys(api.deps.keys.prefix);

  let buyers: Promise<Awaited<ReturnType<typeof newAccount>>[]> | undefined;
  /** `n` orders of one unit each at once, from 20 customers; how many were accepted and how many refused as out of stock. */
  async function rush(productId: number, n: number): Promise<{ accepted: number; soldOut: number }> {
    buyers ??= Promise.all(Array.from({ length: 20 }, () => newAccount(api, 'CUSTOMER')));
    const pool = await buyers;
    const answers = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => pool[i % pool.length]!).map((b, i) =>
        b.client.orders.place.mutate({
          idempotencyKey: `rush-${productId}-${i}-${Date.now()}`,
          items: [{ productId, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
        }),
      ),
    );
    let accepted = 0;
    let soldOut = 0;
    for (const a of answers) {
      if (a.status === 'fulfilled') accepted++;
      else if ((a.reason as { data?: { reason?: string } }).data?.reason === 'OUT_OF_STOCK') soldOut++;
      else throw a.reason;
    }
    return { accepted, soldOut };
  }

  it('a change writes every copy and leaves no mark', async () => {
    const { seller, product } = await newProduct(api, { stock: 10, price: 1_000 });
    await seller.client.products.restock.mutate({ productId: product.id, quantity: 5 });
    await seller.client.products.update.mutate({ productId: product.id, price: 1_200 });
    expect(await api.deps.gate.available(product.id)).toBe(15);
    expect(JSON.parse((await api.deps.redis.get(keysOf().productSnapshot(product.id)))!)).toMatchObject({ price: 1_200, status: 'ACTIVE' });
    expect((await seller.client.products.get.query({ productId: product.id })).stock).toBe(15);
    expect(await marks(product.id)).toBe(0);
  });

  it('a restock whose gate update failed is answered, marked, and sells its units once repaired — never more', async () => {
    const { seller, product } = await newProduct(api, { stock: 50, price: 1_000 });
    expect(await rush(product.id, 80)).toEqual({ accepted: 50, soldOut: 30 });

    // Redis is out for this change: MySQL takes the 100 units, the gate does not hear of them.
    const restocked = await cut.restock(product.id, 100);
    expect(restocked?.stock).toBe(150);
    expect(await marks(product.id)).toBe(1);
    expect(await api.deps.gate.available(product.id)).toBe(0);
    expect(await rush(product.id, 20)).toEqual({ accepted: 0, soldOut: 20 }); // undersold until repaired, never oversold

    // The scheduler's repair: the counter rebuilt from MySQL's 150 less the 50 units the unsettled orders hold.
    expect(await repair.repair(0)).toEqual({ repaired: 1, failed: 0 });
    expect(await marks(product.id)).toBe(0);
    expect(await api.deps.gate.available(product.id)).toBe(100);
    expect((await seller.client.products.get.query({ productId: product.id })).stock).toBe(100);
    expect(await rush(product.id, 130)).toEqual({ accepted: 100, soldOut: 30 });
    expect(await repair.repair(0)).toEqual({ repaired: 0, failed: 0 });
  });

  it('a price change and a removal that failed to fan out are repaired: no order at the old price or of a removed product', async () => {
    const a = await newProduct(api, { stock: 10, price: 1_000 });
    const b = await newProduct(api, { stock: 10, price: 1_000 });
    await cut.update(a.product.id, { price: 2_000 });
    await cut.remove(b.product.id);
    expect(JSON.parse((await api.deps.redis.get(keysOf().productSnapshot(a.product.id)))!)).toMatchObject({ price: 1_000 }); // stale until repaired
    expect(await repair.repair(0)).toEqual({ repaired: 2, failed: 0 });
    expect(JSON.parse((await api.deps.redis.get(keysOf().productSnapshot(a.product.id)))!)).toMatchObject({ price: 2_000 });
    expect(JSON.parse((await api.deps.redis.get(keysOf().productSnapshot(b.product.id)))!)).toMatchObject({ status: 'DELETED' });
    expect(await api.deps.gate.available(b.product.id)).toBe(0);
    // The api's own 2-second local pricing copy aside, the next orders see the repaired rows.
    await new Promise((r) => setTimeout(r, 2_100));
    const buyer = await newAccount(api, 'CUSTOMER');
    const placed = await buyer.client.orders.place.mutate({
      idempotencyKey: 'after-repair-a',
      items: [{ productId: a.product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    expect((await buyer.client.orders.get.query({ orderId: placed.orderId })).items[0]?.unitPrice).toBe(2_000);
    await expect(
      buyer.client.orders.place.mutate({
        idempotencyKey: 'after-repair-b',
        items: [{ productId: b.product.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      }),
    ).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } }); // as an unknown product
  });

  it('a change whose process died between MySQL and Redis is found by its mark and repaired', async () => {
    const { product } = await newProduct(api, { stock: 5, price: 1_000 });
    // What a change does up to its death: the mark, then MySQL.
    await fanouts.mark(product.id);
    await api.deps.catalog.restock(product.id, 7);
    expect(await api.deps.gate.available(product.id)).toBe(5);
    // Not yet: a mark younger than the repair's delay may be a change still on its way.
    expect(await repair.repair(60)).toEqual({ repaired: 0, failed: 0 });
    expect(await repair.repair(0)).toEqual({ repaired: 1, failed: 0 });
    expect(await api.deps.gate.available(product.id)).toBe(12);
  });

  it('a later change keeps its mark when an earlier one finishes after it began', async () => {
    const { product } = await newProduct(api, { stock: 5, price: 1_000 });
    const first = await fanouts.mark(product.id);
    const second = await fanouts.mark(product.id);
    expect(await fanouts.clear(product.id, first)).toBe(false);
    expect(await marks(product.id)).toBe(1);
    expect(await fanouts.clear(product.id, second)).toBe(true);
    expect(await marks(product.id)).toBe(0);
  });

  it('200 concurrent restocks through the api, each counted once in MySQL and the gate', async () => {
    const { seller, product } = await newProduct(api, { stock: 0, price: 1_000 });
    await Promise.all(Array.from({ length: 200 }, () => seller.client.products.restock.mutate({ productId: product.id, quantity: 3 })));
    const [row] = await selectRows<{ stock: number }>(api.deps.ds, 'SELECT stock FROM products WHERE id = ?', [product.id]);
    expect(row!.stock).toBe(600);
    expect(await api.deps.gate.available(product.id)).toBe(600);
    expect(await marks(product.id)).toBe(0);
  });
});
