import { DELIVERY, newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';

interface Wire {
  status: number;
  contentType: string | null;
  vary: string | null;
  /** RateLimit-Limit / -Remaining and whether Retry-After and RateLimit-Reset came (their seconds may differ by one between two calls). */
  rateLimit: [string | null, string | null, boolean, boolean];
  body: string;
}

const ULID = /"[0-9A-HJKMNP-TV-Z]{26}"/g;
/** Everything but the limits that always let every call through, for the byte-for-byte cases below. */
const OTHER_LIMITS_OFF = '*=ip:off;auth.signup=ip:off;auth.login=ip:off,email:off';

/** An answer as compared: the order id aside (a fresh ULID each time), and seconds to wait, which may differ by one. */
function wire(res: Response, text: string): Wire {
  const h = (name: string) => res.headers.get(name);
  return {
    status: res.status,
    contentType: h('content-type'),
    vary: h('vary'),
    rateLimit: [h('ratelimit-limit'), h('ratelimit-remaining'), h('retry-after') !== null, h('ratelimit-reset') !== null],
    body: text.replace(ULID, '"<ulid>"').replace(/"retryAfterSeconds":\d+/, '"retryAfterSeconds":"<s>"'),
  };
}

/**
 * orders.place's fast path against the tRPC adapter, byte for byte: two apis on the same database and Redis,
 * one with API_FAST_PATHS on (the route in src/http/order-place.fast-path.ts), one with it off (the adapter
 * alone). The same call, with each api's own customer, must come back with the same status, headers and body
 * — valid input, every kind of bad input, every refusal — the order id aside (a fresh ULID each time), and the
 * framing aside (a Content-Length where the adapter streams chunked).
 */
describe.each<[string, Record<string, string>]>([
  ['rate limits off', {}],
  // The same cases with limits on, generous enough that none is refused (one describe below hits them).
  ['rate limits on', { RATE_LIMITS: `${OTHER_LIMITS_OFF};orders.place=user:1000/600,ip:off` }],
])('orders.place fast path: the same bytes as the tRPC adapter (%s)', (_name, limitEnv) => {
  let fast: TestApi;
  let plain: TestApi;
  const f = {} as {
    tokens: { fast: string; plain: string };
    sellerTokens: { fast: string; plain: string };
    productId: number;
    soldOutId: number;
    hugeStockId: number;
  };

  beforeAll(async () => {
    [fast, plain] = await Promise.all([startTestApi({ API_FAST_PATHS: 'true', ...limitEnv }), startTestApi({ API_FAST_PATHS: 'false', ...limitEnv })]);
    const [a, b] = await Promise.all([newAccount(fast, 'CUSTOMER'), newAccount(plain, 'CUSTOMER')]);
    for (const c of [a, b]) await c.client.wallet.charge.mutate({ amount: 100_000, idempotencyKey: 'fast-path-topup' });
    const [sa, sb] = await Promise.all([newAccount(fast, 'SELLER'), newAccount(plain, 'SELLER')]);
    const p = await newProduct(fast, { stock: 1_000, price: 1_200 });
    const gone = await newProduct(fast, { stock: 0, price: 900 });
    const few = await newProduct(fast, { stock: 2, price: 500 });
    Object.assign(f, {
      tokens: { fast: a.token, plain: b.token },
      sellerTokens: { fast: sa.token, plain: sb.token },
      productId: p.product.id,
      soldOutId: gone.product.id,
      hugeStockId: few.product.id,
    });
  });
  afterAll(async () => {
    await fast?.close();
    await plain?.close();
  });

  /** How each answer was framed, in order: the fast path sends a Content-Length, the adapter streams. */
  const framings: ('length' | 'chunked')[] = [];

  async function send(api: TestApi, body: string | undefined, opts: { token?: string | null; query?: string; contentType?: string } = {}): Promise<Wire> {
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`${api.url}/trpc/orders.place${opts.query ?? ''}`, { method: 'POST', headers, body });
    const text = await res.text();
    // Framing aside: the adapter streams its answer (chunked), the fast path sends a Content-Length. Either way
    // the bytes of the body are the same, and a Content-Length, when sent, is theirs.
    const length = res.headers.get('content-length');
    if (length !== null) expect(Number(length)).toBe(Buffer.byteLength(text));
    framings.push(length === null ? 'chunked' : 'length');
    return wire(res, text);
  }

  /** The same call through both apis, each as its own customer (or seller, or nobody): the same answer. */
  async function same(make: () => unknown, opts: { as?: 'customer' | 'seller' | 'nobody'; raw?: string; query?: string; contentType?: string } = {}) {
    const as = opts.as ?? 'customer';
    const token = (which: 'fast' | 'plain') => (as === 'nobody' ? null : as === 'seller' ? f.sellerTokens[which] : f.tokens[which]);
    const body = () => (opts.raw !== undefined ? opts.raw : JSON.stringify(make()));
    const a = await send(fast, body(), { token: token('fast'), query: opts.query, contentType: opts.contentType });
    const b = await send(plain, body(), { token: token('plain'), query: opts.query, contentType: opts.contentType });
    expect(a).toEqual(b);
    return a;
  }

  let n = 0;
  const order = (over: Record<string, unknown> = {}) => ({
    idempotencyKey: `fast-path-${Date.now()}-${n++}`,
    items: [{ productId: f.productId, quantity: 1 }],
    paymentMethod: 'BALANCE',
    fulfillment: DELIVERY,
    ...over,
  });

  it('accepts a valid order, and its retry, with the same answer (the fast path answered it, not the adapter)', async () => {
    const input = order();
    framings.length = 0;
    const first = await same(() => input);
    expect(framings).toEqual(['length', 'chunked']);
    expect(first).toMatchObject({ status: 200, contentType: 'application/json' });
    expect(JSON.parse(first.body)).toEqual({ result: { data: { orderId: '<ulid>', status: 'PENDING' } } });
    // The retry (same key, same input) answers the same order (it is a call, so it counts: one point less remains).
    expect({ ...(await same(() => input)), rateLimit: first.rateLimit }).toEqual(first);
  });

  it.each<[string, () => unknown]>([
    ['no items and no cart', () => order({ items: undefined })],
    ['an unknown field', () => order({ isAdmin: true })],
    ['quantity a string', () => order({ items: [{ productId: 1, quantity: '1' }] })],
    ['quantity zero', () => order({ items: [{ productId: 1, quantity: 0 }] })],
    [
      'the same product twice',
      () =>
        order({
          items: [
            { productId: 5, quantity: 1 },
            { productId: 5, quantity: 2 },
          ],
        }),
    ],
    ['a huge idempotency key', () => order({ idempotencyKey: 'k'.repeat(5000) })],
    ['payment method unknown', () => order({ paymentMethod: 'GOLD' })],
    ['a CARD order without paymentKey', () => order({ paymentMethod: 'CARD' })],
    ['pickup without a time', () => order({ fulfillment: { type: 'PICKUP' } })],
    ['points negative', () => order({ points: -1 })],
    ['prototype keys', () => JSON.parse(`{"__proto__": {"admin": true}, "constructor": 1}`) as unknown],
  ])('bad input (%s): the same BAD_REQUEST', async (_name, make) => {
    const a = await same(make);
    expect(a.status).toBe(400);
  });

  it.each<[string, string | undefined, string | undefined]>([
    ['malformed JSON', '{"idempotencyKey": ', undefined],
    ['a JSON array', '[1, 2]', undefined],
    ['a JSON string', '"hello"', undefined],
    ['null', 'null', undefined],
    ['an empty body', '', undefined],
    ['no body', undefined, undefined],
    ['text/plain', '{}', 'text/plain'],
    ['application/json with a charset', '{}', 'application/json; charset=utf-8'],
    ['a vendor JSON type', '{}', 'application/vnd.api+json'],
  ])('a body the fast path leaves to the adapter (%s): the same answer', async (_name, raw, contentType) => {
    const a = await same(() => undefined, { raw: raw as string, contentType });
    expect(a.status).toBeGreaterThanOrEqual(400);
  });

  it('a batch (?batch=1) is the adapter’s: the same answer', async () => {
    const a = await same(() => ({ 0: order() }), { query: '?batch=1' });
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual([{ result: { data: { orderId: '<ulid>', status: 'PENDING' } } }]);
  });

  it('no token, a bad token, a seller: the same UNAUTHORIZED and FORBIDDEN', async () => {
    expect((await same(() => order(), { as: 'nobody' })).status).toBe(401);
    expect((await same(() => order(), { as: 'seller' })).status).toBe(403);
    const a = await send(fast, JSON.stringify(order()), { token: 'not-a-token' });
    const b = await send(plain, JSON.stringify(order()), { token: 'not-a-token' });
    expect(a).toEqual(b);
    expect(a.status).toBe(401);
  });

  it('refusals: sold out, more than is left, an unknown product, a key reused with other lines — the same codes and reasons', async () => {
    framings.length = 0;
    const soldOut = await same(() => order({ items: [{ productId: f.soldOutId, quantity: 1 }] }));
    expect(soldOut.status).toBe(412);
    // A refusal is the fast path's to answer too (the flash sale's hot path).
    expect(framings).toEqual(['length', 'chunked']);
    expect(JSON.parse(soldOut.body)).toMatchObject({ error: { data: { reason: 'OUT_OF_STOCK' } } });
    expect((await same(() => order({ items: [{ productId: f.hugeStockId, quantity: 3 }] }))).status).toBe(412);
    expect((await same(() => order({ items: [{ productId: 987_654_321, quantity: 1 }] }))).status).toBeGreaterThanOrEqual(400);
    const input = order();
    await same(() => input);
    const conflict = await same(() => ({ ...input, items: [{ productId: f.productId, quantity: 2 }] }));
    expect(conflict.status).toBe(409);
  });
});

