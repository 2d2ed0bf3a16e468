import fc from 'fast-check';
import type { ProductListItem, ProductListPage } from '@bazaar/contracts';
import type { ProductListFilter } from '@bazaar/db';
import { createMetrics, type CatalogVersionPair, type CatalogVersions } from '@bazaar/platform';
import type { ProductViewsStore, SoldOutGate, ViewTally } from '@bazaar/queue';
import { ProductListCache, cutAroundFigures } from './product-list.cache';

const item = (id: number, over: Partial<ProductListItem> = {}): ProductListItem => ({
  id,
  storeId: 1,
  name: `product ${id} "quoted" \\ 가방`,
  description: 'line\nbreak',
  price: 1_000 * id,
  stock: 7,
  status: 'ACTIVE',
  viewCount: 3,
  createdAt: '2026-12-03T00:00:00.000Z',
  updatedAt: '2026-12-03T00:00:01.000Z',
  ...over,
});

/** The cache over in-memory stand-ins for Redis and MySQL, counting what each is asked. */
function harness(rows: ProductListItem[]) {
  const calls = { versions: 0, gate: 0, views: 0, primary: 0, replica: 0 };
  const v: CatalogVersionPair = { catalog: 'c1', viewCounts: 'v1' };
  const available = new Map<number, number>(rows.map((r) => [r.id, 100 + r.id]));
  const tallies = new Map<number, ViewTally>(rows.map((r) => [r.id, { flushed: null, unflushed: r.id }]));
  const versions = {
    read: () => (calls.versions++, Promise.resolve({ ...v })),
    catalogChanged: () => ((v.catalog = `${v.catalog}+`), Promise.resolve()),
  } as unknown as CatalogVersions;
  const gate = { availableMany: (ids: number[]) => (calls.gate++, Promise.resolve(ids.map((id) => available.get(id) ?? null))) } as unknown as SoldOutGate;
  const views = {
    read: (ids: number[]) => (calls.views++, Promise.resolve(ids.map((id) => tallies.get(id) ?? { flushed: null, unflushed: 0 }))),
  } as unknown as ProductViewsStore;
  const load = (f: ProductListFilter, from: 'primary' | 'replica'): Promise<ProductListPage> => {
    calls[from]++;
    const items = rows.slice(0, f.limit).map((r) => ({ ...r }));
    return Promise.resolve({ items, nextCursor: rows.length > f.limit ? 'next-cursor' : null });
  };
  const cache = new ProductListCache(versions, gate, views, load, createMetrics('test'));
  return { cache, calls, v, available, tallies, rows };
}

const text = async (cache: ProductListCache, f: ProductListFilter) => (await cache.bytes(f)).toString();

const filter = (over: Partial<ProductListFilter> = {}): ProductListFilter => ({ sort: 'newest', limit: 2, ...over });

describe('cutAroundFigures', () => {
  it('joined around any stock and view count, is JSON.stringify of the item with them', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.integer({ min: 0, max: 1e9 }),
        fc.integer({ min: -5, max: 1e9 }),
        fc.nat(),
        (name, description, stock, views, price) => {
          const it = item(1, { name, description, price });
          const [a, b, c] = cutAroundFigures(it);
          expect(`${a}${stock}${b}${views}${c}`).toBe(JSON.stringify({ ...it, stock, viewCount: views }));
        },
      ),
    );
  });

  it('refuses an item without its figures, or with them in the other order', () => {
    const { stock: _s, ...noStock } = item(1);
    expect(() => cutAroundFigures(noStock as ProductListItem)).toThrow();
    const { viewCount, ...rest } = item(1);
    expect(() => cutAroundFigures({ viewCount, ...rest })).toThrow();
  });
});

