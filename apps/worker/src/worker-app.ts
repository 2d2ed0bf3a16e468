import 'reflect-metadata';
import { Worker } from 'bullmq';
import { createDataSource } from '@bazaar/db';
import {
  ErrorNotifier,
  createLogger,
  createMetrics,
  createRedis,
  redisKeys,
  startHealthServer,
  type Config,
  type Logger,
  type Metrics,
} from '@bazaar/platform';
import {
  AcceptedOrderStore,
  CouponStore,
  OrderOutcomePublisher,
  QueueName,
  SoldOutGate,
  createOrdersQueue,
  createRefundsQueue,
  type OrdersQueueData,
  type RefundJobData,
} from '@bazaar/queue';
import { gatewayClientFromConfig } from './gateway/payment-gateway.client';
import { CustomerLock } from './locks/customer-lock';
import { ordersProcessor } from './processors/orders.processor';
import { refundsProcessor } from './processors/refunds.processor';
import type { Clock } from './workflows/apply-order/apply-order.workflow';
import { createOrderWorkflows } from './workflows/order-workflows';

export interface WorkerAppOptions {
  /** The workflows' clock (tests move it); the system clock when absent. */
  clock?: Clock;
  log?: Logger;
  /** Serve /metrics and /readyz (default true; in-process test workers may share a port-less registry). */
  health?: boolean;
}

export interface WorkerApp {
  /** Unexpected errors to Slack (SLACK_WEBHOOK_URL). */
  notifier: ErrorNotifier;
  metrics: Metrics;
  /** Waits for active jobs, then closes every connection. */
  close(): Promise<void>;
}

/**
 * One worker process: BullMQ workers for the `orders` and `refunds` queues,
 * wired to the workflows, the customer lock and the outcome publisher, with
 * /metrics. main.ts runs one; in-process tests can run several (with a
 * clock of their own).
 */
export async function startWorkerApp(config: Config, opts: WorkerAppOptions = {}): Promise<WorkerApp> {
  const log = opts.log ?? createLogger('worker', config.LOG_LEVEL);
  const keys = redisKeys(config.REDIS_PREFIX);
  const ds = createDataSource(config, { multipleStatements: true });
  await ds.initialize();
  // Store, gate and lock commands of concurrent jobs pipeline together; BullMQ keeps its own connections.
  const redis = createRedis(config, 'worker', { enableAutoPipelining: true });
  const queueRedis = createRedis(config, 'worker');
  const ordersWorkerRedis = createRedis(config, 'worker');
  const refundsWorkerRedis = createRedis(config, 'worker');
  const store = new AcceptedOrderStore(redis, keys);
  const notifier = new ErrorNotifier({ webhookUrl: config.SLACK_WEBHOOK_URL, service: 'worker', repeatEveryMs: config.SLACK_REPEAT_SECONDS * 1000, log });
  const ordersQueue = createOrdersQueue(queueRedis, keys, config.ORDER_JOB_ATTEMPTS);
  const refundsQueue = createRefundsQueue(queueRedis, keys, config.ORDER_JOB_ATTEMPTS);
  // Queue depth, read at scrape time (every worker reports the same queue-wide figures).
  const states = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;
  const metrics = createMetrics('worker', {
    queueJobCounts: async () => ({
      [QueueName.ORDERS]: await ordersQueue.getJobCounts(...states),
      [QueueName.REFUNDS]: await refundsQueue.getJobCounts(...states),
    }),
  });

  // Every outcome series exists from the start (a counter's first increment would otherwise be invisible to rate()).
  for (const outcome of ['completed', 'failed']) metrics.refunds.inc({ outcome }, 0);
  for (const what of ['cash', 'points', 'clawback']) metrics.refundedAmounts.inc({ what }, 0);

  const gate = new SoldOutGate(redis, keys);
  const gateway = gatewayClientFromConfig(config, (state) => {
    metrics.paymentGatewayBreaker.set(state === 'open' ? 1 : state === 'halfOpen' ? 0.5 : 0);
    log.warn({ state }, 'payment gateway circuit breaker changed state');
  });
  const workflows = createOrderWorkflows({
    ds,
    gateway,
    gate,
    log,
    metrics,
    batch: { maxSize: config.WORKER_BATCH_SIZE, maxWaitMs: config.WORKER_BATCH_WAIT_MS },
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const outcomes = new OrderOutcomePublisher(store, gate, { redis, keys }, new CouponStore(redis, keys));
  const lock = new CustomerLock(redis, keys, config.CUSTOMER_LOCK_MS);
  const workerOptions = {
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_LOCK_MS,
    maxStalledCount: 2,
  };
  const orders = new Worker<OrdersQueueData>(
    QueueName.ORDERS,
    ordersProcessor({ apply: workflows.apply, cancel: workflows.cancel, store, outcomes, lock, metrics, log, refundRows: workflows.refundRows }),
    { ...workerOptions, prefix: keys.bullPrefix(QueueName.ORDERS), connection: ordersWorkerRedis },
  );
  const refunds = new Worker<RefundJobData>(
    QueueName.REFUNDS,
    refundsProcessor({ refunds: workflows.refunds, refundRows: workflows.refundRows, outcomes, lock, metrics, log }),
    {
      ...workerOptions,
      prefix: keys.bullPrefix(QueueName.REFUNDS),
      connection: refundsWorkerRedis,
    },
  );
  for (const [name, w] of [
    ['orders', orders],
    ['refunds', refunds],
  ] as const) {
    // A job fails only on an unexpected error (a refused order or refund completes with its reason): on-call hears of it.
    w.on('failed', (job, err) => {
      log.warn({ queue: name, jobId: job?.id, err: err.message, attempts: job?.attemptsMade }, `${name} job failed`);
      notifier.report(err, { job: name, requestId: (job?.data as { requestId?: string } | undefined)?.requestId });
    });
    w.on('error', (err) => {
      log.error({ err, queue: name }, 'worker error');
      notifier.report(err, { job: `${name} worker` });
    });
  }

  const health =
    opts.health === false
      ? null
      : await startHealthServer({
          port: config.WORKER_METRICS_PORT,
          registry: metrics.registry,
          ready: async () => {
            await ds.query('SELECT 1');
            await redis.ping();
            if (!orders.isRunning() || !refunds.isRunning()) throw new Error('worker is not running');
          },
        });
  log.info({ metricsPort: health?.port, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  return {
    metrics,
    notifier,
    async close() {
      await Promise.all([orders.close(), refunds.close()]);
      await Promise.all([ordersQueue.close(), refundsQueue.close()]);
      await health?.close();
      await notifier.close();
      gateway.shutdown();
      await Promise.allSettled([redis.quit(), queueRedis.quit(), ordersWorkerRedis.quit(), refundsWorkerRedis.quit()]);
      await ds.destroy();
    },
  };
}
