import { Redis } from 'ioredis';
import { Role } from '@bazaar/contracts';
import { execute } from '@bazaar/db';
import { startFakeGateway } from '@bazaar/fake-gateway';
import { DELIVERY, newAccount, newProduct, startTestApi, type TestApi } from '../support/api-harness';
import { testEnv, type TestEnv } from '../support/test-env';
import type { CallerName, FuzzWorld } from './fuzz-run';
import { StateWatcher } from './state-snapshot';

/**
 * The api in this process on `env`'s database and prefix, with a fake card gateway (subscriptions.registerCard). No
 * worker runs beside it (a refused case must change nothing, and a worker settling earlier orders would), so
 * orders.cancel and refunds.request, which wait for the worker's answer, give up waiting after 200 ms (QUEUED).
 */
/**
 * The fuzz's Redis keys live in a database number of their own (FUZZ_REDIS_DB, 13), still under the run's prefix: the
 * no-change check scans the prefix's keys before and after every case, and in database 0 each scan would also walk
 * every other suite's keys (~36,000 by the time a CI run reaches the fuzz: minutes of SCAN over 10,000 cases).
 */
const FUZZ_REDIS_DB = Number(process.env.FUZZ_REDIS_DB ?? 13);

function inDatabase(redisUrl: string, db: number): string {
  const u = new URL(redisUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function startFuzzApi(env: Pick<TestEnv, 'MYSQL_URL' | 'REDIS_PREFIX'>): Promise<{ api: TestApi; redisUrl: string; close(): Promise<void> }> {
  const secretKey = 'test_sk_fuzz';
  const gateway = await startFakeGateway({ port: 0, secretKey });
  const redisUrl = inDatabase(testEnv().REDIS_URL, FUZZ_REDIS_DB);
  const api = await startTestApi({
    MYSQL_URL: env.MYSQL_URL,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: env.REDIS_PREFIX,
    PAYMENT_GATEWAY_URL: gateway.url,
    PAYMENT_SECRET_KEY: secretKey,
    PAYMENT_TIMEOUT_MS: '2000',
    CANCEL_WAIT_MS: '200',
  });
  return {
    api,
    /** Its own Redis database (FUZZ_REDIS_DB): the global teardown cleans database 0, so whoever started it deletes its keys here. */
    redisUrl,
    async close() {
      await api.close();
      await gateway.close();
    },
  };
}

/**
 * The fuzz run's world on a started api: a customer with money, an order and a chat thread, a seller with a store
 * and two products and a coupon, an admin; their ids are small integers, which the derived arbitraries favour, so
 * valid input often names things that exist. Tokens are issued by the api's own SessionService and can be renewed
 * (a fuzzed auth.logout ends a session).
 */
export async function createFuzzWorld(api: TestApi): Promise<FuzzWorld> {
  const customer = await newAccount(api, 'CUSTOMER', 'fuzz-customer');
  const { seller, store, product } = await newProduct(api, { stock: 1000, price: 1_000, name: '퍼즈 상품 fuzz' });
  await seller.client.products.create.mutate({ storeId: store.id, name: 'Second fuzz product', description: 'two', price: 25_000, stock: 50 });
  await customer.client.wallet.charge.mutate({ amount: 5_000_000, idempotencyKey: 'fuzz-world-charge' });
  const order = await customer.client.orders.place.mutate({
    idempotencyKey: 'fuzz-world-order',
    items: [{ productId: product.id, quantity: 1 }],
    paymentMethod: 'BALANCE',
    fulfillment: DELIVERY,
  });
  const thread = await customer.client.chat.open.mutate({ storeId: store.id });
  await customer.client.chat.send.mutate({ threadId: thread.threadId, body: 'hello', clientMessageId: 'fuzz-world-msg-1' });
  await customer.client.questions.ask.mutate({ productId: product.id, body: 'Is it fuzzy?' });
  await seller.client.coupons.create.mutate({
    storeId: store.id,
    name: 'Fuzz coupon',
    kind: 'FIXED',
    value: 500,
    minOrderAmount: 0,
    quantity: 100,
    validFrom: new Date(Date.now() - 3_600_000).toISOString(),
    validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
  });
  const adminId = Number(
    (
      await execute(api.deps.ds, `INSERT INTO users (email, password_hash, name, role) VALUES (?, 'not-a-real-hash', 'fuzz admin', ?)`, [
        `fuzz-admin-${Date.now()}@test.bazaar`,
        Role.ADMIN,
      ])
    ).insertId,
  );

  const users: Record<Exclude<CallerName, 'anonymous' | 'forged'>, { userId: number; role: Role }> = {
    customer: { userId: customer.user.id, role: Role.CUSTOMER },
    seller: { userId: seller.user.id, role: Role.SELLER },
    admin: { userId: adminId, role: Role.ADMIN },
  };
  const tokens: Partial<Record<CallerName, string>> = {};
  const refreshSessions = async () => {
    for (const [name, session] of Object.entries(users)) tokens[name as CallerName] = (await api.deps.sessions.issue(session)).token;
  };
  await refreshSessions();

  // A connection of the watcher's own, to the one Redis the test environment runs.
  const redis = new Redis(api.deps.config.REDIS_URL, { maxRetriesPerRequest: 2 });
  return {
    url: api.url,
    watcher: new StateWatcher(api.deps.ds, redis, api.deps.config.REDIS_PREFIX),
    close: async () => void (await redis.quit()),
    authorization: (caller) => (tokens[caller] ? `Bearer ${tokens[caller]}` : undefined),
    refreshSessions,
    known: [order.orderId, String(thread.threadId)],
  };
}
