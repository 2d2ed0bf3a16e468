import { nestsDeeperThan } from '../src/http/json-depth';
import { PAGE_SECURITY_HEADERS, SECURITY_HEADERS } from '../src/http/security-headers';
import { DELIVERY, newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';

/** Every kind of answer of the public port carries the security headers: Fastify's, tRPC's, each fast path's, errors, streams. */
describe('security headers', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ API_FAST_PATHS: 'true' });
  });
  afterAll(async () => {
    await api?.close();
  });

  const q = (input: unknown) => `?input=${encodeURIComponent(JSON.stringify(input))}`;

  it('on health, tRPC answers and errors, the fast paths (their answers and errors), a 404, and an SSE stream', async () => {
    const { seller, product } = await newProduct(api, { stock: 5, price: 1_000 });
    const buyer = await newAccount(api, 'CUSTOMER');
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({
      productIds: [product.id],
      opensAt: new Date(Date.now() + 60_000).toISOString(),
      admitPerSecond: 5,
    });
    await buyer.client.waitingRoom.enter.mutate({ eventId });
    const auth = { authorization: `Bearer ${buyer.token}` };
    const order = (body: unknown) => ({ method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const cases: [string, string, RequestInit?][] = [
      ['health', '/healthz'],
      ['readiness', '/readyz'],
      ['products.get fast path', `/trpc/products.get${q({ productId: product.id })}`],
      ['products.get refused by tRPC', `/trpc/products.get${q({ productId: -1 })}`],
      ['products.list fast path (chunked)', `/trpc/products.list${q({})}`],
      ['auth.me through tRPC', '/trpc/auth.me', { headers: auth }],
      ['waitingRoom.status fast path', `/trpc/waitingRoom.status${q({ eventId })}`, { headers: auth }],
      [
        'orders.place fast path, accepted',
        '/trpc/orders.place',
        order({ idempotencyKey: 'security-headers-1', items: [{ productId: product.id, quantity: 99 }], paymentMethod: 'BALANCE', fulfillment: DELIVERY }),
      ],
      ['orders.place fast path, bad input', '/trpc/orders.place', order({ idempotencyKey: 'x' })],
      [
        'a batch through tRPC',
        `/trpc/products.get,products.get?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { productId: product.id }, 1: { productId: -1 } }))}`,
      ],
      ['no such route', '/nope'],
    ];
    for (const [name, path, init] of cases) {
      const res = await fetch(`${api.url}${path}`, init);
      await res.arrayBuffer();
      const got = Object.fromEntries(Object.keys(SECURITY_HEADERS).map((h) => [h, res.headers.get(h)]));
      expect({ name, status: res.status > 0, headers: got }).toEqual({ name, status: true, headers: SECURITY_HEADERS });
    }
    // An SSE subscription (orders.onStatus): its stream's head carries them too.
    const ac = new AbortController();
    const sse = await fetch(`${api.url}/trpc/orders.onStatus${q({ orderId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' })}`, {
      headers: { ...auth, accept: 'text/event-stream' },
      signal: ac.signal,
    });
    expect(Object.fromEntries(Object.keys(SECURITY_HEADERS).map((h) => [h, sse.headers.get(h)]))).toEqual(SECURITY_HEADERS);
    ac.abort();
  });

  it("Bull Board's pages: all but the CSP (they run their own scripts)", async () => {
    const res = await fetch(`${api.url}/admin/queues`, { redirect: 'manual' });
    await res.arrayBuffer();
    expect(res.status).toBe(303); // to the sign-in page
    expect(Object.fromEntries(Object.keys(PAGE_SECURITY_HEADERS).map((h) => [h, res.headers.get(h)]))).toEqual(PAGE_SECURITY_HEADERS);
    expect(res.headers.get('content-security-policy')).toBeNull();
  });
});

describe('JSON nesting limit', () => {
  let fast: TestApi;
  let plain: TestApi;
  beforeAll(async () => {
    [fast, plain] = await Promise.all([startTestApi({ API_FAST_PATHS: 'true' }), startTestApi({ API_FAST_PATHS: 'false' })]);
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), plain?.close()]);
  });

  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const post = (body: string) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('input nested deeper than 32 levels is a BAD_REQUEST naming the root, through the fast paths and tRPC alike, before anything parses it', async () => {
    const cases: [string, RequestInit?][] = [
      [`/trpc/products.get?input=${encodeURIComponent(`{"productId":${deep(40)}}`)}`],
      [`/trpc/products.list?input=${encodeURIComponent(deep(2_000))}`],
      [`/trpc/products.get,products.list?batch=1&input=${encodeURIComponent(`{"0":${deep(33)}}`)}`],
      ['/trpc/auth.login', post(`{"email":${deep(300_000)}}`)],
      ['/trpc/orders.place', post(deep(400_000))],
    ];
    for (const [path, init] of cases) {
      const [a, b] = await Promise.all(
        [fast, plain].map(async (api) => {
          const res = await fetch(`${api.url}${path}`, init);
          return {
            status: res.status,
            contentType: res.headers.get('content-type'),
            nosniff: res.headers.get('x-content-type-options'),
            body: await res.text(),
          };
        }),
      );
      expect(a).toEqual(b);
      expect(a!.status).toBe(400);
      const json = JSON.parse(a!.body) as
        { error?: { data: { code: string; issues: { path: string; message: string }[] } } } | { error: { data: { code: string } } }[];
      const errors = Array.isArray(json) ? json.map((e) => e.error) : [json.error!];
      for (const e of errors) expect(e.data).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: '(root)', message: 'nested more than 32 levels deep' }] });
    }
  });

  it('32 levels, strings holding brackets, and escaped quotes are fine (the usual answers)', async () => {
    expect(nestsDeeperThan(deep(32))).toBe(false);
    expect(nestsDeeperThan(deep(33))).toBe(true);
    expect(nestsDeeperThan(`{"a":"${'['.repeat(1000)}","b":"\\"${'{'.repeat(100)}"}`)).toBe(false);
    const res = await fetch(`${fast.url}/trpc/products.get?input=${encodeURIComponent('{"productId":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('"path":"productId"');
  });
});
