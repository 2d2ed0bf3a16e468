import type { DataSource } from 'typeorm';
import { PRODUCT_SORTS } from '@bazaar/contracts';
import { searchIndexTokens, searchQueryTerms } from '@bazaar/domain';
import { createDataSource, execute, productListQuery, selectRows, type ProductListFilter } from '@bazaar/db';
import { loadConfig } from '@bazaar/platform';
import { isolatedEnv } from '../../../test/support/isolated-env';

const PRODUCTS = 100_000;
const STORES = 50;
/** Every 19th product is deleted (about 5%), spread over prices and views. */
const DELETED_EVERY = 19;
const PAGE = 21; // a page of 20 and the one row that says another page follows

/** Names the load repeats (a Korean compound, an English phrase, a variant), so searches have terms of every breadth. */
const KO = ['노트북가방', '운동화', '서울우유', '장미꽃다발', '가죽지갑', '원두커피', '무선이어폰', '감귤주스', '텀블러', '캠핑의자', '가습기', '책상'];
const EN = [
  'laptop bag',
  'running shoes',
  'fresh milk',
  'rose bouquet',
  'leather wallet',
  'coffee beans',
  'earbuds',
  'the juice',
  'tumbler',
  'chair',
  'humidifier',
  'desk',
];
const VARIANTS = ['블랙 black', '화이트 white', '레드 red', '네이비 navy', 'mini', 'XL', '2개입 pack of 2', '대용량 large', 'a gift', 'limited'];
const TEMPLATES = KO.length * VARIANTS.length;

const DIGITS = `(${Array.from({ length: 10 }, (_, d) => `SELECT ${d} AS d`).join(' UNION ALL ')})`;

interface PlanRow {
  table: string;
  type: string;
  key: string | null;
  rows: number | string | null;
  Extra: string | null;
}

/**
 * The EXPLAIN of every query shape productListQuery can build (each sort ×
 * store or not × price range or not × in stock or not × search or not ×
 * first page or a later one), on 100,000 products (5% deleted) in 50
 * stores, with fresh statistics: none scans the table, searches use the
 * FULLTEXT index, and on MariaDB (ANALYZE runs the statement) a plain page
 * reads no more rows than it returns.
 */
