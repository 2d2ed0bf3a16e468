import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { connectionErrors, replicationShortfalls } from './redis';

/**
 * Every metric the fleet exports, defined once. Names and labels are part of
 * the public contract (dashboards and alerts read them): see docs/api.md.
 */
export interface MetricsOptions {
  /** Read at scrape time: job counts by queue, then by state. */
  queueJobCounts?: () => Promise<Record<string, Record<string, number>>>;
}

export function createMetrics(service: string, opts: MetricsOptions = {}) {
  const registry = new Registry();
  // What the collect() of the counters fed from module-level tallies (redis.ts) has already added.
  const seen = { shortfalls: 0, command: 0, worker: 0, subscriber: 0 };
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'bazaar_process_' });

  const m = {
    registry,
    httpDuration: new Histogram({
      name: 'bazaar_http_request_duration_seconds',
      help: 'API request duration by tRPC procedure and result code',
      labelNames: ['procedure', 'code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    orders: new Counter({
      name: 'bazaar_orders_total',
      help: 'Orders by outcome (accepted, paid, failed, cancelled, rejected) and reason',
      labelNames: ['outcome', 'reason'] as const,
      registers: [registry],
    }),
    refunds: new Counter({
      name: 'bazaar_refunds_total',
      help: 'Refunds by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'bazaar_job_duration_seconds',
      help: 'Queue job processing time by queue and outcome',
      labelNames: ['queue', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: 'bazaar_queue_jobs',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        if (!opts.queueJobCounts) return;
        for (const [queue, states] of Object.entries(await opts.queueJobCounts())) {
          for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
        }
      },
    }),
    cacheRequests: new Counter({
      name: 'bazaar_cache_requests_total',
      help: 'Cache look-ups by cache and result (hit, miss)',
      labelNames: ['cache', 'result'] as const,
      registers: [registry],
    }),
    subscriptionCycles: new Counter({
      name: 'bazaar_subscription_cycles_total',
      help: 'Subscription cycle tries by outcome (placed, paid, failed, refused, retried, skipped, paused)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    roomAdmitted: new Counter({
      name: 'bazaar_waiting_room_admitted_total',
      help: 'Waiting-room callers admitted (given an admission token), by event',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    roomTokens: new Counter({
      name: 'bazaar_waiting_room_tokens_total',
      help: 'Admissions that ended, by event and outcome (used by an order, expired unused, abandoned: left the line by not polling)',
      labelNames: ['event', 'outcome'] as const,
      registers: [registry],
    }),
    roomWaiting: new Gauge({
      name: 'bazaar_waiting_room_waiting',
      help: 'Callers in an event line, as the admission loop last saw it (only the process running the loop reports)',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    roomActive: new Gauge({
      name: 'bazaar_waiting_room_active',
      help: 'Admitted and unused admission tokens of an event (never above its maxActive)',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    roomAdmitting: new Gauge({
      name: 'bazaar_waiting_room_admitting',
      help: '1 while an event should be admitting: open, not sold out, below maxActive, with callers waiting',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    roomSoldOut: new Gauge({
      name: 'bazaar_waiting_room_sold_out',
      help: '1 while every product of an event is sold out at the gate (the room admits nobody)',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    roomTickErrors: new Counter({
      name: 'bazaar_waiting_room_tick_errors_total',
      help: 'Admission-loop steps that failed (Redis or MySQL errors); the next step retries',
      registers: [registry],
    }),
    chatMessages: new Counter({
      name: 'bazaar_chat_messages_total',
      help: 'chat.send by outcome (sent, duplicate, conflict, rate_limited)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    couponClaims: new Counter({
      name: 'bazaar_coupon_claims_total',
      help: 'Coupon claims by outcome (issued, sold_out, duplicate)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    viewFlushes: new Counter({
      name: 'bazaar_view_counter_flush_total',
      help: 'Product-view counter flushes by outcome (applied, duplicate: already in MySQL, empty, error)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    viewsFlushed: new Counter({
      name: 'bazaar_views_flushed_total',
      help: 'Product views moved from Redis to MySQL',
      registers: [registry],
    }),
    schedulerRuns: new Counter({
      name: 'bazaar_scheduler_runs_total',
      help: 'Scheduler job ticks by job and outcome (ok, error, skipped)',
      labelNames: ['task', 'outcome'] as const,
      registers: [registry],
    }),
    schedulerDuration: new Histogram({
      name: 'bazaar_scheduler_run_duration_seconds',
      help: 'Scheduler job run time',
      labelNames: ['task'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers: [registry],
    }),
    reconciled: new Counter({
      name: 'bazaar_reconciler_actions_total',
      help: 'What the reconciler did with each stale accepted order (requeued, settled, retried)',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    productDetailLoads: new Counter({
      name: 'bazaar_product_detail_loads_total',
      help: 'products.get reads that went to MySQL (cache rebuilds and fallbacks)',
      registers: [registry],
    }),
    productReadBatches: new Counter({
      name: 'bazaar_product_read_batches_total',
      help: 'Batches of products.get reads served together (one Redis round of version, stock and view-count commands each)',
      registers: [registry],
    }),
    productReads: new Counter({
      name: 'bazaar_product_reads_total',
      help: 'products.get reads served through the product cache (reads / batches = reads per Redis round)',
      registers: [registry],
    }),
    productListLoads: new Counter({
      name: 'bazaar_product_list_loads_total',
      help: 'products.list pages read from MySQL, by why (rebuild: a cached page built for a new version; through: not cached, inStock or a product without a gate count)',
      labelNames: ['why'] as const,
      registers: [registry],
    }),
    productListReadBatches: new Counter({
      name: 'bazaar_product_list_read_batches_total',
      help: 'Batches of products.list reads served together (one Redis round of versions, stock and view counts each)',
      registers: [registry],
    }),
    productListReads: new Counter({
      name: 'bazaar_product_list_reads_total',
      help: 'products.list reads served through the list cache (reads / batches = reads per Redis round)',
      registers: [registry],
    }),
    paymentGatewayBreaker: new Gauge({
      name: 'bazaar_payment_gateway_breaker_open',
      help: 'Payment gateway circuit breaker: 1 open, 0.5 half-open, 0 closed',
      registers: [registry],
    }),
    points: new Counter({
      name: 'bazaar_points_total',
      help: 'Points moved, by movement (earn, spend, restore, reissue, clawback, expire, grant)',
      labelNames: ['movement'] as const,
      registers: [registry],
    }),
    orderTxStatements: new Counter({
      name: 'bazaar_order_tx_statements_total',
      help: 'SQL statements sent by order transactions, by transaction kind and step (tx = START/SAVEPOINT/COMMIT)',
      labelNames: ['kind', 'step'] as const,
      registers: [registry],
    }),
    orderBatchSize: new Histogram({
      name: 'bazaar_order_batch_size',
      help: 'Orders per group-committed worker transaction (WORKER_BATCH_SIZE)',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    orderTxRoundTrips: new Counter({
      name: 'bazaar_order_tx_round_trips_total',
      help: 'MySQL round trips of order transactions, by transaction kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    refundStatements: new Counter({
      name: 'bazaar_refund_statements_total',
      help: 'SQL statements sent by refund workers, by step (lock, price, points, clawback, wallet, restock, units_status, coupon, complete, fail, effects, tx)',
      labelNames: ['step'] as const,
      registers: [registry],
    }),
    refundedAmounts: new Counter({
      name: 'bazaar_refunded_total',
      help: 'What completed refunds gave back: cash (won returned), points (given back), clawback (reward points taken back, or kept from the cash)',
      labelNames: ['what'] as const,
      registers: [registry],
    }),
    walletCharges: new Counter({
      name: 'bazaar_wallet_charges_total',
      help: 'Wallet top-ups by outcome (charged, replayed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'bazaar_rate_limited_total',
      help: 'Calls refused with TOO_MANY_REQUESTS by the per-procedure rate limits, by procedure and scope (user, ip, email)',
      labelNames: ['procedure', 'scope'] as const,
      registers: [registry],
    }),
    redisWaitShortfalls: new Counter({
      name: 'bazaar_redis_wait_shortfalls_total',
      help: 'Writes whose WAIT timed out short of REDIS_WAIT_REPLICAS in this process (they stood on their master alone until replicated)',
      registers: [registry],
      collect() {
        const d = replicationShortfalls.count - seen.shortfalls;
        if (d > 0) this.inc(d);
        seen.shortfalls += d;
      },
    }),
    redisConnectionErrors: new Counter({
      name: 'bazaar_redis_connection_errors_total',
      help: "Connection errors of this process's Redis clients (refused, reset, timed out), by client role",
      labelNames: ['role'] as const,
      registers: [registry],
      collect() {
        for (const role of ['command', 'worker', 'subscriber'] as const) {
          const d = connectionErrors[role] - seen[role];
          if (d > 0) this.inc({ role }, d);
          seen[role] += d;
        }
      },
    }),
    catalogFanouts: new Counter({
      name: 'bazaar_catalog_fanouts_total',
      help: "Product changes' copies to Redis (pricing snapshot, sold-out gate counter, detail and list caches), by outcome (ok: written with the change; failed: left marked for repair; repaired: written again from MySQL by the scheduler)",
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    replicaFallbacks: new Counter({
      name: 'bazaar_db_replica_fallbacks_total',
      help: 'Reads meant for a MySQL replica that ran on the primary, by reason (unreachable: no replica connection; lost: it died mid-read; down: sent straight to the primary while a replica is out)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
