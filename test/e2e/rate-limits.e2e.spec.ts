import { DELIVERY, PASSWORD, newAccount, newProduct, startTestApi, uniqueEmail, type TestApi } from '../support/api-harness';
import { newLoopbackIp, trpcFrom } from '../support/http-from';
import { isolatedEnv } from '../support/isolated-env';
import { startProcess, type RunningProcess } from '../support/processes';

/**
 * Rate limits across two real api processes (the compiled entry, as production runs it) counting in one Redis:
 * a burst from one user through both is cut at the limit, another user is not, and password guessing from one
 * address stops at the login limit. An in-process api with limits off (the test default) makes the accounts.
 */
describe('rate limits across two api processes', () => {
  jest.setTimeout(120_000);
  const LIMITS = '*=ip:off;auth.signup=ip:off;orders.place=user:10/5,ip:off;auth.login=ip:5/5,email:off';
  let setup: TestApi;
  const apis: RunningProcess[] = [];
  const url = (i: number) => `http://127.0.0.1:${apis[i % 2]!.port}`;

  beforeAll(async () => {
    const env = await isolatedEnv('ratelimits');
    setup = await startTestApi({ ...env });
    apis.push(...(await Promise.all([startProcess('api', { ...env, RATE_LIMITS: LIMITS }), startProcess('api', { ...env, RATE_LIMITS: LIMITS })])));
  });
  afterAll(async () => {
    await Promise.all(apis.map((p) => p.stop()));
    await setup?.close();
  });

  it('200 concurrent orders from one user, half through each process: exactly 10 pass, the rest are 429 with retryAfterSeconds; another user is unaffected', async () => {
    const { product } = await newProduct(setup, { stock: 10_000, price: 100 });
    const [heavy, other] = await Promise.all([newAccount(setup, 'CUSTOMER'), newAccount(setup, 'CUSTOMER')]);
    for (const c of [heavy, other]) await c.client.wallet.charge.mutate({ amount: 100_000, idempotencyKey: `rl-e2e-${c.user.id}` });
    let n = 0;
    const order = () => ({ idempotencyKey: `rl-e2e-${n++}`, items: [{ productId: product.id, quantity: 1 }], paymentMethod: 'BALANCE', fulfillment: DELIVERY });
    const ip = newLoopbackIp();
    const [mine, theirs] = await Promise.all([
      Promise.all(Array.from({ length: 200 }, (_, i) => trpcFrom(url(i), 'orders.place', order(), { ip, token: heavy.token }))),
      Promise.all(Array.from({ length: 8 }, (_, i) => trpcFrom(url(i), 'orders.place', order(), { ip, token: other.token }))),
    ]);
    expect(mine.filter((a) => a.status === 200)).toHaveLength(10);
    const limited = mine.filter((a) => a.status === 429);
    expect(limited).toHaveLength(190);
    for (const a of limited) {
      expect(a.json.error?.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterSeconds: expect.any(Number) as number });
      expect(a.json.error!.data.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(a.headers['retry-after']).toBe(String(a.json.error!.data.retryAfterSeconds));
      expect([a.headers['ratelimit-limit'], a.headers['ratelimit-remaining']]).toEqual(['10', '0']);
    }
    expect(theirs.map((a) => a.status)).toEqual(Array(8).fill(200));
  });

  it('password guessing from one address through both processes: after 5 guesses even the right password is 429 until the window ends', async () => {
    const victim = await newAccount(setup, 'CUSTOMER');
    const ip = newLoopbackIp();
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const email = i % 3 ? uniqueEmail('nobody') : victim.user.email;
      statuses.push((await trpcFrom(url(i), 'auth.login', { email, password: `wrong-guess-${i}` }, { ip })).status);
    }
    expect(statuses).toEqual([...Array.from({ length: 5 }, () => 401), ...Array.from({ length: 15 }, () => 429)]);
    const right = await trpcFrom(url(0), 'auth.login', { email: victim.user.email, password: PASSWORD }, { ip });
    expect(right.status).toBe(429);
    await new Promise((r) => setTimeout(r, right.json.error!.data.retryAfterSeconds! * 1000 + 100));
    expect((await trpcFrom(url(1), 'auth.login', { email: victim.user.email, password: PASSWORD }, { ip })).status).toBe(200);
  });
});
