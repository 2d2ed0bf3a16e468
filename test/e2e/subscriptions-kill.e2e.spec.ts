import { Redis } from 'ioredis';
import { createDataSource, selectRows } from '@bazaar/db';
import { cycleDueAt } from '@bazaar/domain';
import { loadConfig, redisKeys } from '@bazaar/platform';
import { AcceptedOrderStore } from '@bazaar/queue';
import type { DataSource } from 'typeorm';
import { startWorkerApp, type WorkerApp } from '@bazaar/worker';
import { DELIVERY, eventually, newAccount, newProduct, startTestApi, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { startProcess, type RunningProcess } from '../support/processes';

/**
 * Two real scheduler processes place a weekly subscription's cycles (their clock moved through the test-only
 * Redis offset key); one is SIGKILLed while cycles are being placed. Exactly 12 orders, none twice.
 */
describe('subscription cycles across 2 schedulers, one killed', () => {
  jest.setTimeout(150_000);
  let api: TestApi;
  let worker: WorkerApp;
  let ds: DataSource;
  let redis: Redis;
  let env: Record<string, string>;
  let clockKey: string;
  const schedulers: RunningProcess[] = [];
  const schedEnv = { SUBSCRIPTIONS_CRON: '* * * * * *', SUBSCRIPTION_TEST_CLOCK_KEY: 'sub-test-clock', LOG_LEVEL: 'warn' };

  beforeAll(async () => {
    env = { ...(await isolatedEnv('subkill')) };
    const config = loadConfig({ ...env, NODE_ENV: 'test', LOG_LEVEL: 'silent' });
    clockKey = `${redisKeys(config.REDIS_PREFIX).prefix}:sub-test-clock`;
    api = await startTestApi({ ...env });
    worker = await startWorkerApp(config, { health: false });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    redis = new Redis(config.REDIS_URL);
    schedulers.push(...(await Promise.all([startProcess('scheduler', { ...env, ...schedEnv }), startProcess('scheduler', { ...env, ...schedEnv })])));
  });

  afterAll(async () => {
    await Promise.all(schedulers.map((s) => s.stop()));
    await worker?.close();
    await api?.close();
    await ds?.destroy();
    redis?.disconnect();
  });

  it('places exactly 12 orders for 12 cycles, none twice', async () => {
    const { product } = await newProduct(api, { stock: 100, price: 1_000 });
    const customer = await newAccount(api, 'CUSTOMER');
    await customer.client.wallet.charge.mutate({ amount: 100_000, idempotencyKey: `subkill-topup-${customer.user.id}` });
    const startAt = new Date(Date.now() + 60_000);
    const every = { count: 1, unit: 'WEEK' as const };
    const { subscriptionId } = await customer.client.subscriptions.create.mutate({
      items: [{ productId: product.id, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
      every,
      startAt: startAt.toISOString(),
    });
    const orders = () =>
      selectRows<{ id: string; idempotency_key: string; status: string }>(ds, 'SELECT id, idempotency_key, status FROM orders WHERE user_id = ?', [
        customer.user.id,
      ]);
    for (let n = 0; n < 12; n++) {
      await redis.set(clockKey, String(cycleDueAt(startAt, every, n).getTime() + 1000 - Date.now()));
      if (n === 5) await schedulers[0]!.kill(); // while cycle 5 is being placed
      await eventually(
        () => customer.client.subscriptions.get.query({ subscriptionId }),
        (s) => s.nextCycle === n + 1,
        30_000,
        200,
      );
    }
    const rows = await orders();
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((r) => r.idempotency_key))).toEqual(new Set(Array.from({ length: 12 }, (_, n) => `sub-${subscriptionId}-c${n}`)));
    expect(rows.every((r) => r.status === 'PAID')).toBe(true);
    // The accepted records: one per key, each naming the order MySQL holds.
    const store = new AcceptedOrderStore(redis, redisKeys(loadConfig({ ...env }).REDIS_PREFIX));
    for (let n = 0; n < 12; n++) {
      const seen = await store.lookup(customer.user.id, `sub-${subscriptionId}-c${n}`);
      expect(seen?.orderId).toBe(rows.find((r) => r.idempotency_key === `sub-${subscriptionId}-c${n}`)?.id);
    }
    const view = await customer.client.subscriptions.get.query({ subscriptionId });
    expect(view.cycles.map((c) => [c.cycle, c.outcome])).toEqual(Array.from({ length: 12 }, (_, n) => [n, 'PAID']));
  });
});
