import type { DataSource, QueryRunner } from 'typeorm';
import { OrderStatus, ProductStatus } from '@bazaar/contracts';
import { PopularProductsRepository, createDataSource, execute, selectRows } from '@bazaar/db';
import { createLogger, createRedis, loadConfig, newId, redisKeys, type Redis } from '@bazaar/platform';
import { PopularProductsStore } from '@bazaar/queue';
import { sqlFixtures, type Product } from '../../../test/support/db-fixtures';
import { isolatedEnv } from '../../../test/support/isolated-env';
import { POPULAR_SNAPSHOT_TTL_SECONDS, RefreshPopularProductsJob } from '../src/jobs/refresh-popular-products.job';

const log = createLogger('scheduler-test', 'silent');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * RefreshPopularProductsJob against real MariaDB and Redis, on a database of
 * its own: the ranking counts every order in the database, so other suites'
 * orders must not be in it. Each case starts with no orders.
 */
describe('RefreshPopularProductsJob (MariaDB + Redis)', () => {
  let ds: DataSource;
  let redis: Redis;
  let store: PopularProductsStore;
  let storeId: number;
  let customerId: number;
  const now = new Date();
  const job = () => new RefreshPopularProductsJob(new PopularProductsRepository(ds), store, () => now);

  beforeAll(async () => {
    const env = await isolatedEnv('popular_job');
    const config = loadConfig({ ...env });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 3 });
    await ds.initialize();
    redis = createRedis(config.REDIS_URL, 'command');
    store = new PopularProductsStore(redis, redisKeys(config.REDIS_PREFIX));
    storeId = await sqlFixtures(ds).newStore();
    customerId = await sqlFixtures(ds).newUser('CUSTOMER');
  });

  afterAll(async () => {
    await redis?.quit();
    await ds?.destroy();
  });

  beforeEach(async () => {
    await execute(ds, 'DELETE FROM order_items');
    await execute(ds, 'DELETE FROM orders');
  });

  const product = (status: ProductStatus = ProductStatus.ACTIVE) => sqlFixtures(ds).newProduct(storeId, 1_000, 100, status);

  /** An order accepted `ageMs` before now, with its lines: [product, quantity, refunded quantity]. */
  async function order(status: OrderStatus, ageMs: number, lines: [Product, number, number?][]): Promise<void> {
    const id = newId();
    await execute(
      ds,
      `INSERT INTO orders (id, user_id, status, payment_method, fulfillment, items_total, cash_paid, idempotency_key, request_id, accepted_at, settled_at)
       VALUES (?, ?, ?, 'BALANCE', '{}', 0, 0, ?, 'req', ?, ?)`,
      [id, customerId, status, `key-${id}`, new Date(now.getTime() - ageMs), new Date(now.getTime() - ageMs)],
    );
    for (const [i, [p, quantity, refunded = 0]] of lines.entries()) {
      await execute(
        ds,
        `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, cash, refunded_quantity)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, i, p.id, p.storeId, p.name, p.price, quantity, p.price * quantity, p.price * quantity, refunded],
      );
    }
  }

  async function ranked(): Promise<[id: number, unitsSold: number][]> {
    const snapshot = await store.read();
    if (!snapshot) throw new Error('no snapshot written');
    return snapshot.items.map((p) => [p.id, p.unitsSold]);
  }

  it('counts paid units of the last three days minus refunded units; FAILED, CANCELLED, PENDING and older orders do not count', async () => {
    const [a, b, c, d] = [await product(), await product(), await product(), await product()];
    await order(OrderStatus.PAID, HOUR, [
      [a, 3],
      [b, 1],
    ]);
    await order(OrderStatus.PAID, 3 * DAY - 60_000, [[a, 2]]); // just inside the window
    await order(OrderStatus.PARTIALLY_REFUNDED, 2 * DAY, [
      [b, 5, 2],
      [c, 4, 4],
    ]); // b: 3 left; c: all refunded
    await order(OrderStatus.REFUNDED, DAY, [[c, 2, 2]]);
    await order(OrderStatus.PAID, 3 * DAY + 60_000, [[d, 50]]); // just outside
    await order(OrderStatus.FAILED, HOUR, [[d, 40]]);
    await order(OrderStatus.CANCELLED, HOUR, [[d, 30]]);
    await order(OrderStatus.PENDING, HOUR, [[d, 20]]); // a card order awaiting payment

    expect(await job().run(log)).toEqual({ ranked: 2 });

    expect(await ranked()).toEqual([
      [a.id, 5],
      [b.id, 4],
    ]);
    const snapshot = await store.read();
    expect(snapshot).toMatchObject({ computedAt: now.toISOString(), windowStart: new Date(now.getTime() - 3 * DAY).toISOString() });
    expect(snapshot?.items[0]).toEqual({ id: a.id, storeId, name: a.name, price: 1_000, unitsSold: 5 });
  });

  it('ranks most units first, equal units by the lower product id, and keeps five spares beyond the top five', async () => {
    const products: Product[] = [];
    for (let i = 0; i < 12; i++) products.push(await product());
    // Units: 10, 20, 20, 30, 5, 5, 5, 1, 1, 1, 1, 1 — ordered so that insertion order and id order disagree with the ranking.
    const units = [10, 20, 20, 30, 5, 5, 5, 1, 1, 1, 1, 1];
    for (const [i, p] of [...products.entries()].reverse()) await order(OrderStatus.PAID, HOUR * (i + 1), [[p, units[i]!]]);

    await job().run(log);

    const id = (i: number) => products[i]!.id;
    expect(await ranked()).toEqual([
      [id(3), 30],
      [id(1), 20],
      [id(2), 20],
      [id(0), 10],
      [id(4), 5],
      [id(5), 5],
      [id(6), 5],
      [id(7), 1],
      [id(8), 1],
      [id(9), 1],
    ]);
    // The same data ranks the same way every time.
    await job().run(log);
    expect((await ranked()).map(([pid]) => pid)).toEqual([3, 1, 2, 0, 4, 5, 6, 7, 8, 9].map(id));
  });

  it('leaves out a deleted product, and sums one product over many orders', async () => {
    const [kept, deleted] = [await product(), await product(ProductStatus.DELETED)];
    for (let i = 0; i < 4; i++) await order(OrderStatus.PAID, HOUR * (i + 1), [[kept, 2]]);
    await order(OrderStatus.PAID, HOUR, [[deleted, 99]]);

    await job().run(log);

    expect(await ranked()).toEqual([[kept.id, 8]]);
  });

  it('with no sales yet writes an empty ranking (not a missing one), replacing the previous one whole', async () => {
    const p = await product();
    await order(OrderStatus.PAID, HOUR, [[p, 1]]);
    await job().run(log);
    expect(await ranked()).toEqual([[p.id, 1]]);

    await execute(ds, 'DELETE FROM order_items');
    await execute(ds, 'DELETE FROM orders');
    expect(await job().run(log)).toEqual({ ranked: 0 });

    expect(await ranked()).toEqual([]);
    const ttl = await store.ttl();
    expect(ttl).toBeGreaterThan(POPULAR_SNAPSHOT_TTL_SECONDS - 5);
    expect(ttl).toBeLessThanOrEqual(POPULAR_SNAPSHOT_TTL_SECONDS);
  });

  it('reads orders through idx_orders_status (status, accepted_at), from the index alone, and their lines by order id', async () => {
    const p = await product();
    // 18 orders inside the window, every third FAILED; 12 more outside it.
    for (let i = 0; i < 30; i++) await order(i % 3 === 0 ? OrderStatus.FAILED : OrderStatus.PAID, HOUR * (i * 4 + 0.5), [[p, 1]]);
    // And the weeks before: 3,000 paid orders the window leaves out (on tables this small the plan is anyone's guess).
    const digits =
      'SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9';
    await execute(
      ds,
      `INSERT INTO orders (id, user_id, status, payment_method, fulfillment, items_total, cash_paid, idempotency_key, request_id, accepted_at, settled_at)
       SELECT CONCAT('OLD', LPAD(n, 23, '0')), ?, 'PAID', 'BALANCE', '{}', 0, 0, CONCAT('old-', n), 'req', ?, ?
       FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n FROM (${digits}) a, (${digits}) b, (${digits}) c, (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2) e) t`,
      [customerId, new Date(now.getTime() - 10 * DAY), new Date(now.getTime() - 10 * DAY)],
    );
    await execute(
      ds,
      `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, cash)
       SELECT id, 0, ?, ?, 'old', 1000, 1, 1000, 1000 FROM orders WHERE id LIKE 'OLD%'`,
      [p.id, p.storeId],
    );
    await ds.query('ANALYZE TABLE orders, order_items, products');

    // The statement the job sends, as sent.
    const sent: { sql: string; params: unknown[] }[] = [];
    const original = ds.createQueryRunner.bind(ds);
    const spy = jest.spyOn(ds, 'createQueryRunner').mockImplementation((mode) => {
      const q: QueryRunner = original(mode);
      const query = q.query.bind(q);
      q.query = ((sql: string, params: unknown[] = []) => {
        sent.push({ sql, params });
        return query(sql, params);
      }) as QueryRunner['query'];
      return q;
    });
    try {
      await job().run(log);
    } finally {
      spy.mockRestore();
    }
    expect(sent).toHaveLength(1);
    expect(await ranked()).toEqual([[p.id, 12]]);

    const plan = await selectRows<{ table: string; key: string | null; Extra: string }>(ds, `EXPLAIN ${sent[0]!.sql}`, sent[0]!.params);
    const byTable = new Map(plan.map((r) => [r.table, r]));
    expect(byTable.get('o')).toMatchObject({ key: 'idx_orders_status' });
    expect(byTable.get('o')?.Extra).toContain('Using index');
    expect(byTable.get('i')).toMatchObject({ key: 'idx_order_items_order' });
  });
});
