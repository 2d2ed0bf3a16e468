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
    const res = await fetch(`${api.url}/admin/queues`);
    await res.arrayBuffer();
    expect(res.status).toBe(401);
    expect(Object.fromEntries(Object.keys(PAGE_SECURITY_HEADERS).map((h) => [h, res.headers.get(h)]))).toEqual(PAGE_SECURITY_HEADERS);
    expect(res.headers.get('content-security-policy')).toBeNull();
  });
});
