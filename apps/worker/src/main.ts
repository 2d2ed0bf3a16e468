import 'reflect-metadata';
import { Worker } from 'bullmq';
import { createDataSource } from '@bazaar/db';
import { createLogger, createMetrics, createRedis, loadConfigOrExit, redisKeys, startHealthServer } from '@bazaar/platform';
import { AcceptedOrderStore, CouponStore, OrderOutcomePublisher, QueueName, SoldOutGate, createOrdersQueue, type OrdersQueueData } from '@bazaar/queue';
import { CustomerLock } from './locks/customer-lock';
import { ordersProcessor } from './processors/orders.processor';
import { PaymentGatewayClient } from './gateway/payment-gateway.client';
import { createOrderWorkflows } from './workflows/order-workflows';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger('worker', config.LOG_LEVEL);
  const keys = redisKeys(config.REDIS_PREFIX);
  const ds = createDataSource(config, { multipleStatements: true });
  await ds.initialize();
  // Store, gate and lock commands of concurrent jobs pipeline together; BullMQ keeps its own connections.
  const redis = createRedis(config.REDIS_URL, 'worker', { enableAutoPipelining: true });
  const queueRedis = createRedis(config.REDIS_URL, 'worker');
  const workerRedis = createRedis(config.REDIS_URL, 'worker');
  const store = new AcceptedOrderStore(redis, keys);
  const queue = createOrdersQueue(queueRedis, keys, config.ORDER_JOB_ATTEMPTS);
  // Queue depth, read at scrape time (every worker reports the same queue-wide figures).
  const metrics = createMetrics('worker', {
    queueJobCounts: async () => ({ [QueueName.ORDERS]: await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized') }),
  });

  const gate = new SoldOutGate(redis, keys);
  const gateway = new PaymentGatewayClient({
    baseUrl: config.PAYMENT_GATEWAY_URL,
    secretKey: config.PAYMENT_SECRET_KEY,
    timeoutMs: config.PAYMENT_TIMEOUT_MS,
    retries: config.PAYMENT_RETRIES,
    breaker: { resetTimeoutMs: config.PAYMENT_BREAKER_RESET_MS },
    onBreakerStateChange: (state) => {
      metrics.paymentGatewayBreaker.set(state === 'open' ? 1 : state === 'halfOpen' ? 0.5 : 0);
      log.warn({ state }, 'payment gateway circuit breaker changed state');
    },
  });
  const workflows = createOrderWorkflows({ ds, gateway, gate, log, metrics });
  const worker = new Worker<OrdersQueueData>(
    QueueName.ORDERS,
    ordersProcessor({
      apply: workflows.apply,
      cancel: workflows.cancel,
      store,
      outcomes: new OrderOutcomePublisher(store, gate, { redis, keys }, new CouponStore(redis, keys)),
      lock: new CustomerLock(redis, keys, config.CUSTOMER_LOCK_MS),
      metrics,
      log,
    }),
    {
      connection: workerRedis,
      prefix: keys.bullPrefix,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_LOCK_MS,
      maxStalledCount: 2,
    },
  );
  worker.on('failed', (job, err) => log.warn({ orderId: job?.id, err: err.message, attempts: job?.attemptsMade }, 'orders job failed'));
  worker.on('error', (err) => log.error({ err }, 'worker error'));

  const health = await startHealthServer({
    port: config.WORKER_METRICS_PORT,
    registry: metrics.registry,
    ready: async () => {
      await ds.query('SELECT 1');
      await redis.ping();
      if (!worker.isRunning()) throw new Error('worker is not running');
    },
  });
  log.info({ metricsPort: health.port, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing active jobs');
    const timer = setTimeout(() => {
      log.error('shutdown timed out; unfinished jobs will be picked up again (stalled) and are idempotent');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
    await worker.close();
    await queue.close();
    await health.close();
    await Promise.allSettled([redis.quit(), queueRedis.quit(), workerRedis.quit()]);
    await ds.destroy();
    clearTimeout(timer);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
