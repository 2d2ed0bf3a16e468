import { execute } from '@bazaar/db';
import { bazaarClient } from '../../../scripts/lib/client';
import { DELIVERY, newAccount, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { isolatedEnv } from '../../../test/support/isolated-env';

type Answer = { status: number; headers: Record<string, string>; body: string };
type Page = { items: { id: number; name: string; price: number; stock: number; viewCount: number }[]; nextCursor: string | null };

/**
 * products.list's fast path answers what the tRPC adapter would, byte for
 * byte: the same API with the fast path off is the reference. Both run on a
 * database and Redis prefix of their own (so a listing of everything is this
 * suite's catalog, and nothing changes it between the two reads), and share
 * them, so they see the same products, versions and live figures.
 */
describe('products.list fast path: the tRPC wire format, unchanged', () => {
  let fast: TestApi;
  let trpc: TestApi;
  let seller: Awaited<ReturnType<typeof newAccount>>;
  const stores: number[] = [];
  const products: { id: number; name: string }[] = [];

  beforeAll(async () => {
    const env = await isolatedEnv('plistfast');
    [fast, trpc] = await Promise.all([startTestApi({ ...env, API_FAST_PATHS: 'true' }), startTestApi({ ...env, API_FAST_PATHS: 'false' })]);
    seller = await newAccount(fast, 'SELLER');
    for (const name of ['가방 가게', 'Odd names']) stores.push((await seller.client.stores.create.mutate({ name })).id);
    const names = [
      '가방 Tote "canvas"',
      '노트북가방 \\ back\\slash',
      'Emoji 🙂 가방',
      '</script><b>가방</b>',
      'Line\u2028separator 가방',
      'Tab\tand\nnewline',
      'Ünïcödé café',
      '가방',
    ];
    for (let i = 0; i < 30; i++) {
      const name = `${names[i % names.length]} ${i}`;
      const p = await seller.client.products.create.mutate({
        storeId: stores[i % 2]!,
        name,
        description: i % 3 === 0 ? '설명 '.repeat(80) : `d${i} "q" \\`,
        price: 1_000 * ((i * 7) % 11),
        stock: i % 4,
      });
      products.push({ id: p.id, name });
    }
    // View counts as a flush would have left them (ties included), then the change every cached page must learn of.
    for (const [k, p] of products.entries()) await execute(fast.deps.ds, 'UPDATE products SET view_count = ? WHERE id = ?', [(k * 5) % 7, p.id]);
    await fast.deps.productLists.invalidate();
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), trpc?.close()]);
  });

  const raw = async (api: TestApi, path: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(`${api.url}${path}`, { headers: { 'x-request-id': 'list-fast-path-spec', ...headers } });
    return { status: res.status, headers: Object.fromEntries([...res.headers].filter(([k]) => k !== 'date')), body: await res.text() };
  };
  const one = (input?: unknown) => `/trpc/products.list${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;
  const batch = (...inputs: unknown[]) =>
    `/trpc/${inputs.map(() => 'products.list').join(',')}?batch=1&input=${encodeURIComponent(JSON.stringify(Object.fromEntries(inputs.map((v, i) => [i, v]))))}`;

  /** Both answers, asserted equal; and whether the fast path answered it (it reads the cache's bytes; the handler its objects). */
  async function same(path: string, headers: Record<string, string> = {}): Promise<{ answer: Answer; served: boolean }> {
    const bytes = jest.spyOn(fast.deps.productLists, 'bytes');
    try {
      const a = await raw(fast, path, headers);
      const b = await raw(trpc, path, headers);
      expect({ path, ...a }).toEqual({ path, ...b });
      return { answer: a, served: bytes.mock.calls.length > 0 };
    } finally {
      bytes.mockRestore();
    }
  }

  it.each(['newest', 'price', 'price_desc', 'popular'] as const)(
    '%s: every page, walked by its cursor, is the same bytes, served by the fast path',
    async (sort) => {
      const seen: number[] = [];
      let cursor: string | undefined;
      for (let pages = 0; ; pages++) {
        const { answer, served } = await same(one({ sort, limit: 7, ...(cursor ? { cursor } : {}) }));
        expect({ status: answer.status, served }).toEqual({ status: 200, served: true });
        const page = (JSON.parse(answer.body) as { result: { data: Page } }).result.data;
        seen.push(...page.items.map((i) => i.id));
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
        expect(pages).toBeLessThan(10);
      }
      expect([...seen].sort((a, b) => a - b)).toEqual(products.map((p) => p.id).sort((a, b) => a - b));
    },
  );

  it('searches, filters, limits, defaults and batches: the same bytes, served by the fast path', async () => {
    const paths = [
      one(),
      '/trpc/products.list?input=',
      one({}),
      one({ query: '가방' }),
      one({ query: '  가방  ', sort: 'price' }),
      one({ query: '가방 tote', sort: 'popular' }),
      one({ query: 'café' }),
      one({ query: 'nothing-like-this' }),
      one({ storeId: stores[1] }),
      one({ storeId: stores[0], sort: 'price_desc', minPrice: 2_000, maxPrice: 8_000 }),
      one({ minPrice: 5_000 }),
      one({ limit: 1 }),
      one({ limit: 100 }),
      one({ storeId: 987_654_321 }),
      batch({ query: '가방' }, { sort: 'price', limit: 3 }),
      batch({}),
      batch(undefined, { sort: 'popular' }),
      `/trpc/products.list?batch=1&input=${encodeURIComponent('{}')}`,
    ];
    for (const path of paths) {
      const { answer, served } = await same(path);
      expect({ path, status: answer.status, served }).toEqual({ path, status: 200, served: true });
    }
  });

  it('inStock is read through, not cached, and answered the same', async () => {
    for (const path of [one({ inStock: true }), one({ inStock: true, query: '가방', sort: 'price' }), batch({ inStock: false }, { inStock: true })]) {
      const { answer, served } = await same(path);
      expect({ path, status: answer.status, served }).toEqual({ path, status: 200, served: true });
    }
  });

  it('what the fast path does not serve, tRPC answers, with its own errors: bad input, bad cursors, other procedures, streams', async () => {
    const forged = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');
    const priceCursor = (JSON.parse((await raw(fast, one({ sort: 'price', limit: 2 }))).body) as { result: { data: Page } }).result.data.nextCursor!;
    const paths = [
      one({ query: '!!! ~~' }),
      one({ query: '' }),
      one({ query: '   ' }),
      one({ query: 'x'.repeat(101) }),
      one({ sort: 'cheapest' }),
      one({ sort: null }),
      one({ cursor: 'abc' }),
      one({ cursor: priceCursor }), // a price cursor for newest
      one({ sort: 'popular', cursor: priceCursor }),
      one({ sort: 'price', cursor: forged({ s: 'price', k: -1, i: 1 }) }),
      one({ cursor: 'not base64!' }),
      one({ limit: 0 }),
      one({ limit: 101 }),
      one({ minPrice: 10, maxPrice: 9 }),
      one({ offset: 20 }),
      one(null),
      one([1]),
      '/trpc/products.list?input=not-json',
      '/trpc/products.list?input=%7B',
      batch({ query: '가방' }, { query: '!!!' }),
      batch({ sort: 'best' }),
      `/trpc/products.list,products.get?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: {}, 1: { productId: 2_000_000_000 } }))}`,
      `/trpc/products.list?batch=1&input=${encodeURIComponent('[{}]')}`,
      `/trpc/products.list?batch=1&input=${encodeURIComponent('5')}`,
      '/trpc/products.listing',
      '/trpc/products.list/',
    ];
    for (const path of paths) {
      const { answer, served } = await same(path);
      expect({ path, served, ok: answer.status === 200 }).toEqual({ path, served: false, ok: false });
    }
    // Unusual but valid: tRPC's to answer too (batch=2 is not a batch to tRPC).
    expect(await same(`/trpc/products.list?batch=2&input=${encodeURIComponent('{}')}`)).toMatchObject({ answer: { status: 200 }, served: false });
    // Streams (JSON lines) are tRPC's, whichever header asks for them.
    const streams: Record<string, string>[] = [
      { 'trpc-accept': 'application/jsonl' },
      { accept: 'application/jsonl' },
      { accept: 'text/html, application/jsonl' },
    ];
    for (const headers of streams) {
      for (const path of [batch({ query: '가방' }), one({ query: '가방' })]) {
        const { served } = await same(path, headers);
        expect({ path, headers, served }).toEqual({ path, headers, served: false });
      }
    }
  });

  it('the typed client reads the same pages through both, batched and not', async () => {
    const input = { query: '가방', sort: 'price' as const, limit: 5 };
    const [a, b, c] = await Promise.all([
      fast.client().products.list.query(input),
      trpc.client().products.list.query(input),
      bazaarClient(fast.url, { batch: false }).products.list.query(input),
    ]);
    expect(a).toEqual(b);
    expect(c).toEqual(b);
    expect(a.items).toHaveLength(5);
  });

  it('times each answered read into bazaar_http_request_duration_seconds, as the adapter does', async () => {
    const count = async () =>
      Number(
        /bazaar_http_request_duration_seconds_count\{[^}]*procedure="products.list"[^}]*code="OK"[^}]*\} (\d+)/.exec(
          await fast.deps.metrics.registry.metrics(),
        )?.[1] ?? 0,
      );
    const before = await count();
    await raw(fast, one({ sort: 'price' }));
    await raw(fast, batch({}, { limit: 2 }));
    expect(await count()).toBe(before + 3);
  });

  describe('freshness', () => {
    const page = async (api: TestApi, input: unknown) => (JSON.parse((await raw(api, one(input))).body) as { result: { data: Page } }).result.data;

    it('a change through one api process is seen on the next list read through the other: create, update, restock, remove', async () => {
      const storeId = stores[0]!;
      const cheapest = { query: '가방', sort: 'price', limit: 3 };
      // Both processes hold the pages first.
      for (const api of [fast, trpc]) for (const input of [{ storeId }, cheapest, { query: '가방', sort: 'price_desc' }]) await page(api, input);

      const created = await seller.client.products.create.mutate({ storeId, name: '새 가방 fresh', description: '', price: 0, stock: 2 }); // through `fast`
      for (const api of [trpc, fast]) {
        expect((await page(api, { storeId })).items[0]).toMatchObject({ id: created.id, name: '새 가방 fresh', stock: 2 });
        expect((await page(api, { ...cheapest, limit: 100 })).items.find((i) => i.id === created.id)).toMatchObject({ price: 0 });
      }
      await trpc.client(seller.token).products.update.mutate({ productId: created.id, price: 99_999, name: '새 가방 renamed' }); // through `trpc`
      for (const api of [fast, trpc]) {
        expect((await page(api, { storeId })).items[0]).toMatchObject({ id: created.id, name: '새 가방 renamed', price: 99_999 });
        expect((await page(api, cheapest)).items.map((i) => i.id)).not.toContain(created.id);
        expect((await page(api, { query: '가방', sort: 'price_desc' })).items[0]).toMatchObject({ id: created.id, price: 99_999 });
      }
      await seller.client.products.restock.mutate({ productId: created.id, quantity: 5 });
      for (const api of [trpc, fast]) expect((await page(api, { storeId })).items[0]).toMatchObject({ id: created.id, stock: 7 });
      await trpc.client(seller.token).products.remove.mutate({ productId: created.id });
      for (const api of [fast, trpc]) {
        expect((await page(api, { storeId })).items.map((i) => i.id)).not.toContain(created.id);
        expect((await page(api, { query: '가방', sort: 'price_desc' })).items.map((i) => i.id)).not.toContain(created.id);
      }
    });

    it('stock and views are live on a cached page: an order through one process, views through the other', async () => {
      const storeId = stores[1]!;
      const created = await seller.client.products.create.mutate({ storeId, name: 'Live figures', description: '', price: 10, stock: 6 });
      for (const api of [fast, trpc]) expect((await page(api, { storeId })).items[0]).toMatchObject({ id: created.id, stock: 6, viewCount: 0 });
      const buyer = await newAccount(trpc, 'CUSTOMER');
      await buyer.client.orders.place.mutate({
        idempotencyKey: 'list-live-figures',
        items: [{ productId: created.id, quantity: 4 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });
      for (let i = 0; i < 3; i++) await fast.client().products.get.query({ productId: created.id });
      for (const api of [fast, trpc]) expect((await page(api, { storeId })).items[0]).toMatchObject({ id: created.id, stock: 2, viewCount: 3 });
      const { answer } = await same(one({ storeId }));
      expect(answer.status).toBe(200);
    });
  });
});
