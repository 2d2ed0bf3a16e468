import { QueueEvents, type Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import {
  CartRepository,
  CatalogRepository,
  ProductFanoutsRepository,
  ChatRepository,
  FulfillmentRepository,
  OrdersRepository,
  PointsRepository,
  PopularProductsRepository,
  QuestionsRepository,
  RefundsRepository,
  UsersRepository,
  WaitingRoomRepository,
  WalletRepository,
  createDataSource,
} from '@bazaar/db';
import {
  CatalogVersions,
  ErrorNotifier,
  createLogger,
  createMetrics,
  createRedis,
  redisKeys,
  type Config,
  type Metrics,
  type RedisKeys,
  type Redis,
} from '@bazaar/platform';
import {
  AcceptedOrderStore,
  OrderOutcomePublisher,
  PopularProductsStore,
  ProductViewsStore,
  SoldOutGate,
  WaitingRoomStore,
  createOrdersQueue,
  createRefundsQueue,
  type OrdersQueueData,
  type RefundJobData,
} from '@bazaar/queue';
import { AdmissionTokens } from './services/admission-tokens';
import { ChatEventsHub } from './services/chat-events.hub';
import { ChatService } from './services/chat.service';
import { OrderAcceptanceService } from './services/order-acceptance.service';
import { OrderCancelService } from './services/order-cancel.service';
import { OrderEventsHub } from './services/order-events.hub';
import { OrderQueryService } from './services/order-query.service';
import { PasswordService } from './services/password.service';
import { PopularProductsService } from './services/popular-products.service';
import { listPageLoader } from './routers/products/list.page';
import { ProductCaches } from './services/product-caches';
import { CatalogService } from './services/catalog.service';
import { ProductDetailCache } from './services/product-detail.cache';
import { ProductListCache } from './services/product-list.cache';
import { ProductPricingCache } from './services/product-pricing.cache';
import { RefundService } from './services/refund.service';
import { FulfillmentService } from './services/fulfillment.service';
import { StoreProfileCache } from './services/store-profile.cache';
import { SessionService } from './services/session.service';
import { RateLimits } from './services/rate-limits';
import { createSubscriptionService, type SubscriptionService } from './services/subscription.service';
import { createCouponService, type CouponService } from './services/coupon.service';
import { WaitingRoomService } from './services/waiting-room.service';

/** Everything the API's procedures use, built once per process. */
export interface Deps {
  config: Config;
  metrics: Metrics;
  keys: RedisKeys;
  ds: DataSource;
  redis: Redis;
  queueRedis: Redis;
  ordersQueue: Queue<OrdersQueueData>;
  refundsQueue: Queue<RefundJobData>;
  /** Lazily started: only orders.cancel waits on job results. */
  ordersEvents(): Promise<QueueEvents>;
  refundsEvents(): Promise<QueueEvents>;
  store: AcceptedOrderStore;
  orders: OrdersRepository;
  users: UsersRepository;
  catalog: CatalogRepository;
  wallet: WalletRepository;
  points: PointsRepository;
  carts: CartRepository;
  questions: QuestionsRepository;
  sessions: SessionService;
  passwords: PasswordService;
  pricing: ProductPricingCache;
  gate: SoldOutGate;
  productDetails: ProductDetailCache;
  /** products.list's pages (both the fast path and the handler read through it). */
  productLists: ProductListCache;
  /** A product changed: the detail cache and the list pages learn of it (products.create/update/remove/restock). */
  productCaches: ProductCaches;
  /** Product changes (create, update, remove, restock) and their fan-out to Redis, repaired if it fails. */
  catalogChanges: CatalogService;
  popular: PopularProductsService;
  acceptance: OrderAcceptanceService;
  orderQueries: OrderQueryService;
  cancels: OrderCancelService;
  /** refunds.*, and orders.cancel of a paid order. */
  refunds: RefundService;
  orderEvents: OrderEventsHub;
  /** A store's settings, inbox, pickups and fulfillment moves (stores.update/close/orders/pickups, fulfillment.update). */
  fulfillment: FulfillmentService;
  storeProfiles: StoreProfileCache;
  parts: FulfillmentRepository;
  /** coupons.*, and for the order path: terms, reserveForOrder, releaseForOrder. */
  coupons: CouponService;
  /** subscriptions.*, and pauseHolding({productIds} | {storeId}, reason, detail) for products.remove and stores.close. */
  subscriptions: SubscriptionService;
  /** chat.*: threads, messages, the send rate limit and the per-thread fan-out. */
  chat: ChatService;
  /** RATE_LIMITS, counted in Redis across api processes; null when RATE_LIMITS=off. */
  rateLimits: RateLimits | null;
  /** waitingRoom.*: events, lines and admission tokens (the admission loop is the scheduler's). */
  waitingRoom: WaitingRoomService;
  admissionTokens: AdmissionTokens;
  /** Unexpected errors to on-call's Slack (SLACK_WEBHOOK_URL), grouped and paced; a no-op without a webhook. */
  notifier: ErrorNotifier;
  close(): Promise<void>;
}

export async function createDeps(config: Config): Promise<Deps> {
  const metrics = createMetrics('api');
  const keys = redisKeys(config.REDIS_PREFIX);
  // Replica reads that fall back to the primary are counted and logged (packages/db replica-reads.ts).
  const ds = createDataSource(config, { replicaReads: { fallbacks: metrics.replicaFallbacks, log: createLogger('api', config.LOG_LEVEL) } });
  const redis = createRedis(config, 'command');
  const queueRedis = createRedis(config, 'command', { maxRetriesPerRequest: null, enableAutoPipelining: false });
  const ordersQueue = createOrdersQueue(queueRedis, keys, config.ORDER_JOB_ATTEMPTS);
  const refundsQueue = createRefundsQueue(queueRedis, keys, config.ORDER_JOB_ATTEMPTS);
  // MySQL may be down at start: the accept path does not need it, and /readyz says so.
  await ds.initialize().catch((err: unknown) => {
    throw new Error(`MySQL at ${new URL(config.MYSQL_URL).host} does not answer: ${err instanceof Error ? err.message : String(err)}`);
  });
  // QueueEvents, started on first use (one connection each): orders.cancel waits on a job's result.
  const started: { events: QueueEvents; redis: Redis }[] = [];
  const lazyEvents = (queueName: string) => {
    let events: Promise<QueueEvents> | undefined;
    return () =>
      (events ??= (async () => {
        const eventsRedis = createRedis(config, 'worker');
        const qe = new QueueEvents(queueName, { connection: eventsRedis, prefix: keys.bullPrefix(queueName) });
        started.push({ events: qe, redis: eventsRedis });
        await qe.waitUntilReady();
        return qe;
      })());
  };
  const ordersEvents = lazyEvents(ordersQueue.name);
  const refundsEvents = lazyEvents(refundsQueue.name);
  const users = new UsersRepository(ds);
  const catalog = new CatalogRepository(ds);
  const wallet = new WalletRepository(ds);
  const orders = new OrdersRepository(ds);
  const carts = new CartRepository(ds);
  const store = new AcceptedOrderStore(redis, keys);
  const pricing = new ProductPricingCache(redis, keys, catalog, metrics);
  const gate = new SoldOutGate(redis, keys);
  const orderEvents = new OrderEventsHub(createRedis(config, 'worker'), keys);
  const views = new ProductViewsStore(redis, keys);
  const productDetails = new ProductDetailCache(redis, keys, catalog, gate, views, metrics, createRedis(config, 'worker'));
  const productLists = new ProductListCache(new CatalogVersions(redis, keys), gate, views, listPageLoader(catalog), metrics);
  const productCaches = new ProductCaches(productDetails, productLists);
  const stockSnapshot = (productId: number, orderIds: string[]) => catalog.stockSnapshot(productId, orderIds);
  const catalogChanges = new CatalogService(
    catalog,
    new ProductFanoutsRepository(ds),
    { pricing, gate, stockSnapshot, changed: (productId) => productCaches.changed(productId) },
    metrics,
    createLogger('api', config.LOG_LEVEL),
  );
  // The accept path's pricing copies go too: an order through another process is priced at the new price
  // as soon as the change is published, not when the 2 s local TTL ends.
  await productDetails.listen((productId) => pricing.forget(productId));
  const coupons = createCouponService(ds, redis, keys, catalog, metrics);
  const refunds = new RefundService(ds, new RefundsRepository(ds), store, refundsQueue, metrics);
  const storeProfiles = new StoreProfileCache(redis, keys, catalog, metrics);
  const parts = new FulfillmentRepository(ds);
  const subscriptions = createSubscriptionService(ds, pricing, config);
  const fulfillment = new FulfillmentService(catalog, parts, storeProfiles, new OrderOutcomePublisher(store, gate, { redis, keys }), (storeId) =>
    subscriptions.pauseHolding({ storeId }, 'STORE_CLOSED', `store ${storeId} closed`),
  );
  const chatEvents = new ChatEventsHub(createRedis(config, 'subscriber'), redis, keys);
  const chat = new ChatService(new ChatRepository(ds), chatEvents, redis, keys, metrics, {
    sendLimit: config.CHAT_SEND_LIMIT,
    windowSeconds: config.CHAT_SEND_WINDOW_SECONDS,
  });
  const notifier = new ErrorNotifier({ webhookUrl: config.SLACK_WEBHOOK_URL, service: 'api', repeatEveryMs: config.SLACK_REPEAT_SECONDS * 1000 });
  const admissionTokens = new AdmissionTokens(config.ADMISSION_TOKEN_KEYS, config.ADMISSION_TOKEN_KEYS_FILE);
  const waitingRoom = new WaitingRoomService(
    new WaitingRoomRepository(ds),
    catalog,
    new WaitingRoomStore(redis, keys),
    gate,
    admissionTokens,
    config.WAITING_ROOM_ABANDON_SECONDS,
  );
  return {
    config,
    metrics,
    keys,
    ds,
    redis,
    queueRedis,
    ordersQueue,
    refundsQueue,
    ordersEvents,
    refundsEvents,
    store,
    orders,
    users,
    catalog,
    wallet,
    points: new PointsRepository(ds),
    carts,
    questions: new QuestionsRepository(ds),
    sessions: new SessionService(redis, keys, config.SESSION_TTL_SECONDS),
    passwords: new PasswordService(),
    pricing,
    gate,
    productDetails,
    productLists,
    productCaches,
    catalogChanges,
    popular: new PopularProductsService(new PopularProductsStore(redis, keys), new PopularProductsRepository(ds), pricing, metrics),
    acceptance: new OrderAcceptanceService(
      pricing,
      store,
      ordersQueue,
      gate,
      stockSnapshot,
      metrics,
      config.IDEMPOTENCY_TTL_SECONDS,
      (userId) => carts.lines(userId),
      coupons,
      config.REWARD_BPS,
      storeProfiles,
      admissionTokens,
    ),
    orderQueries: new OrderQueryService(store, orders, metrics, parts),
    orderEvents,
    cancels: new OrderCancelService(store, orders, ordersQueue, ordersEvents, refunds, refundsEvents, config.CANCEL_WAIT_MS),
    refunds,
    coupons,
    subscriptions,
    fulfillment,
    storeProfiles,
    parts,
    chat,
    waitingRoom,
    admissionTokens,
    notifier,
    rateLimits: config.RATE_LIMITS && new RateLimits(config.RATE_LIMITS, redis, keys.prefix, metrics),
    async close() {
      await notifier.close();
      await orderEvents.close();
      await chatEvents.close();
      await productDetails.close();
      for (const e of started) {
        await e.events.close();
        await e.redis.quit().catch(() => undefined);
      }
      await ordersQueue.close();
      await refundsQueue.close();
      await Promise.allSettled([redis.quit(), queueRedis.quit()]);
      if (ds.isInitialized) await ds.destroy();
    },
  };
}
