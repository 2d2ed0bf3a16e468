import { Worker, type Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { RefundsRepository, createDataSource, execute, selectRows } from '@bazaar/db';
import { createLogger, createMetrics, createRedis, loadConfig, newId, redisKeys, type Config, type Redis, type RedisKeys } from '@bazaar/platform';
import { AcceptedOrderStore, OrderOutcomePublisher, QueueName, SoldOutGate, createRefundsQueue, enqueueRefund, type RefundJobData } from '@bazaar/queue';
import { sqlFixtures } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { ReconcileRefundsJob } from '../src/jobs/reconcile-refunds.job';

const AFTER_SECONDS = 2;
const log = createLogger('scheduler-test', 'silent');

/**
 * ReconcileRefundsJob against real Redis, BullMQ and MariaDB: a refund
 * recorded PENDING in MySQL gets a job when it has none, a failed job is
 * retried, a live job is left alone. Each case has a key prefix of its own;
 * the sweep reads every stale PENDING refund of the run's database, so each
 * case asserts on its own refund's job only.
 */
describe('ReconcileRefundsJob (Redis + BullMQ + MariaDB)', () => {
  let config: Config;
  let ds: DataSource;
  let queueRedis: Redis;
  let commandRedis: Redis;
  const queues: Queue<RefundJobData>[] = [];
  const { newCustomer, newStore, newProduct } = sqlFixtures(() => ds);

  beforeAll(async () => {
    config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 4 });
    await ds.initialize();
    queueRedis = createRedis(config.REDIS_URL, 'worker');
    commandRedis = createRedis(config.REDIS_URL, 'command');
  });

  afterAll(async () => {
    for (const q of queues) await q.close();
    await Promise.allSettled([queueRedis?.quit(), commandRedis?.quit()]);
    await ds?.destroy();
  });

  function setup(name: string) {
    const keys: RedisKeys = redisKeys(`${testEnv().REDIS_PREFIX}:reconcile-refunds-${name}`);
    const queue = createRefundsQueue(queueRedis, keys, 3);
    queues.push(queue);
    const gate = new SoldOutGate(commandRedis, keys);
    const outcomes = new OrderOutcomePublisher(new AcceptedOrderStore(commandRedis, keys), gate);
    return { keys, queue, gate, job: new ReconcileRefundsJob(new RefundsRepository(ds), outcomes, queue, createMetrics('scheduler-test'), AFTER_SECONDS) };
  }

  /** A paid order of one line and a refund of one unit, recorded `ageMs` ago in `status` (COMPLETED: with its Redis effects owed). */
  async function recordedRefund(ageMs: number, status: 'PENDING' | 'COMPLETED' = 'PENDING'): Promise<RefundJobData & { productId: number }> {
    const userId = await newCustomer(10_000);
    const product = await newProduct(await newStore(), 1_000, 10);
    const orderId = newId();
    const refundId = newId();
    await execute(
      ds,
      `INSERT INTO orders (id, user_id, status, payment_method, fulfillment, items_total, cash_paid, idempotency_key, request_id, accepted_at, settled_at)
       VALUES (?, ?, 'PAID', 'BALANCE', '{"type":"PICKUP","pickupAt":"2030-01-01T00:00:00Z"}', 2000, 2000, ?, 'req', CURRENT_TIMESTAMP(3), CURRENT_TIMESTAMP(3))`,
      [orderId, userId, `key-${orderId}`],
    );
    const item = await execute(
      ds,
      `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, cash, refund_pending_quantity)
       VALUES (?, 0, ?, ?, ?, 1000, 2, 2000, 2000, ?)`,
      [orderId, product.id, product.storeId, product.name, status === 'PENDING' ? 1 : 0],
    );
    await execute(
      ds,
      `INSERT INTO refunds (id, order_id, user_id, kind, requested_by, requester_role, idempotency_key, request_hash, request_id, status, created_at, completed_at)
       VALUES (?, ?, ?, 'REFUND', ?, 'CUSTOMER', ?, 'hash', 'req', ?, ?, ?)`,
      [
        refundId,
        orderId,
        userId,
        userId,
        `refund-${refundId}`,
        status,
        new Date(Date.now() - ageMs),
        status === 'COMPLETED' ? new Date(Date.now() - ageMs) : null,
      ],
    );
    await execute(ds, 'INSERT INTO refund_items (refund_id, order_item_id, quantity) VALUES (?, ?, 1)', [refundId, item.insertId]);
    return { refundId, orderId, userId, requestId: 'req', productId: product.id };
  }

  it('enqueues a stale PENDING refund that has no job, once; leaves a fresh one and a completed one alone', async () => {
    const { queue, job } = setup('missing');
    const stale = await recordedRefund(60_000);
    const fresh = await recordedRefund(0);
    const done = await recordedRefund(60_000, 'COMPLETED');

    await job.run(log);

    const queued = await queue.getJob(stale.refundId);
    expect(await queued?.getState()).toBe('waiting');
    expect(queued?.data).toEqual({ refundId: stale.refundId, orderId: stale.orderId, userId: stale.userId, requestId: `reconcile-${stale.refundId}` });
    expect(await queue.getJob(fresh.refundId)).toBeUndefined();
    expect(await queue.getJob(done.refundId)).toBeUndefined();

    // A second sweep finds the job waiting and leaves it as it is.
    await job.run(log);
    const still = await queue.getJob(stale.refundId);
    expect({ state: await still?.getState(), timestamp: still?.timestamp }).toEqual({ state: 'waiting', timestamp: queued?.timestamp });
  });

  it('retries a refund whose job ran out of attempts', async () => {
    const { keys, queue, job } = setup('failed');
    const stale = await recordedRefund(60_000);
    await enqueueRefund(queue, stale);
    const workerRedis = createRedis(config.REDIS_URL, 'worker');
    const worker = new Worker<RefundJobData>(
      QueueName.REFUNDS,
      async () => {
        throw new Error('gateway unavailable');
      },
      { connection: workerRedis, prefix: keys.bullPrefix(QueueName.REFUNDS) },
    );
    try {
      // 3 attempts with backoff: wait for the last one.
      await new Promise<void>((resolve) =>
        worker.on('failed', (j) => {
          if (j && j.attemptsMade >= 3) resolve();
        }),
      );
    } finally {
      await worker.close();
      await workerRedis.quit();
    }
    expect(await (await queue.getJob(stale.refundId))?.getState()).toBe('failed');

    const report = await job.run(log);

    expect(report.retried).toBeGreaterThanOrEqual(1);
    const retried = await queue.getJob(stale.refundId);
    expect(await retried?.getState()).toBe('waiting');
    expect(retried?.attemptsMade).toBe(0);
  });

  it('finishes a completed refund whose worker died before Redis learnt of it: the gate gets its units once, and it is marked done', async () => {
    const { gate, job } = setup('effects');
    const done = await recordedRefund(60_000, 'COMPLETED');
    await gate.init(done.productId, 5);

    await job.run(log);
    expect(await gate.available(done.productId)).toBe(6);
    const [row] = await selectRows<{ effects_done_at: Date | null }>(ds, 'SELECT effects_done_at FROM refunds WHERE id = ?', [done.refundId]);
    expect(row!.effects_done_at).not.toBeNull();

    // Swept again (or the worker's retry telling Redis too): the units come back once.
    await job.run(log);
    await execute(ds, 'UPDATE refunds SET effects_done_at = NULL WHERE id = ?', [done.refundId]);
    await job.run(log);
    expect(await gate.available(done.productId)).toBe(6);
  });
});
