import type { DataSource } from 'typeorm';
import { createMetrics, loadConfig, type Metrics } from '@bazaar/platform';
import { createDataSource, ensureDatabase, onReplica, selectRows } from '@bazaar/db';
import { startReplicatedMariaDb, type ReplicatedMariaDb } from '../../../test/support/mariadb-replication';

/**
 * onReplica against a real MariaDB primary and GTID replica
 * (test/support/mariadb-replication.ts): reads go to the replica, to the
 * primary while the replica is down or dies under a read (counted and
 * logged), and back to the replica once it returns. And the pool cluster
 * never drops a node: before, one refused connect removed the replica (or the
 * primary) from the process for good (POOL_NOEXIST until a restart).
 */
describe('replica reads against a real replica', () => {
  jest.setTimeout(60_000);
  let db: ReplicatedMariaDb;
  let ds: DataSource;
  let metrics: Metrics;
  const warnings: Record<string, unknown>[] = [];
  const infos: Record<string, unknown>[] = [];

  const config = () => loadConfig({ NODE_ENV: 'test', MYSQL_URL: db.primary.url(), MYSQL_REPLICA_URLS: db.replica.url(), MYSQL_CONNECT_TIMEOUT_MS: '2000' });
  const serverOfRead = () => onReplica(ds, async (q) => Number((await selectRows<{ id: number }>(q, 'SELECT @@server_id AS id'))[0]!.id));
  const fallbacks = async (reason?: string) =>
    (await metrics.replicaFallbacks.get()).values.filter((v) => reason === undefined || v.labels.reason === reason).reduce((n, v) => n + v.value, 0);

  beforeAll(async () => {
    db = await startReplicatedMariaDb();
    await ensureDatabase(db.primary.url());
    await db.waitForReplica();
    metrics = createMetrics('test');
    ds = createDataSource(config(), {
      replicaReads: {
        fallbacks: metrics.replicaFallbacks,
        log: { warn: (o: Record<string, unknown>) => void warnings.push(o), info: (o: Record<string, unknown>) => void infos.push(o) },
        retryMs: 300,
      },
    });
    await ds.initialize();
  });

  afterAll(async () => {
    await ds?.destroy().catch(() => undefined);
    await db?.close();
  });

  it('reads from the replica and writes to the primary', async () => {
    expect(await serverOfRead()).toBe(2);
    expect(Number((await ds.query<{ id: number }[]>('SELECT @@server_id AS id'))[0]!.id)).toBe(1);
    expect(await fallbacks()).toBe(0);
  });

  it('falls back to the primary while the replica is down, logs it once, and returns to the replica when it is back', async () => {
    await db.replica.kill();
    const seen = [];
    for (let i = 0; i < 20; i++) seen.push(await serverOfRead());
    expect(new Set(seen)).toEqual(new Set([1]));
    expect(await fallbacks()).toBe(20);
    expect(await fallbacks('unreachable')).toBeGreaterThanOrEqual(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toEqual(expect.objectContaining({ reason: 'unreachable', err: expect.stringContaining('ECONNREFUSED') as string }));

    await db.replica.start();
    const until = Date.now() + 10_000;
    while ((await serverOfRead()) !== 2) {
      if (Date.now() > until) throw new Error('reads did not return to the replica within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = await fallbacks();
    for (let i = 0; i < 10; i++) expect(await serverOfRead()).toBe(2);
    expect(await fallbacks()).toBe(after);
    expect(infos).toEqual([expect.objectContaining({ fallbacks: expect.any(Number) as number, downForMs: expect.any(Number) as number })]);
    await db.waitForReplica();
  });

  it('runs a read again on the primary when the replica dies under it', async () => {
    const lostBefore = await fallbacks('lost');
    const read = onReplica(ds, async (q) => Number((await selectRows<{ id: number }>(q, 'SELECT SLEEP(1.5) AS s, @@server_id AS id'))[0]!.id));
    await new Promise((r) => setTimeout(r, 300));
    await db.replica.kill();
    expect(await read).toBe(1);
    expect(await fallbacks('lost')).toBe(lostBefore + 1);
    await db.replica.start();
    await db.waitForReplica();
  });

  it('starts with its replica down, and reads from the primary until it is up', async () => {
    await db.replica.stop();
    const other = createDataSource(config());
    await other.initialize();
    try {
      expect(Number((await onReplica(other, (q) => selectRows<{ id: number }>(q, 'SELECT @@server_id AS id')))[0]!.id)).toBe(1);
      await db.replica.start();
      await new Promise((r) => setTimeout(r, 1_100)); // the default retry interval
      expect(Number((await onReplica(other, (q) => selectRows<{ id: number }>(q, 'SELECT @@server_id AS id')))[0]!.id)).toBe(2);
    } finally {
      await other.destroy();
    }
  });

  it('reaches the primary again after it restarts (the pool cluster keeps the node)', async () => {
    await db.primary.kill();
    for (let i = 0; i < 8; i++) await expect(ds.query('SELECT 1')).rejects.toThrow();
    await db.primary.start();
    expect(Number((await ds.query<{ id: number }[]>('SELECT @@server_id AS id'))[0]!.id)).toBe(1);
    await db.waitForReplica();
    expect(await serverOfRead()).toBe(2);
  });
});
