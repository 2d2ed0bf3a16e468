import type { DataSource } from 'typeorm';
import { ViewCountsRepository, createDataSource, selectRows } from '@bazaar/db';
import { CatalogVersions, createLogger, createMetrics, createRedis, loadConfig, redisKeys, type Config, type Redis, type RedisKeys } from '@bazaar/platform';
import { ProductViewsStore } from '@bazaar/queue';
import { sqlFixtures } from '../../../test/support/db-fixtures';
import { newAccount, startTestApi } from '../../../test/support/api-harness';
import { testEnv } from '../../../test/support/test-env';
import { FlushProductViewsJob, type FlushFaults } from '../src/jobs/flush-product-views.job';

const log = createLogger('scheduler-test', 'silent');

class Crash extends Error {}

/**
 * FlushProductViewsJob against real Redis and MariaDB: every counted view
 * reaches MySQL exactly once, whatever dies where, and the shown count
 * (flushed + not yet flushed) is exact at every moment.
 */
describe('FlushProductViewsJob (Redis + MariaDB)', () => {
  let config: Config;
  let ds: DataSource;
  let redis: Redis;
  let repo: ViewCountsRepository;
  const fx = sqlFixtures(() => ds);
  let caseNo = 0;

  beforeAll(async () => {
    config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 8 });
    await ds.initialize();
    redis = createRedis(config.REDIS_URL, 'command');
    repo = new ViewCountsRepository(ds);
  });

  afterAll(async () => {
    await redis?.quit();
    await ds?.destroy();
  });

  /** A key prefix and products of this case's own. */
  async function setup(products: number) {
    const keys: RedisKeys = redisKeys(`${testEnv().REDIS_PREFIX}:views-${caseNo++}`);
    const storeId = await fx.newStore();
    const ids: number[] = [];
    for (let i = 0; i < products; i++) ids.push((await fx.newProduct(storeId, 1_000, 10)).id);
    const store = new ProductViewsStore(redis, keys);
    const job = (faults: FlushFaults = {}) => new FlushProductViewsJob(store, repo, createMetrics('scheduler'), new CatalogVersions(redis, keys), faults);
    const inMysql = async () => {
      const rows = await selectRows<{ id: string; view_count: string }>(ds, `SELECT id, view_count FROM products WHERE id IN (${ids.join(',')})`);
      return new Map(rows.map((r) => [Number(r.id), Number(r.view_count)]));
    };
    const unflushed = async () => new Map((await store.count(ids.map((id) => [id, 0] as const))).map((t, i) => [ids[i] ?? 0, t.unflushed]));
    return { keys, ids, store, job, inMysql, unflushed };
  }

  it('applies each batch once when flushes die after claiming, after committing, and when eight run at once', async () => {
    const { keys, ids, store, job, inMysql, unflushed } = await setup(10);
    const expected = new Map(ids.map((id) => [id, 0]));
    let counting = true;
    // 400 concurrent calls of 1–19 views each, while flushes run (and die).
    const counter = (async () => {
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          Array.from({ length: 40 }, (_, k) => {
            const id = ids[(round * 7 + k) % ids.length] ?? 0;
            const n = ((round + k) % 19) + 1;
            expected.set(id, (expected.get(id) ?? 0) + n);
            return store.count([[id, n]]);
          }),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
      counting = false;
    })();
    const outcomes = { crashedAfterClaim: 0, crashedAfterApply: 0, ok: 0 };
    let run = 0;
    while (counting) {
      run++;
      const faults: FlushFaults =
        run % 5 === 1
          ? {
              afterClaim: () => {
                throw new Crash('died after claiming');
              },
            }
          : run % 5 === 2
            ? {
                afterApply: () => {
                  throw new Crash('died after committing');
                },
              }
            : {};
      const results = await Promise.allSettled(run % 5 === 3 ? Array.from({ length: 8 }, () => job().run(log)) : [job(faults).run(log)]);
      for (const r of results) {
        if (r.status === 'fulfilled') outcomes.ok++;
        else if (r.reason instanceof Crash) {
          if (r.reason.message.includes('claiming')) outcomes.crashedAfterClaim++;
          else outcomes.crashedAfterApply++;
        } else throw r.reason;
      }
      await new Promise((r) => setTimeout(r, 3));
    }
    await counter;
    await job().run(log);
    await job().run(log);

    expect(outcomes.crashedAfterClaim).toBeGreaterThan(0);
    expect(outcomes.crashedAfterApply).toBeGreaterThan(0);
    expect(await inMysql()).toEqual(expected);
    expect([...(await unflushed()).values()].every((n) => n === 0)).toBe(true);
    expect(await redis.exists(keys.viewsPending, keys.viewsBatch, keys.viewsBatchData)).toBe(0);
    // Redis' mirror of MySQL's totals agrees with MySQL.
    const mirror = await redis.hgetall(keys.viewsFlushed);
    for (const [id, n] of expected) expect(Number(mirror[String(id)])).toBe(n);
  });

  it('a batch committed by a flush that died before dropping it is dropped by the next, not added again', async () => {
    const { keys, ids, store, job, inMysql } = await setup(2);
    const [a = 0, b = 0] = ids;
    await store.count([
      [a, 5],
      [b, 7],
    ]);
    await expect(
      job({
        afterApply: () => {
          throw new Crash('died after committing');
        },
      }).run(log),
    ).rejects.toBeInstanceOf(Crash);
    expect(await inMysql()).toEqual(
      new Map([
        [a, 5],
        [b, 7],
      ]),
    );
    // The batch is still claimed: both reads (counting nothing) see it as not yet flushed, and no mirror yet.
    expect(await store.read([a, b])).toEqual([
      { flushed: null, unflushed: 5 },
      { flushed: null, unflushed: 7 },
    ]);
    expect(await store.read([a, b])).toEqual(
      await store.count([
        [a, 0],
        [b, 0],
      ]),
    );
    // Meanwhile more views arrive; the next flush finishes the old batch (no double count), then flushes these.
    await store.count([[a, 2]]);
    const metrics = createMetrics('scheduler');
    const result = await new FlushProductViewsJob(store, repo, metrics, new CatalogVersions(redis, keys)).run(log);
    expect(result).toEqual({ batches: 2, views: 2 });
    expect(await inMysql()).toEqual(
      new Map([
        [a, 7],
        [b, 7],
      ]),
    );
    expect(await store.read([a, b])).toEqual([
      { flushed: 7, unflushed: 0 },
      { flushed: 7, unflushed: 0 },
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/bazaar_view_counter_flush_total\{[^}]*outcome="duplicate"[^}]*\} 1\n/);
    expect(text).toMatch(/bazaar_view_counter_flush_total\{[^}]*outcome="applied"[^}]*\} 1\n/);
    expect(text).toMatch(/bazaar_views_flushed_total\{[^}]*\} 2\n/);
  });

  it('the shown count (flushed + not yet flushed) is exact at every read while flushes run', async () => {
    const { ids, store, job } = await setup(1);
    const id = ids[0] ?? 0;
    let stop = false;
    const flusher = (async () => {
      while (!stop) {
        await job().run(log);
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const shown: number[] = [];
    for (let i = 1; i <= 1_500; i++) {
      const [t] = await store.count([[id, 1]]);
      shown.push((t?.flushed ?? 0) + (t?.unflushed ?? 0));
    }
    stop = true;
    await flusher;
    expect(shown).toEqual(Array.from({ length: 1_500 }, (_, i) => i + 1));
  });

  it('nothing to flush: an empty run changes nothing, not even the views version', async () => {
    const { keys, job, inMysql, ids } = await setup(1);
    const before = await new CatalogVersions(redis, keys).read();
    expect(await job().run(log)).toEqual({ batches: 0, views: 0 });
    expect(await inMysql()).toEqual(new Map([[ids[0], 0]]));
    expect(await new CatalogVersions(redis, keys).read()).toEqual(before);
  });

  it("a flush that moved MySQL's counts reorders products.list's popular pages on the next read; other sorts stay cached", async () => {
    const keys = redisKeys(`${testEnv().REDIS_PREFIX}-vflush`); // one the api's config accepts
    const job = () => new FlushProductViewsJob(new ProductViewsStore(redis, keys), repo, createMetrics('scheduler'), new CatalogVersions(redis, keys));
    const api = await startTestApi({ REDIS_PREFIX: keys.prefix });
    try {
      const seller = await newAccount(api, 'SELLER');
      const storeId = (await seller.client.stores.create.mutate({ name: 'flush reorders' })).id;
      const [a, b, c] = await Promise.all(
        ['a', 'b', 'c'].map((n) => seller.client.products.create.mutate({ storeId, name: `popular ${n}`, description: '', price: 100, stock: 1 })),
      );
      const popular = async () => (await api.client().products.list.query({ storeId, sort: 'popular' })).items.map((i) => [i.id, i.viewCount]);
      const byId = [a!, b!, c!].map((p) => p.id).sort((x, y) => y - x);
      const rebuilds = async () =>
        Number(/bazaar_product_list_loads_total\{[^}]*why="rebuild"[^}]*\} (\d+)/.exec(await api.deps.metrics.registry.metrics())?.[1] ?? 0);
      expect(await popular()).toEqual(byId.map((id) => [id, 0])); // no views: ties by id, newest first
      for (let i = 0; i < 5; i++) await api.client().products.get.query({ productId: a!.id });
      await api.client().products.get.query({ productId: b!.id });
      // Counted, not flushed: the views show at once, the order is still MySQL's.
      const shown = new Map([
        [a!.id, 5],
        [b!.id, 1],
        [c!.id, 0],
      ]);
      expect(await popular()).toEqual(byId.map((id) => [id, shown.get(id)]));
      const newest = await api.client().products.list.query({ storeId });
      const before = await rebuilds();
      await job().run(log);
      expect(await popular()).toEqual([
        [a!.id, 5],
        [b!.id, 1],
        [c!.id, 0],
      ]);
      expect(await api.client().products.list.query({ storeId })).toEqual(newest);
      expect(await rebuilds()).toBe(before + 1); // the popular page only
    } finally {
      await api.close();
    }
  });
});
