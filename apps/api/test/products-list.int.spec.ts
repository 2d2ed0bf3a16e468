import type { ProductListInput, ProductListItem, ProductSort } from '@bazaar/contracts';
import { execute } from '@bazaar/db';
import { DELIVERY, newAccount, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { isolatedEnv } from '../../../test/support/isolated-env';
import { expectBadField } from '../../../test/support/trpc-expect';
import type { TestEnv } from '../../../test/support/test-env';

type ListArgs = Partial<Omit<ProductListInput, 'sort'>> & { sort?: ProductSort };

/**
 * products.list against real MariaDB and Redis, on a database of its own (so
 * listing everything is this suite's catalog only): search in Korean and
 * English, filters, every sort, keyset pages walked to the end, bad cursors,
 * and the replica read.
 */
describe('products.list: search, filters, sorts, pages (real MariaDB)', () => {
  let env: TestEnv;
  let api: TestApi;
  /** Every product this suite made, by its key, as products.create returned it, plus the views set for it. */
  const made = new Map<string, { id: number; storeId: number; name: string; price: number; stock: number; viewCount: number; deleted?: boolean }>();
  const stores: Record<'ko' | 'en' | 'filler', number> = { ko: 0, en: 0, filler: 0 };

  const CATALOG: [key: string, store: 'ko' | 'en', name: string, description: string, price: number, stock: number, views: number][] = [
    ['laptopBag', 'ko', '노트북가방 Laptop bag', '15인치 노트북 수납', 39_000, 5, 40],
    ['tote', 'ko', '가방 Tote', '캔버스 가방', 25_000, 0, 12],
    ['shoes', 'ko', '운동화 신발 Running shoes', 'The best shoes for a run', 89_000, 3, 40],
    ['milk', 'ko', '서울우유 1L Milk', '신선한 우유', 2_900, 100, 7],
    ['roses', 'ko', '장미꽃 다발 Rose bouquet', 'A dozen red roses', 15_000, 7, 3],
    ['cushion', 'ko', '가죽 방석 Leather cushion', '거실용', 30_000, 2, 0],
    ['tee', 'en', 'The Who T-shirt', 'band tee, size L', 19_000, 10, 25],
    ['paper', 'en', 'A4 paper', 'a pack of 500 sheets', 5_000, 50, 25],
    ['mug', 'en', 'Café au lait mug', 'ceramic', 9_900, 0, 1],
    ['case', 'en', 'iPhone 15 case', '투명 케이스 clear', 12_000, 20, 0],
    ['gone', 'ko', '삭제된 가방 Deleted bag', 'removed, never listed', 1_000, 5, 99],
  ];
  const FILLERS = 45;

  const list = (input: ListArgs = {}) => api.client().products.list.query(input);
  const ids = (items: ProductListItem[]) => items.map((i) => i.id);
  const idsOf = (...keys: string[]) => keys.map((k) => made.get(k)!.id);
  const found = async (query: string, extra: ListArgs = {}) => ids((await list({ query, limit: 100, ...extra })).items).sort((a, b) => a - b);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

  /** Every page of a listing, following nextCursor to the end. */
  async function walk(input: ListArgs): Promise<{ items: ProductListItem[]; pages: number }> {
    const items: ProductListItem[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await list({ ...input, cursor });
      pages++;
      items.push(...page.items);
      if (page.nextCursor === null) return { items, pages };
      expect(page.items).toHaveLength(input.limit ?? 20);
      cursor = page.nextCursor;
      if (pages > 100) throw new Error('no end to the pages');
    }
  }

  beforeAll(async () => {
    env = await isolatedEnv('plist');
    api = await startTestApi({ ...env });
    const seller = await newAccount(api, 'SELLER');
    for (const s of ['ko', 'en', 'filler'] as const) stores[s] = (await seller.client.stores.create.mutate({ name: `${s} store` })).id;
    for (const [key, store, name, description, price, stock, viewCount] of CATALOG) {
      const p = await seller.client.products.create.mutate({ storeId: stores[store], name, description, price, stock });
      made.set(key, { id: p.id, storeId: p.storeId, name, price, stock, viewCount });
    }
    // Fillers with repeated prices and views, so every sort has ties that only the id breaks.
    for (let i = 0; i < FILLERS; i++) {
      const price = 1_000 * (1 + (i % 7));
      const p = await seller.client.products.create.mutate({ storeId: stores.filler, name: `Filler n${i} 채움`, description: '', price, stock: i % 4 });
      made.set(`filler${i}`, { id: p.id, storeId: p.storeId, name: p.name, price, stock: i % 4, viewCount: i % 5 });
    }
    for (const p of made.values()) if (p.viewCount > 0) await execute(api.deps.ds, 'UPDATE products SET view_count = ? WHERE id = ?', [p.viewCount, p.id]);
    await seller.client.products.remove.mutate({ productId: made.get('gone')!.id });
    made.get('gone')!.deleted = true;
  });

  afterAll(async () => {
    await api?.close();
  });

  const live = () => [...made.values()].filter((p) => !p.deleted);
  const EXPECTED_ORDER: Record<ProductSort, (a: ReturnType<typeof live>[number], b: ReturnType<typeof live>[number]) => number> = {
    newest: (a, b) => b.id - a.id,
    price: (a, b) => a.price - b.price || a.id - b.id,
    price_desc: (a, b) => b.price - a.price || b.id - a.id,
    popular: (a, b) => b.viewCount - a.viewCount || b.id - a.id,
  };

  describe('search', () => {
    it('finds two-syllable Korean words alone and inside compounds, never a deleted product', async () => {
      expect(await found('가방')).toEqual(sorted(idsOf('laptopBag', 'tote'))); // not 가죽 방석, not the deleted bag
      expect(await found('우유')).toEqual(idsOf('milk')); // inside 서울우유
      expect(await found('신발')).toEqual(idsOf('shoes'));
      expect(await found('노트북')).toEqual(idsOf('laptopBag'));
      expect(await found('노트북 가방')).toEqual(idsOf('laptopBag'));
      expect(await found('꽃')).toEqual(idsOf('roses')); // one syllable, last of 장미꽃
      expect(await found('케이스')).toEqual(idsOf('case'));
      expect(await found('방석')).toEqual(idsOf('cushion'));
      expect(await found('삭제된')).toEqual([]);
    });

    it('finds English stopwords, one-letter words, prefixes, any case and accents', async () => {
      expect(await found('the')).toEqual(sorted(idsOf('shoes', 'tee')));
      expect(await found('who')).toEqual(idsOf('tee'));
      expect(await found('a')).toEqual(sorted(idsOf('shoes', 'roses', 'paper')));
      expect(await found('L')).toEqual(idsOf('tee'));
      expect(await found('ros')).toEqual(idsOf('roses'));
      expect(await found('ROSE BOUQUET')).toEqual(idsOf('roses'));
      expect(await found('cafe')).toEqual(idsOf('mug'));
      expect(await found('CAFÉ')).toEqual(idsOf('mug'));
      expect(await found('15')).toEqual(sorted(idsOf('laptopBag', 'case'))); // 15인치 and iPhone 15
      expect(await found('tulip')).toEqual([]);
    });

    it('requires every word, Korean and English mixed', async () => {
      expect(await found('가방 laptop')).toEqual(idsOf('laptopBag'));
      expect(await found('우유 milk 1l')).toEqual(idsOf('milk'));
      expect(await found('가방 milk')).toEqual([]);
      expect(await found('the shoes')).toEqual(idsOf('shoes'));
    });

    it('combines with filters and sorts', async () => {
      expect(await found('가방', { inStock: true })).toEqual(idsOf('laptopBag'));
      expect(await found('the', { storeId: stores.en })).toEqual(idsOf('tee'));
      expect(ids((await list({ query: '가방', sort: 'price' })).items)).toEqual(idsOf('tote', 'laptopBag'));
      expect(ids((await list({ query: '채움', minPrice: 7_000, sort: 'price_desc', limit: 100 })).items)).toEqual(
        live()
          .filter((p) => p.name.includes('채움') && p.price >= 7_000)
          .sort(EXPECTED_ORDER.price_desc)
          .map((p) => p.id),
      );
    });

    it('follows a change of name or description at once', async () => {
      const seller = await newAccount(api, 'SELLER');
      const storeId = (await seller.client.stores.create.mutate({ name: 'changing' })).id;
      const p = await seller.client.products.create.mutate({ storeId, name: '머그컵 Ceramic', description: '커피 coffee', price: 100, stock: 1 });
      expect(await found('머그')).toEqual([p.id]);
      await seller.client.products.update.mutate({ productId: p.id, name: '텀블러 Tumbler' });
      expect(await found('머그')).toEqual([]);
      expect(await found('텀블러 커피')).toEqual([p.id]); // the new name with the description kept
      await seller.client.products.update.mutate({ productId: p.id, description: '차 tea' });
      expect(await found('coffee')).toEqual([]);
      expect(await found('tumbler tea')).toEqual([p.id]);
      await seller.client.products.update.mutate({ productId: p.id, price: 200 }); // price only: tokens stay
      expect(await found('tumbler tea')).toEqual([p.id]);
      await seller.client.products.remove.mutate({ productId: p.id });
      expect(await found('tumbler')).toEqual([]);
    });

    it('refuses a query with nothing to search for, an empty one or a too long one, naming query', async () => {
      await expectBadField(list({ query: '!!! ~~' }), 'query');
      await expectBadField(list({ query: '   ' }), 'query');
      await expectBadField(list({ query: 'x'.repeat(101) }), 'query');
    });
  });

  describe('filters', () => {
    it('by store, price range and stock', async () => {
      const all = await walk({ limit: 100 });
      expect(sorted(ids(all.items))).toEqual(sorted(live().map((p) => p.id)));
      expect(sorted(ids((await list({ storeId: stores.en, limit: 100 })).items))).toEqual(sorted(idsOf('tee', 'paper', 'mug', 'case')));
      const ranged = await list({ minPrice: 9_900, maxPrice: 25_000, limit: 100 });
      expect(sorted(ids(ranged.items))).toEqual(
        sorted(
          live()
            .filter((p) => p.price >= 9_900 && p.price <= 25_000)
            .map((p) => p.id),
        ),
      );
      const inStock = await walk({ inStock: true, limit: 10 });
      expect(sorted(ids(inStock.items))).toEqual(
        sorted(
          live()
            .filter((p) => p.stock > 0)
            .map((p) => p.id),
        ),
      );
      const both = await list({ storeId: stores.filler, inStock: true, maxPrice: 3_000, limit: 100 });
      expect(sorted(ids(both.items))).toEqual(
        sorted(
          live()
            .filter((p) => p.storeId === stores.filler && p.stock > 0 && p.price <= 3_000)
            .map((p) => p.id),
        ),
      );
      expect(await list({ storeId: 987_654_321 })).toEqual({ items: [], nextCursor: null });
    });

    it('refuses a price range upside down, naming maxPrice', async () => {
      await expectBadField(list({ minPrice: 10, maxPrice: 9 }), 'maxPrice');
    });
  });

  describe('sorts and pages', () => {
    it.each(['newest', 'price', 'price_desc', 'popular'] as const)('%s: walking every page gives each product once, in order', async (sort) => {
      const expected = live().sort(EXPECTED_ORDER[sort]);
      const { items, pages } = await walk({ sort, limit: 7 });
      expect(ids(items)).toEqual(expected.map((p) => p.id));
      expect(pages).toBe(Math.ceil(expected.length / 7));
      // The same walk within one store and with a search.
      const filler = await walk({ sort, limit: 4, storeId: stores.filler, inStock: true });
      expect(ids(filler.items)).toEqual(expected.filter((p) => p.storeId === stores.filler && p.stock > 0).map((p) => p.id));
      const searched = await walk({ sort, limit: 3, query: 'filler' });
      expect(ids(searched.items)).toEqual(expected.filter((p) => p.name.startsWith('Filler')).map((p) => p.id));
    });

    it('newest is the default; items carry the list shape, the description cut to 200 characters', async () => {
      const seller = await newAccount(api, 'SELLER');
      const storeId = (await seller.client.stores.create.mutate({ name: 'long texts' })).id;
      const description = '가'.repeat(150) + 'b'.repeat(150);
      const p = await seller.client.products.create.mutate({ storeId, name: 'Long description', description, price: 4_200, stock: 3 });
      const page = await list({ limit: 1 });
      expect(page.items).toEqual([
        {
          id: p.id,
          storeId,
          name: 'Long description',
          description: description.slice(0, 200),
          price: 4_200,
          stock: 3,
          status: 'ACTIVE',
          viewCount: 0,
          createdAt: p.createdAt,
          updatedAt: p.updatedAt,
        },
      ]);
      expect(page.nextCursor).toEqual(expect.any(String));
      await seller.client.products.remove.mutate({ productId: p.id });
    });

    it('the last page has no cursor; limit defaults to 20 and may be 100', async () => {
      expect((await list({})).items).toHaveLength(20);
      const big = await list({ limit: 100 });
      expect(big.items).toHaveLength(live().length);
      expect(big.nextCursor).toBeNull();
    });

    it('refuses a cursor it did not return, or one of another sort, naming cursor', async () => {
      const first = await list({ sort: 'price', limit: 2 });
      const cursor = first.nextCursor!;
      await expectBadField(list({ sort: 'popular', cursor }), 'cursor');
      await expectBadField(list({ cursor }), 'cursor'); // newest by default
      const forged = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');
      for (const bad of [
        'abc',
        'not base64!',
        forged({ s: 'price', k: -1, i: 1 }),
        forged({ s: 'price', k: 1.5, i: 1 }),
        forged({ s: 'price', k: null, i: 1 }),
        forged({ s: 'price', k: 1, i: 0 }),
        forged({ s: 'price', k: 1, i: 1, x: 1 }),
        forged({ s: 'price', k: '1 OR 1=1', i: 1 }),
        forged({ s: 'newest', k: 5, i: 1 }),
        forged(['price', 1, 1]),
        forged('price'),
        forged(null),
        'A'.repeat(201),
      ]) {
        await expectBadField(list({ sort: 'price', cursor: bad }), 'cursor');
      }
      // A well-formed cursor past every row is just an empty last page.
      expect(await list({ sort: 'price', cursor: forged({ s: 'price', k: 100_000_000, i: Number.MAX_SAFE_INTEGER }) })).toEqual({
        items: [],
        nextCursor: null,
      });
    });
  });

  it('shows stock and views live, as products.get does: units still available at the gate, views not yet flushed', async () => {
    const seller = await newAccount(api, 'SELLER');
    const storeId = (await seller.client.stores.create.mutate({ name: 'live figures' })).id;
    const p = await seller.client.products.create.mutate({ storeId, name: '실시간 Livewire', description: '', price: 1_000, stock: 5 });
    for (let i = 0; i < 3; i++) await api.client().products.get.query({ productId: p.id });
    const buyer = await newAccount(api, 'CUSTOMER');
    await buyer.client.orders.place.mutate({
      idempotencyKey: 'live-figures-1',
      items: [{ productId: p.id, quantity: 2 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    const [item] = (await list({ query: 'livewire' })).items;
    expect(item).toMatchObject({ id: p.id, stock: 3, viewCount: 3 }); // no worker here: MySQL still says 5 and 0
    const viaGet = await api.client().products.get.query({ productId: p.id });
    expect({ stock: viaGet.stock, viewCount: viaGet.viewCount - 1 }).toEqual({ stock: item?.stock, viewCount: item?.viewCount });
  });

  it('reads a listing with inStock (never cached) from the replica when there is one, and builds cached pages from the primary', async () => {
    // A "replica" that differs from the primary: another database holding one product of its own.
    const replica = await isolatedEnv('plistrep');
    const replicaApi = await startTestApi({ ...replica });
    const seller = await newAccount(replicaApi, 'SELLER');
    const storeId = (await seller.client.stores.create.mutate({ name: 'replica only' })).id;
    const onlyThere = await seller.client.products.create.mutate({ storeId, name: '복제본 Replica', description: '', price: 1, stock: 1 });
    await replicaApi.close();
    const readsReplica = await startTestApi({ ...env, MYSQL_REPLICA_URLS: replica.MYSQL_URL });
    try {
      const page = await readsReplica.client().products.list.query({ query: '복제본', inStock: true });
      expect(ids(page.items)).toEqual([onlyThere.id]);
      expect(ids((await readsReplica.client().products.list.query({ query: '가방', inStock: true })).items)).toEqual([]);
      // A cached page is built from the primary: a replica behind it would keep the rows from before a change under the
      // version that announced the change.
      expect(ids((await readsReplica.client().products.list.query({ query: '복제본' })).items)).toEqual([]);
      expect(sorted(ids((await readsReplica.client().products.list.query({ query: '가방' })).items))).toEqual(sorted(idsOf('laptopBag', 'tote')));
      // Reads that must see writes stay on the primary (TypeORM's find methods would go to a replica by default):
      // a product the replica does not have is still found.
      const onPrimary = [...made.values()].find((p) => !p.deleted && p.id > onlyThere.id)!;
      expect(await readsReplica.client().products.get.query({ productId: onPrimary.id })).toMatchObject({ id: onPrimary.id, name: onPrimary.name });
    } finally {
      await readsReplica.close();
    }
  });
});
