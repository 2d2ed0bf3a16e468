import { createRedis, redisKeys, type Redis } from '@bazaar/platform';
import { bazaarClient } from '../../../scripts/lib/client';
import { DELIVERY, eventually, newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { testEnv } from '../../../test/support/test-env';

/**
 * products.get's fast path answers what the tRPC adapter would, byte for byte:
 * the same API with the fast path off is the reference. Both share the run's
 * database and Redis, so they see the same products.
 */
describe('products.get fast path: the tRPC wire format, unchanged', () => {
  let fast: TestApi;
  let trpc: TestApi;
  let redis: Redis;

  beforeAll(async () => {
    [fast, trpc] = await Promise.all([startTestApi({ API_FAST_PATHS: 'true' }), startTestApi({ API_FAST_PATHS: 'false' })]);
    redis = createRedis(testEnv().REDIS_URL, 'command');
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), trpc?.close()]);
    await redis?.quit();
  });

  const raw = async (api: TestApi, path: string) => {
    const res = await fetch(`${api.url}${path}`);
    return { status: res.status, contentType: res.headers.get('content-type'), vary: res.headers.get('vary'), body: await res.text() };
  };
  const single = (productId: unknown) => `/trpc/products.get?input=${encodeURIComponent(JSON.stringify({ productId }))}`;
  const batch = (...productIds: unknown[]) =>
    `/trpc/${productIds.map(() => 'products.get').join(',')}?batch=1&input=${encodeURIComponent(JSON.stringify(Object.fromEntries(productIds.map((productId, i) => [i, { productId }]))))}`;
  /** The two answers differ only in the view count (each read counts one). */
  const sameBytesBut = (a: string, b: string) => expect(a.replace(/"viewCount":\d+/g, '"viewCount":N')).toBe(b.replace(/"viewCount":\d+/g, '"viewCount":N'));

  it('a single and a batched read: same status, headers and bytes as tRPC', async () => {
    const { product: p1 } = await newProduct(api(), { stock: 3, price: 12_000, name: '무선 이어폰 "Pro" \\ 2' });
    const { product: p2 } = await newProduct(api(), { stock: 0, price: 500, name: 'Sold out' });
    for (const path of [single(p1.id), batch(p1.id, p2.id), batch(p2.id)]) {
      const [a, b] = [await raw(fast, path), await raw(trpc, path)];
      expect(a.status).toBe(200);
      expect({ ...a, body: '' }).toEqual({ ...b, body: '' });
      sameBytesBut(a.body, b.body);
    }
    const answer = JSON.parse((await raw(fast, single(p1.id))).body) as { result: { data: Record<string, unknown> } };
    expect(answer.result.data).toMatchObject({ id: p1.id, name: '무선 이어폰 "Pro" \\ 2', price: 12_000, stock: 3 });
  });

  it('what the fast path does not serve, tRPC answers: unknown products, bad input, mixed batches', async () => {
    const { product } = await newProduct(api(), { stock: 1, price: 100 });
    const paths = [
      single(2_000_000_000),
      single(-1),
      single('1'),
      `/trpc/products.get?input=${encodeURIComponent(JSON.stringify({ productId: product.id, extra: 1 }))}`,
      '/trpc/products.get?input=not-json',
      '/trpc/products.get',
      batch(product.id, 2_000_000_000),
      `/trpc/products.get,stores.get?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { productId: product.id }, 1: { storeId: 1 } }))}`,
    ];
    for (const path of paths) {
      const [a, b] = [await raw(fast, path), await raw(trpc, path)];
      expect({ path, ...a, body: a.body.replace(/"viewCount":\d+/g, '') }).toEqual({ path, ...b, body: b.body.replace(/"viewCount":\d+/g, '') });
    }
    expect((await raw(fast, single(2_000_000_000))).status).toBe(404);
  });

  it('a streaming request (a trpc-accept header, or an accept header naming application/jsonl) is left to tRPC', async () => {
    const { product } = await newProduct(api(), { stock: 1, price: 100 });
    for (const headers of [{ 'trpc-accept': 'application/jsonl' }, { accept: 'application/jsonl' }, { accept: 'text/html, application/jsonl' }]) {
      const [a, b] = await Promise.all(
        [fast, trpc].map(async (x) => {
          const res = await fetch(`${x.url}${batch(product.id)}`, { headers });
          return { status: res.status, contentType: res.headers.get('content-type'), body: (await res.text()).replace(/"viewCount":\d+/g, '') };
        }),
      );
      expect({ headers, ...a }).toEqual({ headers, ...b });
    }
  });

  it('counts one view per answered read, none for an unknown product; the typed client reads it batched and not', async () => {
    const { product } = await newProduct(api(), { stock: 2, price: 700 });
    const batched = bazaarClient(fast.url);
    const plain = bazaarClient(fast.url, { batch: false });
    // 500 batched in one turn: the client splits them over several URLs (one would pass 16 KB, refused with 431).
    const reads = await Promise.all(Array.from({ length: 600 }, (_, i) => (i % 6 ? batched : plain).products.get.query({ productId: product.id })));
    expect(reads.every((r) => r.id === product.id && r.price === 700 && r.stock === 2)).toBe(true);
    expect(Math.max(...reads.map((r) => r.viewCount))).toBe(600);
    expect((await plain.products.get.query({ productId: product.id })).viewCount).toBe(601);
    await raw(fast, single(1_999_999_999));
    expect(await redis.hexists(redisKeys(testEnv().REDIS_PREFIX).viewsPending, '1999999999')).toBe(0);
  });

  it('a change is published: the other process drops its local copy before any read', async () => {
    const { seller, product } = await newProduct(api(), { stock: 2, price: 700 });
    await raw(fast, single(product.id));
    await raw(trpc, single(product.id));
    expect(fast.deps.productDetails.holds(product.id) && trpc.deps.productDetails.holds(product.id)).toBe(true);
    await seller.client.products.update.mutate({ productId: product.id, price: 800 }); // through `fast`
    await eventually(
      async () => trpc.deps.productDetails.holds(product.id),
      (held) => !held,
      5_000,
      10,
    );
    expect(JSON.parse((await raw(trpc, single(product.id))).body)).toMatchObject({ result: { data: { price: 800 } } });
  });

  it('an order through the other process is priced at the new price once the change is published', async () => {
    const { seller, product } = await newProduct(api(), { stock: 5, price: 1_000 });
    const buyer = await newAccount(trpc, 'CUSTOMER');
    const place = async (key: string) =>
      (
        await buyer.client.orders.get.query({
          orderId: (
            await buyer.client.orders.place.mutate({
              idempotencyKey: key,
              items: [{ productId: product.id, quantity: 1 }],
              paymentMethod: 'BALANCE',
              fulfillment: DELIVERY,
            })
          ).orderId,
        })
      ).items[0]?.unitPrice;
    expect(await place('price-before-change')).toBe(1_000); // `trpc` now holds the price locally
    await raw(trpc, single(product.id));
    await seller.client.products.update.mutate({ productId: product.id, price: 1_300 }); // through `fast`
    await eventually(
      async () => trpc.deps.productDetails.holds(product.id),
      (held) => !held,
      5_000,
      10,
    );
    expect(await place('price-after-change')).toBe(1_300);
  });

  const api = () => fast;
});
