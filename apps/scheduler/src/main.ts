import 'reflect-metadata';
import cron from 'node-cron';
import { createCatalogRepair, createOrderAcceptance } from '@bazaar/api/ordering';
import { gatewayClientFromConfig } from '@bazaar/worker/gateway';
import {
  BillingKeysRepository,
  OrdersRepository,
  PointsRepository,
  PopularProductsRepository,
  RefundsRepository,
  SubscriptionsRepository,
  ViewCountsRepository,
  WaitingRoomRepository,
  createDataSource,
} from '@bazaar/db';
import {
  CatalogVersions,
  ErrorNotifier,
  reportFatalErrors,
  createLogger,
  createMetrics,
  createRedis,
  loadConfigOrExit,
  logRedisErrors,
  redisKeys,
  startHealthServer,
  type Logger,
} from '@bazaar/platform';
import {
  AcceptedOrderStore,
  CouponStore,
  OrderOutcomePublisher,
  PopularProductsStore,
  ProductViewsStore,
  SoldOutGate,
  WaitingRoomStore,
  createOrdersQueue,
  createRefundsQueue,
} from '@bazaar/queue';
import { JobLease, RedisRunCoordinator } from './cron/redis-run-coordinator';
import { AdmitWaitingRoomsLoop } from './jobs/admit-waiting-rooms.loop';
import { ExpireCardOrdersJob } from './jobs/expire-card-orders.job';
import { ExpirePointsJob } from './jobs/expire-points.job';
import { FlushProductViewsJob } from './jobs/flush-product-views.job';
import { ReconcileBillingKeysJob } from './jobs/reconcile-billing-keys.job';
import { ReconcileGateJob } from './jobs/reconcile-gate.job';
import { ReconcileOrdersJob } from './jobs/reconcile-orders.job';
import { ReconcileRefundsJob } from './jobs/reconcile-refunds.job';
import { RefreshPopularProductsJob } from './jobs/refresh-popular-products.job';
import { RepairCatalogJob } from './jobs/repair-catalog.job';
import { PlaceSubscriptionsJob } from './jobs/place-subscriptions.job';
import { subscriptionClock } from './jobs/subscription-clock';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger('scheduler', config.LOG_LEVEL);
  logRedisErrors(log);
  const metrics = createMetrics('scheduler');
  const keys = redisKeys(config.REDIS_PREFIX);
  const ds = createDataSource(config, { replicaReads: { fallbacks: metrics.replicaFallbacks, log } });
  await ds.initialize();
  const redis = createRedis(config, 'worker');
  const queue = createOrdersQueue(redis, keys, config.ORDER_JOB_ATTEMPTS);
  const refundsQueue = createRefundsQueue(redis, keys, config.ORDER_JOB_ATTEMPTS);
  const coordinator = new RedisRunCoordinator(redis, keys);
  const notifier = new ErrorNotifier({ webhookUrl: config.SLACK_WEBHOOK_URL, service: 'scheduler', repeatEveryMs: config.SLACK_REPEAT_SECONDS * 1000, log });
  reportFatalErrors(notifier, log);
  const lease = new JobLease(redis, keys);

  const store = new AcceptedOrderStore(redis, keys);
  const gate = new SoldOutGate(redis, keys);
  const reconcileGate = new ReconcileGateJob(gate, store, new OrdersRepository(ds), config.RECONCILE_AFTER_SECONDS * 2);
  const outcomes = new OrderOutcomePublisher(store, gate, { redis, keys }, new CouponStore(redis, keys));
  const reconcile = new ReconcileOrdersJob(store, outcomes, new OrdersRepository(ds), queue, metrics, config.RECONCILE_AFTER_SECONDS);
  const reconcileRefunds = new ReconcileRefundsJob(new RefundsRepository(ds), outcomes, refundsQueue, metrics, config.RECONCILE_AFTER_SECONDS);
  const expire = new ExpireCardOrdersJob(new OrdersRepository(ds), queue, config.CARD_PAYMENT_EXPIRY_SECONDS);
  const expirePoints = new ExpirePointsJob(new PointsRepository(ds), metrics);
  const repairCatalog = new RepairCatalogJob(
    createCatalogRepair({ redis, keys, ds, metrics, log: log.child({ job: RepairCatalogJob.NAME }) }),
    config.RECONCILE_AFTER_SECONDS,
  );
  const popular = new RefreshPopularProductsJob(new PopularProductsRepository(ds), new PopularProductsStore(redis, keys));
  // Subscription cycles go through the same accept path as orders.place (@bazaar/api/ordering).
  const acceptRedis = createRedis(config, 'command');
  const acceptance = createOrderAcceptance({ config, redis: acceptRedis, keys, ds, ordersQueue: queue, metrics });
  const placeSubscriptions = new PlaceSubscriptionsJob(
    new SubscriptionsRepository(ds),
    (userId, input, requestId, l, server) => acceptance.place(userId, input, requestId, l, server),
    metrics.subscriptionCycles,
    config.SUBSCRIPTION_DUNNING_SECONDS,
    subscriptionClock(config, acceptRedis, keys),
  );
  const reconcileBillingKeys = new ReconcileBillingKeysJob(
    new BillingKeysRepository(ds),
    gatewayClientFromConfig(config),
    metrics,
    config.RECONCILE_AFTER_SECONDS,
  );
  const jobs: { name: string; schedule: string; leaseMs: number; run: (log: Logger) => Promise<unknown> }[] = [
    { name: ReconcileBillingKeysJob.NAME, schedule: config.RECONCILE_CRON, leaseMs: 60_000, run: (l) => reconcileBillingKeys.run(l) },
    // A short lease: a killed runner holds the others up only briefly (two runs at once place each cycle once anyway).
    { name: PlaceSubscriptionsJob.NAME, schedule: config.SUBSCRIPTIONS_CRON, leaseMs: 5_000, run: (l) => placeSubscriptions.run(l) },
    {
      name: ReconcileOrdersJob.NAME,
      schedule: config.RECONCILE_CRON,
      leaseMs: 60_000,
      run: (l) => reconcile.run(l),
    },
    { name: ReconcileGateJob.NAME, schedule: config.RECONCILE_CRON, leaseMs: 60_000, run: (l) => reconcileGate.run(l) },
    { name: RepairCatalogJob.NAME, schedule: config.RECONCILE_CRON, leaseMs: 60_000, run: () => repairCatalog.run() },
    { name: ReconcileRefundsJob.NAME, schedule: config.RECONCILE_CRON, leaseMs: 60_000, run: (l) => reconcileRefunds.run(l) },
    { name: ExpireCardOrdersJob.NAME, schedule: config.EXPIRY_CRON, leaseMs: 60_000, run: (l) => expire.run(l) },
    { name: ExpirePointsJob.NAME, schedule: config.POINTS_EXPIRY_CRON, leaseMs: 120_000, run: (l) => expirePoints.run(l) },
    { name: RefreshPopularProductsJob.NAME, schedule: config.POPULAR_CRON, leaseMs: 60_000, run: (l) => popular.run(l) },
  ];

  /** One tick of a job: under its lease (runs never overlap across replicas), timed and counted. */
  const tick = (job: { name: string; leaseMs: number; run: (log: Logger) => Promise<unknown> }) => {
    const jobLog = log.child({ job: job.name });
    return async () => {
      const end = metrics.schedulerDuration.startTimer({ task: job.name });
      try {
        const r = await lease.withLease(job.name, job.leaseMs, () => job.run(jobLog));
        metrics.schedulerRuns.inc({ task: job.name, outcome: r.ran ? 'ok' : 'skipped' });
        if (r.ran) jobLog.debug({ result: r.result }, 'job ran');
        else jobLog.debug('another run holds the lease; skipped');
      } catch (err) {
        metrics.schedulerRuns.inc({ task: job.name, outcome: 'error' });
        jobLog.error({ err }, 'job failed');
        notifier.report(err, { job: job.name });
      } finally {
        end();
      }
    };
  };

  const tasks = jobs.map((job) => {
    if (!cron.validate(job.schedule)) throw new Error(`bad cron expression for ${job.name}: ${job.schedule}`);
    return cron.createTask(job.schedule, tick(job), { name: job.name, timezone: 'UTC', noOverlap: true, distributed: true, runCoordinator: coordinator });
  });

  // View counts flush on a plain timer: cron ticks are whole seconds, and the flush may run every 100 ms.
  // Every replica ticks; the lease lets one flush at a time, and a batch is applied once whoever runs it.
  const flushViews = new FlushProductViewsJob(new ProductViewsStore(redis, keys), new ViewCountsRepository(ds), metrics, new CatalogVersions(redis, keys));
  // A short lease: a flusher that dies holds up the others only briefly (two flushing at once is safe anyway).
  const flushTick = tick({ name: FlushProductViewsJob.NAME, leaseMs: Math.max(2_000, config.VIEW_FLUSH_SECONDS * 2_000), run: (l) => flushViews.run(l) });
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let flushStopped = false;
  const scheduleFlush = () => {
    if (flushStopped) return;
    flushTimer = setTimeout(() => {
      flushing = flushTick().finally(scheduleFlush);
    }, config.VIEW_FLUSH_SECONDS * 1000);
  };
  scheduleFlush();
  for (const task of tasks) await task.start();

  // Waiting rooms admit every WAITING_ROOM_TICK_MS (sub-second, so a plain timer); one runner at a time by lease.
  const admitLoop = new AdmitWaitingRoomsLoop(
    redis,
    keys,
    new WaitingRoomRepository(ds),
    new WaitingRoomStore(redis, keys),
    gate,
    metrics,
    log.child({ job: AdmitWaitingRoomsLoop.NAME }),
    {
      tickMs: config.WAITING_ROOM_TICK_MS,
      abandonAfterMs: config.WAITING_ROOM_ABANDON_SECONDS * 1000,
      notify: (err) => notifier.report(err, { job: AdmitWaitingRoomsLoop.NAME }),
    },
  );
  admitLoop.start();

  const health = await startHealthServer({
    port: config.SCHEDULER_METRICS_PORT,
    registry: metrics.registry,
    ready: async () => {
      await ds.query('SELECT 1');
      await redis.ping();
    },
  });
  log.info(
    {
      metricsPort: health.port,
      jobs: [
        ...jobs.map((j) => `${j.name} ${j.schedule}`),
        `${FlushProductViewsJob.NAME} every ${config.VIEW_FLUSH_SECONDS}s`,
        `${AdmitWaitingRoomsLoop.NAME} every ${config.WAITING_ROOM_TICK_MS}ms`,
      ],
    },
    'scheduler started',
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    for (const task of tasks) await task.stop();
    await admitLoop.stop();
    await notifier.close();
    flushStopped = true;
    clearTimeout(flushTimer);
    await flushing;
    await health.close();
    await queue.close();
    await refundsQueue.close();
    await redis.quit().catch(() => undefined);
    await acceptRedis.quit().catch(() => undefined);
    await ds.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`scheduler failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
