import { LRUCache } from 'lru-cache';
import type { ProductListItem, ProductListPage } from '@bazaar/contracts';
import type { ProductListFilter } from '@bazaar/db';
import type { CatalogVersionPair, CatalogVersions, Metrics } from '@bazaar/platform';
import type { ProductViewsStore, SoldOutGate, ViewTally } from '@bazaar/queue';
import type { ListPageLoader } from '../routers/products/list.page';

/** A page as MySQL's primary had it at one version, with its JSON cut around the live figures (built once). */
export interface CachedListPage {
  version: string;
  /** The items as MySQL had them: their stock and view count are MySQL's, replaced on every read. */
  items: ProductListItem[];
  nextCursor: string | null;
  /** Item i's JSON is parts[3i] + stock + parts[3i + 1] + viewCount + parts[3i + 2], each part UTF-8 encoded once. */
  parts: Buffer[];
  /** `],"nextCursor":…}`: what follows the items in the page's JSON. */
  end: Buffer;
  /** Bytes of the page's JSON without the figures: `{"items":[`, the parts, the commas between items, the end. */
  fixedBytes: number;
}

/** One read: a cached page with its live figures, or (not cacheable) a page read through as before. */
type ListRead = { page: CachedListPage; stock: number[]; viewCount: number[] } | { through: ProductListPage };

interface Waiting {
  filter: ProductListFilter;
  waiters: { resolve: (r: ListRead) => void; reject: (e: unknown) => void }[];
}

/** The live figures of one product: the gate's units still available (null: the gate has no count), its view tally. */
interface Figures {
  available: number | null;
  tally: ViewTally;
}

const NO_TALLY: ViewTally = { flushed: null, unflushed: 0 };
const EMPTY = Buffer.alloc(0);
const OPEN = Buffer.from('{"items":[');

/**
 * products.list, built for read storms. A page is cached per canonical input
 * (sort, search terms, store, price range, cursor position, limit) under the
 * catalog version, which every product change sets anew (CatalogVersions),
 * and for the popular sort also under the views version, which a view flush
 * that moved MySQL's counts sets anew: every read checks them, so a change
 * acknowledged through any api process is seen on the next read through
 * every other, and a flush reorders popular pages at once while leaving the
 * other sorts cached. A page is rebuilt once per process per version (reads
 * waiting on it share one SELECT), from the primary: a replica behind it would
 * keep the rows from before the change under the version that announced it.
 *
 * The figures that move with every order and every view are never cached: the
 * stock shown is the sold-out gate's count of units still available, the view
 * count includes views not yet flushed, as products.get shows them. Reads
 * arriving in the same turn of the event loop are served together, in one
 * Redis round: one MGET of both versions, one MGET of the gate's counts and
 * one script reading the view tallies, for the union of their pages' products
 * (the pages this process holds; a page rebuilt for a new version costs a
 * second round for the products it adds).
 *
 * Not cached, read through from a replica as before: a listing with inStock
 * (which products it holds changes with every order), and a page with a product
 * the gate has no count for (its stock shown is then MySQL's, which a cached
 * row would not follow).
 */
export class ProductListCache {
  private readonly local = new LRUCache<string, CachedListPage>({
    max: 5_000,
    // Bytes of the encoded parts (the items' objects take about as much again): at most ~64 MB of pages.
    maxSize: 32_000_000,
    sizeCalculation: (p) => p.fixedBytes,
    ttl: 60_000,
  });
  private readonly inflight = new Map<string, Promise<CachedListPage>>();
  private waiting = new Map<string, Waiting>();
  private scheduled = false;
  private batchedReads = 0;

  constructor(
    private readonly versions: CatalogVersions,
    private readonly gate: SoldOutGate,
    private readonly views: ProductViewsStore,
    private readonly load: ListPageLoader,
    private readonly metrics: Metrics,
  ) {}

