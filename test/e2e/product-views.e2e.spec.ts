import { Agent, request } from 'node:http';
import type { DataSource } from 'typeorm';
import { createDataSource, execute, selectRows } from '@bazaar/db';
import { createRedis, loadConfig, redisKeys, type Redis, type RedisKeys } from '@bazaar/platform';
import { bazaarClient } from '../../scripts/lib/client';
import { PASSWORD, eventually, uniqueEmail } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { startProcess, type RunningProcess } from '../support/processes';
import type { TestEnv } from '../support/test-env';

const PRODUCTS = 50;
const READS = 20_000;

/** GET through a keep-alive agent; resolves to the status and body. */
function get(agent: Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * View counts under a read storm: two API processes count, two schedulers
 * flush every 100 ms, and one flush is killed mid-way (its scheduler is
 * SIGKILLed while the batch it claimed is inside its MySQL transaction).
 * Afterwards MySQL holds exactly one count per answered read.
 */
describe('product view counts (two apis, flushing schedulers, a flush killed mid-way)', () => {
  jest.setTimeout(180_000);
  let env: TestEnv;
  let keys: RedisKeys;
  let ds: DataSource;
  let redis: Redis;
  let apis: RunningProcess[] = [];
  let schedulers: RunningProcess[] = [];
  const schedulerEnv = () => ({ ...env, VIEW_FLUSH_SECONDS: '0.1', LOG_LEVEL: 'warn' });

  beforeAll(async () => {
    env = await isolatedEnv('views');
    keys = redisKeys(env.REDIS_PREFIX);
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_REPLICA_URLS: [] });
    await ds.initialize();
    redis = createRedis(env.REDIS_URL, 'command');
    apis = await Promise.all([startProcess('api', { ...env }), startProcess('api', { ...env })]);
    schedulers = await Promise.all([startProcess('scheduler', schedulerEnv()), startProcess('scheduler', schedulerEnv())]);
    // A flush that finds a row in test_stall takes it and sleeps inside its transaction: a flush we can kill mid-way.
    await execute(ds, 'CREATE TABLE test_stall (id INT PRIMARY KEY)');
    await execute(
      ds,
      `CREATE TRIGGER test_stall_flush BEFORE INSERT ON view_flushes FOR EACH ROW
       BEGIN
         IF (SELECT COUNT(*) FROM test_stall) > 0 THEN
           DELETE FROM test_stall;
           DO SLEEP(3);
         END IF;
       END`,
    );
  });

  afterAll(async () => {
    await Promise.all([...apis, ...schedulers].map((p) => p.stop()));
    await redis?.quit();
    await ds?.destroy();
  });

  it(`${READS.toLocaleString('en')} concurrent products.get on ${PRODUCTS} products: MySQL + pending = exactly ${READS.toLocaleString('en')}`, async () => {
    const anon = bazaarClient(`http://127.0.0.1:${apis[0]!.port}`, { batch: false });
    const email = uniqueEmail('views-seller');
    await anon.auth.signup.mutate({ email, password: PASSWORD, name: 'seller', role: 'SELLER' });
    const seller = bazaarClient(`http://127.0.0.1:${apis[0]!.port}`, { token: (await anon.auth.login.mutate({ email, password: PASSWORD })).token, batch: false });
    const { id: storeId } = await seller.stores.create.mutate({ name: 'Views store' });
    const ids: number[] = [];
    for (let i = 0; i < PRODUCTS; i++) ids.push((await seller.products.create.mutate({ storeId, name: `조회 ${i}`, description: '', price: 1_000, stock: 5 })).id);

    // The kill: while the storm runs, stall the next flush inside its transaction, then SIGKILL both schedulers.
    let stalledBatch: string | null = null;
    let killedAt = Infinity;
    const killer = (async () => {
      await new Promise((r) => setTimeout(r, 800));
      await execute(ds, 'INSERT INTO test_stall (id) VALUES (1)');
      // The flush is asleep in the trigger of its INSERT of the batch record: claimed in Redis, its transaction open.
      await eventually(
        async () =>
          (
            await selectRows<{ n: number }>(
              ds,
              "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO = 'DO SLEEP(3)' AND STATE = 'User sleep'",
            )
          )[0]?.n,
        (n) => Number(n) === 1,
        20_000,
        10,
      );
      stalledBatch = await redis.get(keys.viewsBatch);
      await Promise.all(schedulers.map((s) => s.kill()));
      killedAt = Date.now();
      schedulers = await Promise.all([startProcess('scheduler', schedulerEnv()), startProcess('scheduler', schedulerEnv())]);
    })();

    const agents = apis.map(() => new Agent({ keepAlive: true, maxSockets: 128 }));
    const perProduct = new Map(ids.map((id) => [id, 0]));
    const answers = await Promise.all(
      Array.from({ length: READS }, (_, i) => {
        const productId = ids[i % PRODUCTS]!;
        perProduct.set(productId, (perProduct.get(productId) ?? 0) + 1);
        const k = i % apis.length;
        return get(agents[k]!, apis[k]!.port, `/trpc/products.get?input=${encodeURIComponent(JSON.stringify({ productId }))}`);
      }),
    );
    const stormEnded = Date.now();
    for (const a of agents) a.destroy();
    await killer;
    expect(killedAt).toBeLessThan(stormEnded); // the flush died while reads went on

    expect(answers.every((a) => a.status === 200)).toBe(true);
    const views = answers.map((a) => (JSON.parse(a.body) as { result: { data: { id: number; viewCount: number } } }).result.data);
    expect(views.every((v) => v.viewCount >= 1 && v.viewCount <= READS / PRODUCTS)).toBe(true);
    expect(stalledBatch).not.toBeNull();

    // Once the flushes catch up, MySQL has every view once, and Redis holds none waiting.
    const inMysql = async () =>
      new Map(
        (await selectRows<{ id: string; view_count: string }>(ds, `SELECT id, view_count FROM products WHERE id IN (${ids.join(',')})`)).map((r) => [
          Number(r.id),
          Number(r.view_count),
        ]),
      );
    const pending = async () => {
      const [p, b] = await Promise.all([redis.hvals(keys.viewsPending), redis.hvals(keys.viewsBatchData)]);
      return [...p, ...b].reduce((s, n) => s + Number(n), 0);
    };
    await eventually(pending, (n) => n === 0, 30_000, 100);
    expect(await inMysql()).toEqual(perProduct);
    expect([...(await inMysql()).values()].reduce((s, n) => s + n, 0)).toBe(READS);

    // The killed flush's batch was finished by a later flush, under its own id, once.
    expect(await selectRows(ds, 'SELECT batch_id FROM view_flushes WHERE batch_id = ?', [stalledBatch])).toHaveLength(1);
    const flushes = (await selectRows<{ n: number }>(ds, 'SELECT COUNT(*) AS n FROM view_flushes'))[0]?.n;
    expect(Number(flushes)).toBeGreaterThanOrEqual(2); // the killed batch, and the views counted after it

    // A read now shows every view: MySQL's count plus its own.
    const shown = await bazaarClient(`http://127.0.0.1:${apis[1]!.port}`).products.get.query({ productId: ids[0]! });
    expect(shown.viewCount).toBe((perProduct.get(ids[0]!) ?? 0) + 1);
  });
});