describe('products.list on 100,000 products: every query shape uses an index', () => {
  jest.setTimeout(120_000);
  let ds: DataSource;
  let isMariaDb = false;
  let firstStore = 0;
  const figures: string[] = [];

  beforeAll(async () => {
    const env = await isolatedEnv('plexplain');
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_REPLICA_URLS: [] });
    await ds.initialize();
    isMariaDb = /mariadb/i.test((await selectRows<{ v: string }>(ds, 'SELECT VERSION() AS v'))[0]?.v ?? '');

    const t0 = Date.now();
    const seller = await execute(ds, `INSERT INTO users (email, password_hash, name, role) VALUES ('explain@test.bazaar', 'x', 'explain', 'SELLER')`);
    await execute(
      ds,
      `INSERT INTO stores (seller_id, name) VALUES ${Array.from({ length: STORES }, () => '(?, ?)').join(', ')}`,
      Array.from({ length: STORES }, (_, i) => [seller.insertId, `store ${i}`]).flat(),
    );
    firstStore = Number((await selectRows<{ id: number }>(ds, 'SELECT MIN(id) AS id FROM stores'))[0]!.id);
    // Names and tokens from the real tokenizer, once per template; the 100,000 rows are made by the server in one statement.
    const templates = Array.from({ length: TEMPLATES }, (_, k) => {
      const name = `${KO[k % KO.length]!} ${EN[k % EN.length]!} ${VARIANTS[Math.floor(k / KO.length)]!}`;
      return [k, name, searchIndexTokens(name, '')];
    });
    const q = ds.createQueryRunner('master');
    await q.connect();
    try {
      await q.query('CREATE TEMPORARY TABLE tmpl (k INT PRIMARY KEY, name VARCHAR(200), tokens MEDIUMTEXT) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin');
      await q.query(`INSERT INTO tmpl (k, name, tokens) VALUES ${templates.map(() => '(?, ?, ?)').join(', ')}`, templates.flat());
      await q.query(
        `INSERT INTO products (store_id, name, description, search_tokens, price, stock, view_count, status)
         SELECT ? + s.n % ?, t.name, '', t.tokens, 1000 + (s.n * 7919 % 2000) * 100, s.n % 13, s.n * 31 % 5000, IF(s.n % ? = 0, 'DELETED', 'ACTIVE')
         FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f) s
         JOIN tmpl t ON t.k = s.n % ?`,
        [firstStore, STORES, DELETED_EVERY, TEMPLATES],
      );
      await q.query('DROP TEMPORARY TABLE tmpl');
    } finally {
      await q.release();
    }
    await ds.query('ANALYZE TABLE products');
    figures.push(`loaded ${PRODUCTS.toLocaleString('en')} products and analyzed in ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    if (figures.length > 0) process.stdout.write(`products.list EXPLAIN on ${PRODUCTS.toLocaleString('en')} products:\n  ${figures.join('\n  ')}\n`);
    await ds?.destroy();
  });

  /** Every shape: the product of each option the builder has. */
  function shapes(): { name: string; filter: ProductListFilter }[] {
    const out: { name: string; filter: ProductListFilter }[] = [];
    for (const sort of PRODUCT_SORTS) {
      for (const store of [false, true]) {
        for (const range of [false, true]) {
          for (const inStock of [false, true]) {
            for (const query of [undefined, '가방', 'the juice', 'limited 가습기 humidifier']) {
              for (const later of [false, true]) {
                const key = sort === 'newest' ? null : sort === 'popular' ? 2_500 : 55_000; // inside the price range
                const filter: ProductListFilter = {
                  sort,
                  limit: PAGE,
                  ...(store ? { storeId: firstStore + 7 } : {}),
                  ...(range ? { minPrice: 50_000, maxPrice: 60_000 } : {}),
                  ...(inStock ? { inStock: true } : {}),
                  ...(query ? { terms: searchQueryTerms(query) } : {}),
                  ...(later ? { after: { key, id: 50_000 } } : {}),
                };
                const name = [sort, store && 'store', range && 'price range', inStock && 'in stock', query && `search "${query}"`, later && 'later page']
                  .filter(Boolean)
                  .join(', ');
                out.push({ name, filter });
              }
            }
          }
        }
      }
    }
    return out;
  }

  it('loaded the catalog', async () => {
    const [row] = await selectRows<{ n: number | string; active: number | string }>(ds, `SELECT COUNT(*) AS n, SUM(status = 'ACTIVE') AS active FROM products`);
    expect({ n: Number(row!.n), active: Number(row!.active) }).toEqual({ n: PRODUCTS, active: PRODUCTS - Math.ceil(PRODUCTS / DELETED_EVERY) });
  });

  it('no query shape scans the table; searches use the FULLTEXT index; a page without a search reads about its own rows', async () => {
    const all = shapes();
    expect(all).toHaveLength(PRODUCT_SORTS.length * 2 * 2 * 2 * 4 * 2);
    const keys = new Map<string, number>();
    const failures: string[] = [];
    const mostRead = { plain: 0, inStock: 0, priceRange: 0 };
    for (const { name, filter } of all) {
      const { sql, params } = productListQuery(filter);
      const plan = await selectRows<PlanRow>(ds, `EXPLAIN ${sql}`, params);
      expect(plan).toHaveLength(1); // one table: no subquery, no derived table
      const p = plan[0]!;
      keys.set(`${p.key} (${p.type})`, (keys.get(`${p.key} (${p.type})`) ?? 0) + 1);
      if (p.type === 'ALL' || p.key === null) failures.push(`${name}: ${p.type} on ${p.key}`);
      if (filter.terms && (p.type !== 'fulltext' || p.key !== 'ft_products_search'))
        failures.push(`${name}: search without the FULLTEXT index (${p.type} on ${p.key})`);
      if (!isMariaDb || filter.terms) continue;
      // ANALYZE runs the statement and reports the rows it actually read (r_rows).
      const [a] = await selectRows<{ r_rows: string | number | null }>(ds, `ANALYZE ${sql}`, params);
      const read = Number(a?.r_rows ?? Infinity);
      const kind = filter.minPrice !== undefined ? 'priceRange' : filter.inStock ? 'inStock' : 'plain';
      mostRead[kind] = Math.max(mostRead[kind], read);
      // Bounds: the page and the deleted products in its way; the same over the share in stock (12 in 13); a twentieth of the catalog.
      const bound = { plain: 2 * PAGE, inStock: 3 * PAGE, priceRange: PRODUCTS / 20 }[kind];
      if (read > bound) failures.push(`${name}: read ${read} rows for a page of ${PAGE}`);
    }
    figures.push(`${all.length} shapes explained; keys used: ${[...keys].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    if (isMariaDb) {
      figures.push(
        `most rows read by a page without a search: ${mostRead.plain} (no filter), ${mostRead.inStock} (in stock), ${mostRead.priceRange} (price range 50,000-60,000)`,
      );
    }
    expect(failures).toEqual([]);
  });

  it('reads pages from the index, however far in: timings of a few shapes (reported, not asserted)', async () => {
    const sample: [string, ProductListFilter][] = [
      ['newest, first page', { sort: 'newest', limit: PAGE }],
      ['popular, page after 50,000', { sort: 'popular', limit: PAGE, after: { key: 2_500, id: 50_000 } }],
      ['price, one store, in stock', { sort: 'price', limit: PAGE, storeId: firstStore + 7, inStock: true }],
      ['search 가방 (8,000 matches), newest', { sort: 'newest', limit: PAGE, terms: searchQueryTerms('가방') }],
      ['search "limited 가습기 humidifier" (830 matches), price', { sort: 'price', limit: PAGE, terms: searchQueryTerms('limited 가습기 humidifier') }],
    ];
    const timings: string[] = [];
    for (const [name, filter] of sample) {
      const { sql, params } = productListQuery(filter);
      await ds.query(sql, params); // warm
      const t0 = process.hrtime.bigint();
      const rows = await selectRows<{ id: number }>(ds, sql, params);
      timings.push(`${name}: ${rows.length} rows in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);
      expect(rows.length).toBeGreaterThan(0);
    }
    figures.push(...timings);
  });
});