  /** The page as products.list answers it. */
  async page(filter: ProductListFilter): Promise<ProductListPage> {
    const r = await this.read(filter);
    if ('through' in r) return r.through;
    const { page, stock, viewCount } = r;
    return {
      items: page.items.map((item, i) => ({ ...item, stock: stock[i] ?? item.stock, viewCount: viewCount[i] ?? item.viewCount })),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * The page's JSON between `head` and `tail`, as UTF-8: byte for byte what
   * JSON.stringify would make of page(filter). Built by copying the parts
   * encoded when the page was cached around the figures' digits (encoding a
   * page of Korean names anew on every answer cost more than the rest of it).
   */
  async bytes(filter: ProductListFilter, head: Buffer = EMPTY, tail: Buffer = EMPTY): Promise<Buffer> {
    const r = await this.read(filter);
    if ('through' in r) return Buffer.from(`${head.toString()}${JSON.stringify(r.through)}${tail.toString()}`);
    const { page, stock, viewCount } = r;
    const { parts } = page;
    const n = page.items.length;
    const digits: string[] = new Array<string>(2 * n);
    let length = head.length + page.fixedBytes + tail.length;
    for (let i = 0; i < n; i++) {
      length += (digits[2 * i] = String(stock[i])).length + (digits[2 * i + 1] = String(viewCount[i])).length;
    }
    const out = Buffer.allocUnsafe(length);
    let at = head.copy(out, 0);
    at += OPEN.copy(out, at);
    for (let i = 0; i < n; i++) {
      if (i > 0) out[at++] = 0x2c; // ,
      at += parts[3 * i]!.copy(out, at);
      at += out.write(digits[2 * i]!, at, 'latin1');
      at += parts[3 * i + 1]!.copy(out, at);
      at += out.write(digits[2 * i + 1]!, at, 'latin1');
      at += parts[3 * i + 2]!.copy(out, at);
    }
    at += page.end.copy(out, at);
    // Every byte of the unzeroed buffer written, or none of it leaves (the fast path then leaves the request to tRPC).
    if (at + tail.copy(out, at) !== length) throw new Error('a list page came out of another length than counted');
    return out;
  }

  /** A product was created, updated, removed or restocked: every cached page is stale from now on, in every process. */
  invalidate(): Promise<void> {
    return this.versions.catalogChanged();
  }

  private read(filter: ProductListFilter): Promise<ListRead> {
    if (filter.inStock) return this.through(filter);
    const key = keyOf(filter);
    return new Promise((resolve, reject) => {
      this.batchedReads++;
      const w = this.waiting.get(key);
      if (w) w.waiters.push({ resolve, reject });
      else this.waiting.set(key, { filter, waiters: [{ resolve, reject }] });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.serve());
      }
    });
  }

  private async serve(): Promise<void> {
    const batch = this.waiting;
    this.waiting = new Map();
    this.scheduled = false;
    this.metrics.productListReadBatches.inc();
    this.metrics.productListReads.inc(this.batchedReads);
    this.batchedReads = 0;
    const keys = [...batch.keys()];
    try {
      // The figures of the pages held here go in the same round as the versions: usually those pages are current.
      const held = keys.map((k) => this.local.get(k));
      const known = new Set<number>();
      for (const p of held) if (p) for (const item of p.items) known.add(item.id);
      const [versions, figures] = await Promise.all([this.versions.read(), this.figures([...known])]);
      const pages = await Promise.all(keys.map((k, i) => this.current(k, batch.get(k)!, versionOf(batch.get(k)!.filter, versions), held[i])));
      const missing = new Set<number>();
      for (const p of pages) for (const item of p.items) if (!figures.has(item.id)) missing.add(item.id);
      if (missing.size > 0) for (const [id, f] of await this.figures([...missing])) figures.set(id, f);
      pages.forEach((page, i) => {
        const { filter, waiters } = batch.get(keys[i]!)!;
        const stock: number[] = [];
        const viewCount: number[] = [];
        for (const item of page.items) {
          const f = figures.get(item.id);
          if (!f || f.available === null) {
            // The gate has no count for this product: the page is read as before the cache was.
            const through = this.through(filter);
            for (const w of waiters) through.then(w.resolve, w.reject);
            return;
          }
          stock.push(f.available);
          viewCount.push((f.tally.flushed ?? item.viewCount) + f.tally.unflushed);
        }
        for (const w of waiters) w.resolve({ page, stock, viewCount });
      });
    } catch (err) {
      for (const { waiters } of batch.values()) for (const w of waiters) w.reject(err);
    }
  }

  /** The page at this version: the one held here when it is current, else rebuilt once for all who wait on it. */
  private current(key: string, w: Waiting, version: string, held: CachedListPage | undefined): Promise<CachedListPage> {
    if (held && held.version === version) {
      this.metrics.cacheRequests.inc({ cache: 'product_list', result: 'hit' }, w.waiters.length);
      return Promise.resolve(held);
    }
    this.metrics.cacheRequests.inc({ cache: 'product_list', result: 'miss' }, w.waiters.length);
    const flight = `${version} ${key}`;
    let p = this.inflight.get(flight);
    if (!p) {
      p = this.rebuild(key, w.filter, version).finally(() => this.inflight.delete(flight));
      this.inflight.set(flight, p);
    }
    return p;
  }

  private async rebuild(key: string, filter: ProductListFilter, version: string): Promise<CachedListPage> {
    this.metrics.productListLoads.inc({ why: 'rebuild' });
    const { items, nextCursor } = await this.load(filter, 'primary');
    const parts = items.flatMap(cutAroundFigures).map((p) => Buffer.from(p));
    const end = Buffer.from(`],"nextCursor":${JSON.stringify(nextCursor)}}`);
    const fixedBytes = parts.reduce((sum, p) => sum + p.length, OPEN.length + end.length + Math.max(0, items.length - 1));
    const page: CachedListPage = { version, items, nextCursor, parts, end, fixedBytes };
    this.local.set(key, page);
    return page;
  }

  /** A page read from a replica with its live figures applied, as products.list answered before it was cached. */
  private async through(filter: ProductListFilter): Promise<ListRead> {
    this.metrics.productListLoads.inc({ why: 'through' });
    const { items, nextCursor } = await this.load(filter, 'replica');
    const figures = await this.figures(items.map((i) => i.id));
    return {
      through: {
        items: items.map((item) => {
          const f = figures.get(item.id);
          const tally = f?.tally ?? NO_TALLY;
          return { ...item, stock: f?.available ?? item.stock, viewCount: (tally.flushed ?? item.viewCount) + tally.unflushed };
        }),
        nextCursor,
      },
    };
  }

  /** The live figures of these products: two commands (the gate's MGET, the view tallies' script). */
  private async figures(ids: number[]): Promise<Map<number, Figures>> {
    const out = new Map<number, Figures>();
    if (ids.length === 0) return out;
    const [available, tallies] = await Promise.all([this.gate.availableMany(ids), this.views.read(ids)]);
    ids.forEach((id, i) => out.set(id, { available: available[i] ?? null, tally: tallies[i] ?? NO_TALLY }));
    return out;
  }
}