describe('orders.place fast path: a 429 is the same through both', () => {
  let fast: TestApi;
  let plain: TestApi;
  const env = { RATE_LIMITS: `${OTHER_LIMITS_OFF};orders.place=user:2/600,ip:off` };

  beforeAll(async () => {
    [fast, plain] = await Promise.all([startTestApi({ API_FAST_PATHS: 'true', ...env }), startTestApi({ API_FAST_PATHS: 'false', ...env })]);
  });
  afterAll(async () => {
    await fast?.close();
    await plain?.close();
  });

  it('the limit’s headers on each answer, then the same TOO_MANY_REQUESTS with Retry-After and data.retryAfterSeconds', async () => {
    const [a, b] = await Promise.all([newAccount(fast, 'CUSTOMER'), newAccount(plain, 'CUSTOMER')]);
    const { product } = await newProduct(fast, { stock: 100, price: 100 });
    for (const c of [a, b]) await c.client.wallet.charge.mutate({ amount: 10_000, idempotencyKey: 'fast-path-429-topup' });
    let n = 0;
    const send = async (api: TestApi, token: string, key: string) => {
      const body = JSON.stringify({ idempotencyKey: key, items: [{ productId: product.id, quantity: 1 }], paymentMethod: 'BALANCE', fulfillment: DELIVERY });
      const res = await fetch(`${api.url}/trpc/orders.place`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      return { res, wire: wire(res, await res.text()) };
    };
    const answers: Wire[] = [];
    for (let i = 0; i < 4; i++) {
      const key = `fast-path-429-${Date.now()}-${n++}`;
      const x = await send(fast, a.token, key);
      const y = await send(plain, b.token, key);
      expect(x.wire).toEqual(y.wire);
      answers.push(x.wire);
      if (x.wire.status === 429) {
        for (const r of [x.res, y.res]) expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(599);
      }
    }
    expect(answers.map((w) => [w.status, ...w.rateLimit])).toEqual([
      [200, '2', '1', false, true],
      [200, '2', '0', false, true],
      [429, '2', '0', true, true],
      [429, '2', '0', true, true],
    ]);
    expect(JSON.parse(answers[2]!.body)).toMatchObject({ error: { data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, path: 'orders.place' } } });
  });
});
