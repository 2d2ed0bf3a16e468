import { DELIVERY, PASSWORD, newAccount, newProduct, startTestApi, uniqueEmail, type TestApi } from '../../../test/support/api-harness';
import { newLoopbackIp, trpcFrom, type TrpcAnswer } from '../../../test/support/http-from';

/**
 * Per-procedure rate limits (RATE_LIMITS, apps/api/src/services/rate-limits.ts) through two api processes' worth of
 * servers (two apis in this process, one with the fast paths and one without, counting in the same Redis prefix),
 * with small limits and short windows. A third api with limits off (the test default) makes the accounts.
 *
 * Every call goes out from an address of its own in 127.0.0.0/8 (a socket bound to 127.0.0.N reaches the apis on
 * 127.0.0.1, and Fastify's req.ip is 127.0.0.N), so each case has per-IP counters nobody else touches.
 */
const WINDOW_S = 4;
const LIMITS = [
  '*=ip:off',
  `orders.place=user:10/${WINDOW_S},ip:off`,
  'auth.signup=ip:off',
  `auth.login=ip:5/${WINDOW_S},email:3/${WINDOW_S}`,
  'products.get=ip:4/2',
  `waitingRoom.status=user:3/${WINDOW_S},ip:off`,
].join(';');

type Answer = TrpcAnswer;
const newIp = newLoopbackIp;
const call = (api: TestApi, path: string, input: unknown, opts: { ip: string; token?: string; query?: boolean }) => trpcFrom(api.url, path, input, opts);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A 429 as the contract has it: TOO_MANY_REQUESTS, data.retryAfterSeconds >= 1, Retry-After the same, RateLimit-* headers. */
function expectLimited(a: Answer, limit: number) {
  expect(a.status).toBe(429);
  expect(a.json.error?.data.code).toBe('TOO_MANY_REQUESTS');
  const retry = a.json.error?.data.retryAfterSeconds ?? 0;
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(WINDOW_S);
  expect(a.headers['retry-after']).toBe(String(retry));
  expect(a.headers['ratelimit-limit']).toBe(String(limit));
  expect(a.headers['ratelimit-remaining']).toBe('0');
  expect(Number(a.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1);
}

describe('rate limits across api processes', () => {
  let setup: TestApi;
  let fast: TestApi;
  let plain: TestApi;
  let productId: number;

  beforeAll(async () => {
    [setup, fast, plain] = await Promise.all([
      startTestApi(),
      startTestApi({ RATE_LIMITS: LIMITS, API_FAST_PATHS: 'true' }),
      startTestApi({ RATE_LIMITS: LIMITS, API_FAST_PATHS: 'false' }),
    ]);
    productId = (await newProduct(setup, { stock: 100_000, price: 100 })).product.id;
  });
  afterAll(async () => {
    await Promise.all([setup?.close(), fast?.close(), plain?.close()]);
  });

  async function customer() {
    const c = await newAccount(setup, 'CUSTOMER');
    await c.client.wallet.charge.mutate({ amount: 1_000_000, idempotencyKey: `rl-topup-${c.user.id}` });
    return c;
  }
  let n = 0;
  const order = () => ({ idempotencyKey: `rl-${Date.now()}-${n++}`, items: [{ productId, quantity: 1 }], paymentMethod: 'BALANCE', fulfillment: DELIVERY });

  it('a burst of 200 orders from one user through both apis is cut at the limit; another user at the same time is not; after the window the user orders again', async () => {
    const [heavy, other] = await Promise.all([customer(), customer()]);
    const ip = newIp();
    const burst = Array.from({ length: 200 }, (_, i) => call(i % 2 ? plain : fast, 'orders.place', order(), { ip, token: heavy.token }));
    const others = Array.from({ length: 6 }, (_, i) => call(i % 2 ? fast : plain, 'orders.place', order(), { ip, token: other.token }));
    const [mine, theirs] = await Promise.all([Promise.all(burst), Promise.all(others)]);

    // One count for both apis (half the burst went to each): exactly the limit passes.
    const ok = mine.filter((a) => a.status === 200);
    const limited = mine.filter((a) => a.status === 429);
    // A fixed window counted atomically in Redis, so no ±1 is needed; the rest is 429.
    expect(ok).toHaveLength(10);
    expect(limited).toHaveLength(190);
    for (const a of limited) expectLimited(a, 10);
    for (const a of ok) {
      expect(a.json.result?.data).toMatchObject({ status: 'PENDING' });
      expect(a.headers['ratelimit-limit']).toBe('10');
      expect(Number(a.headers['ratelimit-remaining'])).toBeLessThan(10);
      expect(a.headers['retry-after']).toBeUndefined();
    }
    expect(theirs.map((a) => a.status)).toEqual(Array(6).fill(200));

    // The window ends: the user may order again (through either api).
    const retry = limited[0]!.json.error!.data.retryAfterSeconds!;
    await sleep(retry * 1000 + 100);
    const again = await call(fast, 'orders.place', order(), { ip, token: heavy.token });
    expect(again.status).toBe(200);
    expect(again.headers['ratelimit-remaining']).toBe('9');
    expect((await call(plain, 'orders.place', order(), { ip, token: heavy.token })).status).toBe(200);
  });

  it('a 429 is counted in bazaar_rate_limited_total{procedure, scope}', async () => {
    const text = await (await fetch(`${fast.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/bazaar_rate_limited_total\{procedure="orders.place",scope="user",service="api"\} [1-9]/);
  });

  it('password guessing from one address: after the per-IP limit, even the right password is refused until the window ends', async () => {
    const victim = await newAccount(setup, 'CUSTOMER');
    const ip = newIp();
    // 20 guesses at 20 addresses (so the per-email limit does not come first): 5 are looked at, the rest refused.
    const guesses = [];
    for (let i = 0; i < 20; i++) {
      guesses.push(await call(i % 2 ? plain : fast, 'auth.login', { email: uniqueEmail('nobody'), password: `guess-${i}-xxxxxxx` }, { ip }));
    }
    expect(guesses.slice(0, 5).map((a) => a.status)).toEqual(Array(5).fill(401));
    for (const a of guesses.slice(5)) expect(a.status).toBe(429);
    const right = await call(fast, 'auth.login', { email: victim.user.email, password: PASSWORD }, { ip });
    expectLimited(right, 5);
    await sleep(right.json.error!.data.retryAfterSeconds! * 1000 + 100);
    const later = await call(plain, 'auth.login', { email: victim.user.email, password: PASSWORD }, { ip });
    expect(later.status).toBe(200);
    expect(typeof (later.json.result?.data as { token?: unknown } | undefined)?.token).toBe('string');
  });

  it('guesses at one account from many addresses: after the per-email limit, even the right password from a fresh address is refused', async () => {
    const victim = await newAccount(setup, 'CUSTOMER');
    const guesses = [];
    for (let i = 0; i < 6; i++)
      guesses.push(await call(i % 2 ? plain : fast, 'auth.login', { email: victim.user.email, password: `guess-${i}-xxxxxxx` }, { ip: newIp() }));
    expect(guesses.map((a) => a.status)).toEqual([401, 401, 401, 429, 429, 429]);
    // The address is named as typed in any case: the same account.
    const right = await call(fast, 'auth.login', { email: victim.user.email.toUpperCase(), password: PASSWORD }, { ip: newIp() });
    expectLimited(right, 3);
    // Another account is not touched.
    const bystander = await newAccount(setup, 'CUSTOMER');
    expect((await call(plain, 'auth.login', { email: bystander.user.email, password: PASSWORD }, { ip: newIp() })).status).toBe(200);
    await sleep(right.json.error!.data.retryAfterSeconds! * 1000 + 100);
    expect((await call(plain, 'auth.login', { email: victim.user.email, password: PASSWORD }, { ip: newIp() })).status).toBe(200);
  });

  it('bad input never counts against another user or account', async () => {
    const [sender, bystander] = await Promise.all([customer(), customer()]);
    const ip = newIp();
    // A flood of invalid orders counts against the sender (its own user key), never the bystander's.
    const bad = await Promise.all(
      Array.from({ length: 30 }, () => call(fast, 'orders.place', { items: [{ productId, quantity: 0 }] }, { ip, token: sender.token })),
    );
    expect(bad.filter((a) => a.status === 400).length + bad.filter((a) => a.status === 429).length).toBe(30);
    expect(bad.every((a) => a.json.error?.data.code !== 'INTERNAL_SERVER_ERROR')).toBe(true);
    const theirs = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i % 2 ? fast : plain, 'orders.place', order(), { ip, token: bystander.token })));
    expect(theirs.map((a) => a.status)).toEqual(Array(10).fill(200));
    // Logins whose input the schema refuses never reach the account's counter (each from an address of its own).
    const account = await newAccount(setup, 'CUSTOMER');
    for (let i = 0; i < 6; i++) {
      const a = await call(plain, 'auth.login', { email: account.user.email, password: 12345 }, { ip: newIp() });
      expect(a.status).toBe(400);
    }
    expect((await call(fast, 'auth.login', { email: account.user.email, password: PASSWORD }, { ip: newIp() })).status).toBe(200);
  });

  it('a read fast path (products.get) counts too, and a refused read answers the same 429 as through tRPC', async () => {
    const ip = newIp();
    const reads = [];
    for (let i = 0; i < 6; i++) reads.push(await call(i % 2 ? plain : fast, 'products.get', { productId }, { ip, query: true }));
    expect(reads.map((a) => a.status)).toEqual([200, 200, 200, 200, 429, 429]);
    // The fast path's answer (reads[0], through `fast`) carries the headers as the adapter's (reads[1]) does.
    expect(reads[0]!.headers['ratelimit-remaining']).toBe('3');
    expect(reads[1]!.headers['ratelimit-remaining']).toBe('2');
    expect(reads[2]!.headers['ratelimit-limit']).toBe('4');
    const [viaFast, viaPlain] = [reads[4]!, reads[5]!];
    expectLimited(viaFast, 4);
    expectLimited(viaPlain, 4);
    expect(viaFast.headers['content-type']).toBe(viaPlain.headers['content-type']);
    expect({ ...viaFast.json, error: { ...viaFast.json.error, data: { ...viaFast.json.error?.data, retryAfterSeconds: 0 } } }).toEqual({
      ...viaPlain.json,
      error: { ...viaPlain.json.error, data: { ...viaPlain.json.error?.data, retryAfterSeconds: 0 } },
    });
    expect(viaFast.json.error?.data.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('waitingRoom.status (its fast path and tRPC) is limited per user: the 4th poll in the window is a 429, another customer polls on', async () => {
    const { seller, product } = await newProduct(setup, { stock: 10, price: 100 });
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({
      productIds: [product.id],
      opensAt: new Date(Date.now() + 60_000).toISOString(),
      admitPerSecond: 1,
    });
    const [one, other] = [await customer(), await customer()];
    await one.client.waitingRoom.enter.mutate({ eventId });
    const ip = newIp();
    const polls = [];
    for (let i = 0; i < 5; i++) polls.push(await call(i % 2 ? plain : fast, 'waitingRoom.status', { eventId }, { ip, token: one.token, query: true }));
    expect(polls.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(polls.slice(0, 3).map((a) => a.headers['ratelimit-remaining'])).toEqual(['2', '1', '0']);
    expect(polls[0]!.json.result?.data).toMatchObject({ state: 'WAITING', position: 1 });
    expectLimited(polls[3]!, 3); // through the fast path, refused by tRPC's middleware
    expectLimited(polls[4]!, 3);
    expect((await call(fast, 'waitingRoom.status', { eventId }, { ip, token: other.token, query: true })).status).toBe(200);
  });

  it('procedures without a limit carry no rate-limit headers', async () => {
    const ip = newIp();
    const a = await call(fast, 'products.list', {}, { ip, query: true });
    expect(a.status).toBe(200);
    expect(a.headers['ratelimit-limit']).toBeUndefined();
  });
});
