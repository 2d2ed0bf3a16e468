import { createDataSource, ensureDatabase } from '@bazaar/db';
import { loadConfig } from '@bazaar/platform';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { DELIVERY, eventually, newAccount, newProduct, startTestApi, type TestApi } from '../support/api-harness';
import { startReplicatedMariaDb, type ReplicatedMariaDb } from '../support/mariadb-replication';
import { startProcess, type RunningProcess } from '../support/processes';
import { testEnv } from '../support/test-env';
import { expectBadField } from '../support/trpc-expect';

const LAG_MS = 10_000;

/** Order statuses in the order a client may see them; a read must never show one earlier than the last seen. */
const RANK: Record<string, number> = { PENDING: 0, PAID: 1, FAILED: 1, CANCELLED: 2, PARTIALLY_REFUNDED: 2, REFUNDED: 3 };

/** bazaar_db_replica_fallbacks_total summed over its reasons, as a process's /metrics shows it. */
async function fallbacksAt(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('bazaar_db_replica_fallbacks_total{'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

const replicaSelects = async (db: ReplicatedMariaDb) =>
  Number((await db.replica.sql<{ Value: string }>("SHOW GLOBAL STATUS LIKE 'Com_select'"))[0]?.Value ?? 0);

/**
 * The fleet against a real MariaDB primary and GTID replica
 * (test/support/mariadb-replication.ts): an api in this process and one as a
 * child process, both with MYSQL_REPLICA_URLS set, and a real worker.
 *
 * What must never read stale (docs/api.md): an order right after place and
 * after PAID, a wallet after a top-up or a payment, a seller's product after
 * a change (products.get, the store's listing), the customer's order list.
 * What may lag: listings with inStock (and questions, open coupons), read
 * from the replica, eventually caught up. Checked in step, with the replica's
 * SQL thread stopped for 10 s (lag injected), and with the replica killed:
 * reads fall back to the primary, counted and logged, and return to the
 * replica once it is back.
 */
describe('a real MySQL replica', () => {
  jest.setTimeout(120_000);
  let db: ReplicatedMariaDb;
  let api: TestApi;
  let apiProc: RunningProcess;
  let worker: RunningProcess;
  let env: Record<string, string>;
  let otherUrl: string;

  beforeAll(async () => {
    db = await startReplicatedMariaDb();
    const base = testEnv();
    env = { MYSQL_URL: db.primary.url(), MYSQL_REPLICA_URLS: db.replica.url(), REDIS_URL: base.REDIS_URL, REDIS_PREFIX: `${base.REDIS_PREFIX}-replica` };
    await ensureDatabase(env.MYSQL_URL!);
    const ds = createDataSource({ ...loadConfig({ ...env, MYSQL_REPLICA_URLS: '' }) });
    await ds.initialize();
    await ds.runMigrations({ transaction: 'each' });
    await ds.destroy();
    await db.waitForReplica();
    [api, apiProc, worker] = await Promise.all([
      startTestApi(env),
      startProcess('api', { ...env, LOG_LEVEL: 'info' }),
      startProcess('worker', { ...env, LOG_LEVEL: 'warn', WORKER_CONCURRENCY: '8' }),
    ]);
    otherUrl = `http://127.0.0.1:${apiProc.port}`;
  });

  afterAll(async () => {
    await Promise.all([api?.close(), apiProc?.stop(), worker?.stop()]);
    await db?.close();
  });

  /** A customer with a topped-up wallet, and a client of the other api process with the same token. */
  async function customer(topUp: number) {
    const c = await newAccount(api, 'CUSTOMER');
    await c.client.wallet.charge.mutate({ amount: topUp, idempotencyKey: `topup-${c.user.id}-first` });
    return { ...c, other: bazaarClient(otherUrl, { token: c.token }) };
  }

  /** Reads an order through both api processes; each answer must show at least what was last seen. */
  async function readOrder(clients: BazaarClient[], orderId: string, lastSeen: Map<string, string>): Promise<string> {
    let status = lastSeen.get(orderId) ?? 'PENDING';
    for (const c of clients) {
      const view = await c.orders.get.query({ orderId });
      expect(RANK[view.status]).toBeGreaterThanOrEqual(RANK[status]!);
      status = view.status;
    }
    lastSeen.set(orderId, status);
    return status;
  }

  it('reads its own writes with the replica in step', async () => {
    const { seller, store, product } = await newProduct(api, { stock: 100, price: 1_000 });
    const c = await customer(50_000);
    expect(await c.client.wallet.balance.query()).toEqual({ balance: 50_000 });
    expect(await c.other.wallet.balance.query()).toEqual({ balance: 50_000 });

    const seen = new Map<string, string>();
    const placed = await c.client.orders.place.mutate({
      idempotencyKey: `steady-${c.user.id}`,
      items: [{ productId: product.id, quantity: 2 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    await readOrder([c.client, c.other], placed.orderId, seen);
    await eventually(
      () => readOrder([c.client, c.other], placed.orderId, seen),
      (s) => s === 'PAID',
    );
    for (let i = 0; i < 5; i++) expect(await readOrder([c.other, c.client], placed.orderId, seen)).toBe('PAID');
    expect(await c.client.wallet.balance.query()).toEqual({ balance: 48_000 });

    await seller.client.products.update.mutate({ productId: product.id, price: 1_500, name: 'Renamed' });
    expect(await api.client().products.get.query({ productId: product.id })).toMatchObject({ price: 1_500, name: 'Renamed' });
    const otherAnon = bazaarClient(otherUrl);
    expect((await otherAnon.products.list.query({ storeId: store.id })).items[0]).toMatchObject({ id: product.id, price: 1_500, name: 'Renamed' });
  });

  it('never reads stale where it must not while the replica lags (SQL thread stopped 10 s)', async () => {
    const { seller, store, product } = await newProduct(api, { stock: 1_000, price: 1_000 });
    const sellerOther = bazaarClient(otherUrl, { token: seller.token });
    const c = await customer(1_000_000);
    // Tops up only (no orders settling under it), so each answer's balance is exact.
    const topper = await customer(1_000);
    const anon = [api.client(), bazaarClient(otherUrl)];
    let balance = 1_000;
    const seen = new Map<string, string>();
    await db.waitForReplica();

    await db.pauseApplying();
    const started = Date.now();
    let rounds = 0;
    let maxBehind = 0;
    let staleOnReplica = 0;
    // A store and product made while the replica lags: on the primary only.
    const late = await newProduct(api, { stock: 50, price: 2_000, name: 'Made during lag' });
    try {
      while (Date.now() - started < LAG_MS) {
        rounds++;
        // The seller's change, seen at once by products.get and the store's listing, through both processes.
        const name = `Lag round ${rounds}`;
        await seller.client.products.update.mutate({ productId: product.id, name });
        for (const client of anon) {
          expect(await client.products.get.query({ productId: product.id })).toMatchObject({ name });
          expect((await client.products.list.query({ storeId: store.id })).items[0]).toMatchObject({ id: product.id, name });
        }
        expect((await sellerOther.stores.mine.query()).map((s) => s.id)).toContain(store.id);
        // The replica really is behind: it has not seen the new name.
        const [onReplica] = await db.replica.sql<{ name: string }>(`SELECT name FROM bazaar.products WHERE id = ?`, [product.id]);
        if (onReplica?.name !== name) staleOnReplica++;
        maxBehind = Math.max(maxBehind, await db.transactionsBehind());

        // A top-up, seen at once in the balance and the history.
        const charged = await topper.client.wallet.charge.mutate({ amount: 1_000, idempotencyKey: `lag-top-${topper.user.id}-${rounds}` });
        balance += 1_000;
        expect(charged.balanceAfter).toBe(balance);
        expect(await topper.other.wallet.balance.query()).toEqual({ balance });
        expect((await topper.client.wallet.history.query({ limit: 1 })).items[0]).toMatchObject({ id: charged.entryId });

        // An order, seen at once (at least PENDING) and in the list; earlier orders never go back.
        const placed = await c.client.orders.place.mutate({
          idempotencyKey: `lag-order-${c.user.id}-${rounds}`,
          items: [{ productId: product.id, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
        });
        await readOrder([c.client, c.other], placed.orderId, seen);
        expect((await c.other.orders.list.query({ limit: 5 })).items.map((o) => o.id)).toContain(placed.orderId);
        for (const orderId of seen.keys()) await readOrder([c.other], orderId, seen);
      }
      // Orders paid while the replica lagged: PAID, and the wallet paid for them, at once.
      await eventually(
        async () => {
          for (const orderId of seen.keys()) await readOrder([c.client, c.other], orderId, seen);
          return [...seen.values()];
        },
        (all) => all.every((s) => s === 'PAID'),
      );
      expect(await c.other.wallet.balance.query()).toEqual({ balance: 1_000_000 - 1_000 * rounds });

      // The store made during the lag: its pickup rules hold (its profile is on the primary only).
      await expectBadField(
        c.client.orders.place.mutate({
          idempotencyKey: `lag-pickup-${c.user.id}`,
          items: [{ productId: late.product.id, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: { type: 'PICKUP', pickupAt: new Date(Date.now() + 5 * 60_000).toISOString() },
        }),
        'fulfillment.pickupAt',
      );
      // Listings read from the replica may lag: the new product is in the store's listing, not yet in its inStock one.
      expect((await anon[0]!.products.list.query({ storeId: late.store.id })).items.map((p) => p.id)).toEqual([late.product.id]);
      expect((await anon[1]!.products.list.query({ storeId: late.store.id, inStock: true })).items).toEqual([]);
      expect(await db.replicaStatus()).toMatchObject({ ioRunning: true, sqlRunning: false, secondsBehind: null });
    } finally {
      await db.resumeApplying();
    }
    const lagged = Date.now() - started;
    await db.waitForReplica();
    // ...and catch up once the replica does.
    await eventually(
      () => anon[1]!.products.list.query({ storeId: late.store.id, inStock: true }),
      (page) => page.items.length === 1,
    );
    expect(staleOnReplica).toBe(rounds);
    expect(maxBehind).toBeGreaterThan(rounds);
    process.stdout.write(`replica lag: SQL thread stopped ${lagged} ms, ${rounds} rounds, up to ${maxBehind} transactions behind, no stale read\n`);
  });

  it('reads from the primary while the replica is down, counted and logged, and from the replica again once it is back', async () => {
    const { store, product } = await newProduct(api, { stock: 100, price: 1_000 });
    const c = await customer(10_000);
    const anon = [api.client(), bazaarClient(otherUrl)];
    const inStock = () => Promise.all(anon.map((a) => a.products.list.query({ storeId: store.id, inStock: true })));
    await db.waitForReplica();
    expect((await inStock()).map((p) => p.items.length)).toEqual([1, 1]);
    const before = [await fallbacksAt(api.metricsUrl), await fallbacksAt(`http://127.0.0.1:${apiProc.metricsPort}`)];

    await db.replica.kill();
    for (let i = 0; i < 20; i++) expect((await inStock()).map((p) => p.items[0]?.id)).toEqual([product.id, product.id]);
    // The rest goes on as before: an order is paid, the wallet shows it.
    const placed = await c.client.orders.place.mutate({
      idempotencyKey: `down-order-${c.user.id}`,
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    await eventually(
      () => c.other.orders.get.query({ orderId: placed.orderId }),
      (o) => o.status === 'PAID',
    );
    expect(await c.client.wallet.balance.query()).toEqual({ balance: 9_000 });
    const during = [await fallbacksAt(api.metricsUrl), await fallbacksAt(`http://127.0.0.1:${apiProc.metricsPort}`)];
    expect(during[0]! - before[0]!).toBeGreaterThanOrEqual(20);
    expect(during[1]! - before[1]!).toBeGreaterThanOrEqual(20);
    const warned = apiProc.logs.filter((l) => l.includes('replica reads fall back to the primary'));
    expect(warned).toHaveLength(1); // at most one warning per 30 s
    expect(warned[0]).toContain('"level":40');

    await db.replica.start();
    await db.waitForReplica();
    // Reads try the replica again a second after it last failed: a few reads bring both processes back to it.
    const until = Date.now() + 10_000;
    while (!apiProc.logs.some((l) => l.includes('replica reads are back on the replicas'))) {
      if (Date.now() > until) throw new Error('the api process did not return to the replica within 10 s');
      await inStock();
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1_100));
    await inStock();
    const selects = await replicaSelects(db);
    const settled = [await fallbacksAt(api.metricsUrl), await fallbacksAt(`http://127.0.0.1:${apiProc.metricsPort}`)];
    for (let i = 0; i < 10; i++) await inStock();
    expect([await fallbacksAt(api.metricsUrl), await fallbacksAt(`http://127.0.0.1:${apiProc.metricsPort}`)]).toEqual(settled);
    expect((await replicaSelects(db)) - selects).toBeGreaterThanOrEqual(20);
    process.stdout.write(`replica down: fallbacks in-process ${during[0]! - before[0]!}, api process ${during[1]! - before[1]!}, ${warned.length} warning\n`);
  });
});
