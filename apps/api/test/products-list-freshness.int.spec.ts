import type { ProductSort } from '@bazaar/contracts';
import { newAccount, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { isolatedEnv } from '../../../test/support/isolated-env';

type Page = { items: { id: number; price: number }[]; nextCursor: string | null };

/**
 * products.list under a storm of reads while products change: no read sent
 * after a change was acknowledged shows the page from before it, through any
 * api process (two with the fast path, one without: the handler reads the
 * same cache), whichever sort or search. Changes go through two of them.
 */
describe('products.list: no stale page after a change is acknowledged (hundreds of concurrent reads)', () => {
  let apis: TestApi[];

  beforeAll(async () => {
    const env = await isolatedEnv('plistfresh');
    apis = await Promise.all([startTestApi({ ...env }), startTestApi({ ...env }), startTestApi({ ...env, API_FAST_PATHS: 'false' })]);
  });
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.close()));
  });

  it('creates, updates and removes acknowledged before a read are all in it', async () => {
    const [a, , c] = apis as [TestApi, TestApi, TestApi];
    const seller = await newAccount(a, 'SELLER');
    const viaC = c.client(seller.token);
    const storeId = (await seller.client.stores.create.mutate({ name: 'storm' })).id;
    const create = (client: typeof viaC, name: string, price: number) => client.products.create.mutate({ storeId, name, description: '', price, stock: 5 });
    for (let i = 0; i < 10; i++) await create(seller.client, `바탕 filler ${i}`, 500_000 + i);
    const marker = await create(seller.client, '마커 marker', 0);

    /** What was acknowledged (and what had started) so far; a read takes a snapshot before it is sent. */
    let markerPrice = 0;
    const created = new Set<number>();
    const removeStarted = new Set<number>();
    const removed = new Set<number>();
    const STEPS = 24;
    let done = false;
    const changes = (async () => {
      for (let k = 1; k <= STEPS; k++) {
        const via = k % 2 ? seller.client : viaC; // through `a`, then through `c`
        await via.products.update.mutate({ productId: marker.id, price: k });
        markerPrice = k;
        if (k % 3 === 0) created.add((await create(via, `새 상품 fresh ${k}`, 1_000 + k)).id);
        if (k % 3 === 2 && created.size > removeStarted.size) {
          const victim = [...created].find((id) => !removeStarted.has(id))!;
          removeStarted.add(victim);
          await via.products.remove.mutate({ productId: victim });
          removed.add(victim);
        }
      }
      done = true;
    })();

    const inputs: { storeId?: number; query?: string; sort: ProductSort; limit: number }[] = [
      { storeId, sort: 'newest', limit: 100 },
      { storeId, sort: 'price', limit: 100 },
      { storeId, sort: 'price_desc', limit: 100 },
      { storeId, sort: 'popular', limit: 100 },
      { query: '마커', sort: 'newest', limit: 20 },
      { query: 'fresh', sort: 'price', limit: 100 },
    ];
    const violations: string[] = [];
    let reads = 0;
    const reader = async (r: number) => {
      const api = apis[r % 3]!;
      const client = api.client();
      for (let n = 0; !done; n++) {
        const input = inputs[(r + n) % inputs.length]!;
        const seen = { price: markerPrice, created: [...created], removed: [...removed] };
        // Raw GETs (the fast path on `a` and `b`) and the typed client (batched GETs: the fast path, or tRPC on `c`).
        const page: Page =
          n % 2
            ? await client.products.list.query(input)
            : ((await (await fetch(`${api.url}/trpc/products.list?input=${encodeURIComponent(JSON.stringify(input))}`)).json()) as { result: { data: Page } })
                .result.data;
        reads++;
        const ids = new Set(page.items.map((i) => i.id));
        const where = `reader ${r} on api ${r % 3}, ${JSON.stringify(input)}`;
        const m = page.items.find((i) => i.id === marker.id);
        if (input.query === 'fresh' || input.query === undefined) {
          // Created before the read was sent, and no removal of it begun before the answer came.
          for (const id of seen.created)
            if (!removeStarted.has(id) && !ids.has(id)) violations.push(`${where}: product ${id}, created before the read, missing`);
        }
        for (const id of seen.removed) if (ids.has(id)) violations.push(`${where}: product ${id}, removed before the read, listed`);
        if (input.query !== 'fresh') {
          if (!m) violations.push(`${where}: the marker missing`);
          else if (m.price < seen.price) violations.push(`${where}: the marker at ${m.price}, set to ${seen.price} before the read`);
        }
      }
    };
    await Promise.all([changes, ...Array.from({ length: 240 }, (_, r) => reader(r))]);

    expect(violations.slice(0, 10)).toEqual([]);
    expect(reads).toBeGreaterThan(1_000);
    // The storm was served from the cache, not by a SELECT per read.
    const hits = async (api: TestApi) =>
      Number(/bazaar_cache_requests_total\{[^}]*cache="product_list"[^}]*result="hit"[^}]*\} (\d+)/.exec(await api.deps.metrics.registry.metrics())?.[1] ?? 0);
    for (const api of apis) expect(await hits(api)).toBeGreaterThan(100);
    // And after the last acknowledged change, every process answers the final state.
    for (const api of apis) {
      const page = await api.client().products.list.query({ storeId, limit: 100 });
      expect(page.items.find((i) => i.id === marker.id)?.price).toBe(STEPS);
      expect(page.items.filter((i) => removed.has(i.id))).toEqual([]);
      expect([...created].filter((id) => !removed.has(id)).every((id) => page.items.some((i) => i.id === id))).toBe(true);
    }
  }, 120_000);
});