describe('ProductListCache (Redis and MySQL stood in for)', () => {
  it('answers bytes() byte for byte as JSON.stringify(page()), between any head and tail, with the live figures', async () => {
    const { cache } = harness([item(3), item(2), item(1)]);
    const page = await cache.page(filter());
    expect(page.items.map((i) => [i.id, i.stock, i.viewCount])).toEqual([
      [3, 103, 6],
      [2, 102, 5],
    ]);
    expect(page.nextCursor).toBe('next-cursor');
    expect(await text(cache, filter())).toBe(JSON.stringify(page));
    expect((await cache.bytes(filter(), Buffer.from('[{"x":'), Buffer.from('}]'))).toString()).toBe(`[{"x":${JSON.stringify(page)}}]`);
    const all = await cache.page(filter({ limit: 10 }));
    expect(all.nextCursor).toBeNull();
    expect(await text(cache, filter({ limit: 10 }))).toBe(JSON.stringify(all));
  });

  it('serves the reads of one turn with one version read and one read of each live figure, and rebuilds a page once', async () => {
    const { cache, calls } = harness([item(3), item(2), item(1)]);
    const pages = await Promise.all([
      ...Array.from({ length: 50 }, () => text(cache, filter())),
      ...Array.from({ length: 50 }, () => text(cache, filter({ limit: 1 }))),
    ]);
    expect(new Set(pages).size).toBe(2);
    expect(calls).toEqual({ versions: 1, gate: 1, views: 1, primary: 2, replica: 0 }); // nothing held: the figures after the rebuilds
    await Promise.all(Array.from({ length: 10 }, () => text(cache, filter())));
    expect(calls).toEqual({ versions: 2, gate: 2, views: 2, primary: 2, replica: 0 }); // held: the figures in the versions' round
  });

  it('rebuilds after a catalog change, and the popular sort after a views flush too (other sorts stay)', async () => {
    const { cache, calls, v } = harness([item(3), item(2), item(1)]);
    await Promise.all([cache.page(filter()), cache.page(filter({ sort: 'popular' }))]);
    expect(calls.primary).toBe(2);
    v.viewCounts = 'v2';
    await Promise.all([cache.page(filter()), cache.page(filter({ sort: 'popular' }))]);
    expect(calls.primary).toBe(3);
    await cache.invalidate();
    await Promise.all([cache.page(filter()), cache.page(filter({ sort: 'popular' }))]);
    expect(calls.primary).toBe(5);
  });

  it('shows live figures on a cached page: units the gate holds, views flushed (as mirrored) plus not yet flushed', async () => {
    const { cache, available, tallies } = harness([item(3), item(2)]);
    await cache.page(filter());
    available.set(3, 0);
    tallies.set(2, { flushed: 40, unflushed: 2 });
    expect((await cache.page(filter())).items.map((i) => [i.stock, i.viewCount])).toEqual([
      [0, 6],
      [102, 42],
    ]);
  });

  it('reads through from a replica a listing with inStock, and a page with a product the gate has no count for', async () => {
    const { cache, calls, available } = harness([item(3), item(2)]);
    expect((await cache.page(filter({ inStock: true }))).items.map((i) => i.stock)).toEqual([103, 102]);
    expect(calls.replica).toBe(1);
    available.delete(2);
    const page = await cache.page(filter());
    expect(page.items.map((i) => i.stock)).toEqual([103, 7]); // MySQL's stock for the one the gate does not know, as before
    expect(await text(cache, filter())).toBe(JSON.stringify(page));
    expect(calls.replica).toBe(3);
  });

  it('keys pages by what they ask for: the same terms, position and limit share a page', async () => {
    const { cache, calls } = harness([item(3), item(2)]);
    await cache.page(filter({ terms: ['+zk가방'], after: { key: null, id: 9 } }));
    await cache.page(filter({ terms: ['+zk가방'], after: { key: null, id: 9 } }));
    expect(calls.primary).toBe(1);
    await cache.page(filter({ terms: ['+zk가방'], after: { key: null, id: 8 } }));
    await cache.page(filter({ terms: ['+zk가방'], after: { key: null, id: 9 }, limit: 3 }));
    await cache.page(filter({ terms: ['+zk가방'], after: { key: null, id: 9 }, storeId: 1 }));
    await cache.page(filter({ after: { key: null, id: 9 } }));
    expect(calls.primary).toBe(5);
  });

  it('fails every read of a batch whose Redis round fails, and the next batch tries again', async () => {
    const h = harness([item(1)]);
    const gate = (h.cache as unknown as { gate: { availableMany: (ids: number[]) => Promise<(number | null)[]> } }).gate;
    const real = gate.availableMany;
    gate.availableMany = () => Promise.reject(new Error('redis down'));
    await expect(Promise.all([h.cache.page(filter()), text(h.cache, filter())])).rejects.toThrow('redis down');
    gate.availableMany = real;
    expect((await h.cache.page(filter())).items).toHaveLength(1);
  });
});