/** One key per page asked for: inputs that ask for the same rows share it (the query by its search terms, the cursor by its position). */
const keyOf = (f: ProductListFilter): string =>
  JSON.stringify([f.sort, f.terms ?? null, f.storeId ?? null, f.minPrice ?? null, f.maxPrice ?? null, f.after?.key ?? null, f.after?.id ?? null, f.limit]);

/** The popular sort orders by MySQL's view counts, so its pages also hold only until a flush moves them. */
const versionOf = (f: ProductListFilter, v: CatalogVersionPair): string => (f.sort === 'popular' ? `${v.catalog}/${v.viewCounts}` : v.catalog);

/**
 * An item's JSON in three parts, cut where its stock and view count go (the
 * item's own key order, stock first, as JSON.stringify writes it): the parts
 * joined around the two numbers are JSON.stringify of the item with them.
 */
export function cutAroundFigures(item: ProductListItem): string[] {
  const parts: string[] = [];
  let s = '{';
  let first = true;
  for (const [k, v] of Object.entries(item)) {
    if (v === undefined) continue;
    s += `${first ? '' : ','}${JSON.stringify(k)}:`;
    first = false;
    if (k === 'stock' || k === 'viewCount') {
      if ((k === 'stock') !== (parts.length === 0)) throw new Error('a list item must hold its stock before its view count');
      parts.push(s);
      s = '';
    } else s += JSON.stringify(v);
  }
  if (parts.length !== 2) throw new Error('a list item must hold a stock and a view count');
  parts.push(`${s}}`);
  return parts;
}
