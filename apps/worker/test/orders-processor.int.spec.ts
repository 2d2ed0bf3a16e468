import { Worker, UnrecoverableError, type Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { OrderStatus, WalletEntryKind } from '@bazaar/contracts';
import { OrdersRepository, createDataSource, selectRows } from '@bazaar/db';
import { createLogger, createMetrics, createRedis, loadConfig, redisKeys, type Redis, type RedisKeys } from '@bazaar/platform';
import {
  AcceptedOrderStore,
  OrderJobName,
  OrderOutcomePublisher,
  QueueName,
  SoldOutGate,
  createOrdersQueue,
  enqueueOrder,
  type AcceptedLine,
  type AcceptedOrder,
  type OrderJobData,
  type OrdersQueueData,
} from '@bazaar/queue';
import { eventually } from '../../../test/support/api-harness';
import { acceptedOrderFor, line, sqlFixtures, tag } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { PaymentGatewayClient } from '../src/gateway/payment-gateway.client';
import { CustomerLock } from '../src/locks/customer-lock';
import { ordersProcessor } from '../src/processors/orders.processor';
import { createOrderWorkflows } from '../src/workflows/order-workflows';

/**
 * The orders processor in a real BullMQ Worker over a real queue, MariaDB and
 * Redis. The queue lives under a key prefix of its own (inside the run's
 * prefix, so the global teardown removes it): the end-to-end suite runs
 * workers and reconcilers on the run's prefix at the same time, and they must
 * neither take these jobs nor sweep this pending index.
 */
describe('orders processor in a BullMQ worker (MariaDB + Redis)', () => {
  const keys: RedisKeys = redisKeys(`${testEnv().REDIS_PREFIX}:orders-processor`);
  let ds: DataSource;
  let redis: Redis;
  let queueRedis: Redis;
  let workerRedis: Redis;
  let store: AcceptedOrderStore;
  let queue: Queue<OrdersQueueData>;
  let worker: Worker<OrdersQueueData>;
  let gateway: PaymentGatewayClient;
  const failures: { jobId: string | undefined; err: Error; attemptsMade: number | undefined }[] = [];

  beforeAll(async () => {
    const config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 10 }, { multipleStatements: true });
    await ds.initialize();
    redis = createRedis(config.REDIS_URL, 'command');
    queueRedis = createRedis(config.REDIS_URL, 'worker');
    workerRedis = createRedis(config.REDIS_URL, 'worker');
    store = new AcceptedOrderStore(redis, keys);
    queue = createOrdersQueue(queueRedis, keys, 3);
    const log = createLogger('worker-test', 'silent');
    const gate = new SoldOutGate(redis, keys);
    // Every order here pays from the wallet: the gateway is wired as in main.ts but never called.
    gateway = new PaymentGatewayClient({
      baseUrl: config.PAYMENT_GATEWAY_URL,
      secretKey: config.PAYMENT_SECRET_KEY,
      timeoutMs: config.PAYMENT_TIMEOUT_MS,
      retries: config.PAYMENT_RETRIES,
    });
    const processor = ordersProcessor({
      ...createOrderWorkflows({ ds, gateway, gate, log }),
      store,
      outcomes: new OrderOutcomePublisher(store, gate),
      lock: new CustomerLock(redis, keys),
      metrics: createMetrics('worker-test'),
      log,
    });
    worker = new Worker<OrdersQueueData>(QueueName.ORDERS, processor, {
      connection: workerRedis,
      prefix: keys.bullPrefix(QueueName.ORDERS),
      concurrency: 16,
    });
    worker.on('failed', (job, err) => failures.push({ jobId: job?.id, err, attemptsMade: job?.attemptsMade }));
    await worker.waitUntilReady();
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.close();
    gateway?.shutdown();
    await Promise.allSettled([redis?.quit(), queueRedis?.quit(), workerRedis?.quit()]);
    await ds?.destroy();
  });

  // ---- fixtures: plain SQL ----

  const { newCustomer, newStore, newProduct: newStoreProduct } = sqlFixtures(() => ds);
  /** A product in a store of its own. */
  const newProduct = async (price: number, stock: number) => newStoreProduct(await newStore('Processor store'), price, stock);

  async function place(order: AcceptedOrder): Promise<void> {
    const accepted = await store.accept(order, `hash-${order.orderId}`, 86400);
    expect(accepted.created).toBe(true);
    await enqueueOrder(queue, { order, requestId: order.requestId });
  }

  async function ledgerRowsFor(orderId: string): Promise<number> {
    const [row] = await selectRows<{ n: number | string }>(ds, `SELECT COUNT(*) n FROM wallet_entries WHERE kind = ? AND ref = ?`, [
      WalletEntryKind.ORDER_PAYMENT,
      orderId,
    ]);
    return Number(row?.n ?? 0);
  }

  async function stockOf(productId: number): Promise<number> {
    const [row] = await selectRows<{ stock: number | string }>(ds, `SELECT stock FROM products WHERE id = ?`, [productId]);
    return Number(row?.stock);
  }

  it('settles 100 accepted orders, reports each outcome in Redis, empties the pending index, and ignores a re-added job', async () => {
    const a = await newProduct(1_000, 30);
    const b = await newProduct(2_000, 20);
    const customers = await Promise.all(Array.from({ length: 10 }, (_, i) => newCustomer(5_000 + i * 1_000)));
    const orders = Array.from({ length: 100 }, (_, k) => {
      const userId = customers[k % customers.length]!;
      const lines: AcceptedLine[] = [line(a, 1)];
      if (k % 2 === 0) lines.unshift(line(b, 1));
      return acceptedOrderFor(userId, lines);
    });
    await Promise.all(orders.map(place));

    const records = await eventually(
      () => Promise.all(orders.map((o) => store.get(o.userId, o.orderId))),
      (rs) => rs.every((r) => r !== null && r.status !== OrderStatus.PENDING),
    );

    expect(failures).toEqual([]);
    const inMysql = await new OrdersRepository(ds).settledStatuses(orders.map((o) => o.orderId));
    expect(inMysql.size).toBe(100);
    records.forEach((rec, i) => {
      const order = orders[i]!;
      const settled = inMysql.get(order.orderId)!;
      expect([OrderStatus.PAID, OrderStatus.FAILED]).toContain(rec!.status);
      expect({ id: order.orderId, status: rec!.status, reason: rec!.reason }).toEqual({ id: order.orderId, status: settled.status, reason: settled.reason });
      expect(rec!.order).toEqual(order);
    });
    const paid = orders.filter((o) => inMysql.get(o.orderId)!.status === OrderStatus.PAID);
    expect(paid.length).toBeGreaterThan(0);
    expect(paid.length).toBeLessThan(100);
    expect(await store.pendingOlderThan(Date.now() + 1000, 1000)).toEqual([]);
    expect(await store.pendingCount()).toBe(0);
    for (const userId of customers) expect(await store.pendingOfUser(userId, 100)).toEqual([]);

    // Re-adding a completed order's job under the same id is a no-op: the completed job stays as it was.
    const done = paid[0]!;
    const before = (await queue.getJob(done.orderId))!;
    expect(await before.getState()).toBe('completed');
    expect(before.returnvalue).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: true });
    const stockA = await stockOf(a.id);
    const stockB = await stockOf(b.id);
    await enqueueOrder(queue, { order: done, requestId: done.requestId });
    await new Promise((r) => setTimeout(r, 300));
    const after = (await queue.getJob(done.orderId))!;
    expect(await after.getState()).toBe('completed');
    expect([after.processedOn, after.finishedOn, after.attemptsMade]).toEqual([before.processedOn, before.finishedOn, before.attemptsMade]);

    // And if the job is gone (retention) and the order comes back anyway, the worker does not apply it twice.
    await after.remove();
    await enqueueOrder(queue, { order: done, requestId: done.requestId });
    const rerun = await eventually(
      async () => (await queue.getJob(done.orderId))!,
      (j) => j.finishedOn !== undefined,
    );
    expect(await rerun.getState()).toBe('completed');
    expect(rerun.returnvalue).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: false });
    expect(await ledgerRowsFor(done.orderId)).toBe(1);
    expect(await stockOf(a.id)).toBe(stockA);
    expect(await stockOf(b.id)).toBe(stockB);
    expect((await store.get(done.userId, done.orderId))?.status).toBe(OrderStatus.PAID);
    expect(failures).toEqual([]);
  });

  it('fails a malformed job with UnrecoverableError after one attempt, without retrying', async () => {
    const jobId = `malformed-${tag()}`;
    const bogus = { order: { orderId: 'not-an-order' }, requestId: 'req-malformed' } as unknown as OrderJobData;
    await queue.add(OrderJobName.APPLY, bogus, { jobId, attempts: 5, backoff: { type: 'fixed', delay: 50 } });

    const job = await eventually(
      async () => (await queue.getJob(jobId))!,
      (j) => j.finishedOn !== undefined,
    );
    // Well past the backoff: a retry would have shown by now.
    await new Promise((r) => setTimeout(r, 300));
    const settled = (await queue.getJob(jobId))!;

    expect(await settled.getState()).toBe('failed');
    expect(settled.attemptsMade).toBe(1);
    expect(settled.attemptsStarted).toBe(1);
    expect(settled.finishedOn).toBe(job.finishedOn);
    expect(settled.failedReason).toMatch(new RegExp(`^malformed .*job ${jobId}:`));
    const failed = failures.filter((f) => f.jobId === jobId);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.err).toBeInstanceOf(UnrecoverableError);
  });
});
