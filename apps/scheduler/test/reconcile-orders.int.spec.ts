import { Worker, type Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { FailureReason, OrderStatus } from '@bazaar/contracts';
import { OrdersRepository, createDataSource, execute } from '@bazaar/db';
import { createLogger, createMetrics, createRedis, loadConfig, redisKeys, type Config, type Redis, type RedisKeys } from '@bazaar/platform';
import {
  AcceptedOrderStore,
  OrderOutcomePublisher,
  QueueName,
  SoldOutGate,
  createOrdersQueue,
  enqueueOrder,
  type AcceptedOrder,
  type OrderJobData,
  type OrdersQueueData,
} from '@bazaar/queue';
import { acceptedOrderFor, sqlFixtures } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { ReconcileOrdersJob } from '../src/jobs/reconcile-orders.job';

const AFTER_SECONDS = 2;
const log = createLogger('scheduler-test', 'silent');

/**
 * ReconcileOrdersJob against real Redis, BullMQ and MariaDB. Every case gets
 * a key prefix of its own (inside the run's prefix, so the global teardown
 * removes it): the job sweeps every pending order under its prefix, and the
 * end-to-end suite runs reconcilers of its own on the run's prefix.
 */
describe('ReconcileOrdersJob (Redis + BullMQ + MariaDB)', () => {
  let config: Config;
  let ds: DataSource;
  let redis: Redis;
  let queueRedis: Redis;
  const queues: Queue<OrdersQueueData>[] = [];

  beforeAll(async () => {
    config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 4 });
    await ds.initialize();
    redis = createRedis(config.REDIS_URL, 'command');
    queueRedis = createRedis(config.REDIS_URL, 'worker');
  });

  afterAll(async () => {
    for (const q of queues) await q.close();
    await Promise.allSettled([redis?.quit(), queueRedis?.quit()]);
    await ds?.destroy();
  });

  function setup(name: string, orders = new OrdersRepository(ds)) {
    const keys: RedisKeys = redisKeys(`${testEnv().REDIS_PREFIX}:reconcile-${name}`);
    const store = new AcceptedOrderStore(redis, keys);
    const queue = createOrdersQueue(queueRedis, keys, 3);
    queues.push(queue);
    const outcomes = new OrderOutcomePublisher(store, new SoldOutGate(redis, keys));
    const job = new ReconcileOrdersJob(store, outcomes, orders, queue, createMetrics('scheduler-test'), AFTER_SECONDS);
    return { keys, store, queue, job };
  }

  const { newUser } = sqlFixtures(() => ds);
  const newCustomer = () => newUser('CUSTOMER', 'reconcile');

  /** An order accepted `ageMs` ago (the pending index is scored by acceptance time). */
  const acceptedOrder = (userId: number, ageMs: number) =>
    acceptedOrderFor(userId, [{ productId: 1, storeId: 1, name: 'Anything', unitPrice: 1_000, quantity: 1 }], { ageMs });

  const STALE = 60_000;

  async function accept(store: AcceptedOrderStore, order: AcceptedOrder): Promise<void> {
    expect((await store.accept(order, `hash-${order.orderId}`, 86400)).created).toBe(true);
  }

  /** The order's row as a worker's commit leaves it, settled in `status`. */
  const insertSettled = (order: AcceptedOrder, status: OrderStatus, reason: FailureReason | null) =>
    execute(
      ds,
      `INSERT INTO orders (id, user_id, status, failure_reason, payment_method, fulfillment, items_total, cash_paid, idempotency_key, request_id, accepted_at, settled_at)
       VALUES (?, ?, ?, ?, ?, ?, 1000, 1000, ?, ?, ?, CURRENT_TIMESTAMP(3))`,
      [
        order.orderId,
        order.userId,
        status,
        reason,
        order.paymentMethod,
        JSON.stringify(order.fulfillment),
        order.idempotencyKey,
        order.requestId,
        new Date(order.acceptedAt),
      ],
    );

  const pendingIds = async (store: AcceptedOrderStore) => (await store.pendingOlderThan(Date.now() + 60_000, 1000)).map((p) => p.orderId).sort();

  it('requeues an accepted order that has no job', async () => {
    const { store, queue, job } = setup('missing');
    const order = acceptedOrder(await newCustomer(), STALE);
    await accept(store, order);
    expect(await queue.getJob(order.orderId)).toBeUndefined();

    const report = await job.run(log);

    expect(report).toEqual({ examined: 1, settled: 0, requeued: 1, retried: 0, waiting: 0 });
    const queued = await queue.getJob(order.orderId);
    expect(queued?.id).toBe(order.orderId);
    expect(await queued?.getState()).toBe('waiting');
    expect(queued?.data).toEqual({ order, requestId: order.requestId });
    // Still pending until a worker settles it.
    expect(await pendingIds(store)).toEqual([order.orderId]);

    // A second sweep sees the job waiting and leaves it alone.
    expect(await job.run(log)).toEqual({ examined: 1, settled: 0, requeued: 0, retried: 0, waiting: 1 });
  });

  it('retries an order whose job failed', async () => {
    const { keys, store, queue, job } = setup('failed');
    const order = acceptedOrder(await newCustomer(), STALE);
    await accept(store, order);
    await enqueueOrder(queue, { order, requestId: order.requestId }, { attempts: 1 });

    // A worker whose every attempt fails, until the job is in the failed state.
    const workerRedis = createRedis(config.REDIS_URL, 'worker');
    const worker = new Worker<OrderJobData>(
      QueueName.ORDERS,
      async () => {
        throw new Error('database unavailable');
      },
      { connection: workerRedis, prefix: keys.bullPrefix(QueueName.ORDERS) },
    );
    try {
      const failed = new Promise<void>((resolve) => worker.on('failed', () => resolve()));
      await failed;
    } finally {
      await worker.close();
      await workerRedis.quit();
    }
    const dead = await queue.getJob(order.orderId);
    expect(await dead?.getState()).toBe('failed');
    expect(dead?.failedReason).toBe('database unavailable');

    const report = await job.run(log);

    expect(report).toEqual({ examined: 1, settled: 0, requeued: 0, retried: 1, waiting: 0 });
    const retried = await queue.getJob(order.orderId);
    expect(await retried?.getState()).toBe('waiting');
    expect(retried?.data).toEqual({ order, requestId: order.requestId });
    expect(await pendingIds(store)).toEqual([order.orderId]);
  });

  it('marks an order settled in MySQL but still pending in Redis as settled, and enqueues nothing', async () => {
    const { store, queue, job } = setup('settled');
    const userId = await newCustomer();
    const order = acceptedOrder(userId, STALE);
    await accept(store, order);
    // What a worker leaves behind when it dies between the MySQL commit and markSettled.
    await insertSettled(order, OrderStatus.FAILED, FailureReason.OUT_OF_STOCK);

    const report = await job.run(log);

    expect(report).toEqual({ examined: 1, settled: 1, requeued: 0, retried: 0, waiting: 0 });
    expect(await pendingIds(store)).toEqual([]);
    expect(await store.pendingOfUser(userId, 10)).toEqual([]);
    const rec = await store.get(userId, order.orderId);
    expect(rec).toMatchObject({ status: OrderStatus.FAILED, reason: FailureReason.OUT_OF_STOCK });
    expect(await queue.getJob(order.orderId)).toBeUndefined();
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed');
    expect(Object.values(counts).reduce((s, n) => s + n, 0)).toBe(0);
  });

  it('enqueues nothing for an order a worker settled while the sweep ran (MySQL read before its commit, the job gone after)', async () => {
    // The sweep's first read of MySQL comes before the worker's commit; by the time it finds the job gone, MySQL has the order.
    const orders = new OrdersRepository(ds);
    jest.spyOn(orders, 'settledStatuses').mockResolvedValueOnce(new Map());
    const { store, queue, job } = setup('raced', orders);
    const userId = await newCustomer();
    const order = acceptedOrder(userId, STALE);
    await accept(store, order);
    await insertSettled(order, OrderStatus.PAID, null);

    const report = await job.run(log);

    expect(report).toEqual({ examined: 1, settled: 0, requeued: 0, retried: 0, waiting: 0 });
    expect(await queue.getJob(order.orderId)).toBeUndefined();
    // The next sweep reads MySQL afresh and finishes it (as the worker's own report to Redis would have).
    expect(await job.run(log)).toEqual({ examined: 1, settled: 1, requeued: 0, retried: 0, waiting: 0 });
    expect(await pendingIds(store)).toEqual([]);
  });

  it('leaves an order whose job is waiting alone', async () => {
    const { store, queue, job } = setup('waiting');
    const order = acceptedOrder(await newCustomer(), STALE);
    await accept(store, order);
    await enqueueOrder(queue, { order, requestId: order.requestId });
    const before = await queue.getJob(order.orderId);

    const report = await job.run(log);

    expect(report).toEqual({ examined: 1, settled: 0, requeued: 0, retried: 0, waiting: 1 });
    const after = await queue.getJob(order.orderId);
    expect(await after?.getState()).toBe('waiting');
    expect(after?.timestamp).toBe(before?.timestamp);
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    expect(await pendingIds(store)).toEqual([order.orderId]);
  });

  it('does not examine orders accepted less than afterSeconds ago', async () => {
    const { store, queue, job } = setup('fresh');
    const userId = await newCustomer();
    const fresh = acceptedOrder(userId, 0);
    const stale = acceptedOrder(userId, STALE);
    await accept(store, fresh);
    await accept(store, stale);

    const report = await job.run(log);

    expect(report).toEqual({ examined: 1, settled: 0, requeued: 1, retried: 0, waiting: 0 });
    expect(await queue.getJob(fresh.orderId)).toBeUndefined();
    expect(await queue.getJob(stale.orderId)).toBeDefined();
    expect(await pendingIds(store)).toEqual([fresh.orderId, stale.orderId].sort());
  });
});
