import { DELIVERY, newAccount, newProduct, startTestApi, type TestApi } from '../support/api-harness';

/**
 * What the procedure fuzzer (procedures.fuzz.spec.ts) found, pinned as plain cases so that none comes back between
 * two lucky seeds.
 */
describe('found by fuzzing', () => {
  let api: TestApi;
  let token: string;
  let productId: number;

  beforeAll(async () => {
    api = await startTestApi();
    ({ token } = await newAccount(api, 'CUSTOMER'));
    ({
      product: { id: productId },
    } = await newProduct(api, { stock: 10, price: 1_000 }));
  });
  afterAll(async () => {
    await api?.close();
  });

  const post = async (path: string, body: string, contentType = 'application/json') => {
    const res = await fetch(`${api.url}/trpc/${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
    return { status: res.status, json: await res.json() };
  };

  it.each(['é', '😀', '\u202eabc', '\ud800'])(
    'subscriptions.create with a billingKey of %j is no card of the caller’s (BAD_REQUEST), not a 500',
    async (billingKey) => {
      const input = {
        items: [{ productId, quantity: 1 }],
        paymentMethod: 'CARD',
        billingKey,
        fulfillment: DELIVERY,
        every: { count: 1, unit: 'WEEK' },
        startAt: new Date(Date.now() + 86_400_000).toISOString(),
      };
      // Before: MariaDB's "Illegal mix of collations (ascii_bin) and (utf8mb4_unicode_ci)" as INTERNAL_SERVER_ERROR.
      expect(await post('subscriptions.create', JSON.stringify(input))).toMatchObject({
        status: 400,
        json: { error: { data: { code: 'BAD_REQUEST', issues: [{ path: 'billingKey' }] } } },
      });
    },
  );

  it.each(['\ud800', 'a\udc00b'])(
    'a fulfillment address holding a lone surrogate (%j) is refused naming the field, by subscriptions.create and orders.place',
    async (line1) => {
      const fulfillment = { type: 'DELIVERY', address: { ...DELIVERY.address, line1 } };
      const subscription = {
        items: [{ productId, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment,
        every: { count: 1, unit: 'WEEK' },
        startAt: new Date(Date.now() + 86_400_000).toISOString(),
      };
      const order = { idempotencyKey: `lone-surrogate-${line1.length}`, items: [{ productId, quantity: 1 }], paymentMethod: 'BALANCE', fulfillment };
      // Before: subscriptions.create failed MariaDB's json_valid CHECK on the fulfillment column (INTERNAL_SERVER_ERROR); orders.place
      // accepted an order the worker could not write.
      for (const [path, input] of [
        ['subscriptions.create', subscription],
        ['orders.place', order],
      ] as const) {
        expect(await post(path, JSON.stringify(input))).toMatchObject({
          status: 400,
          json: {
            error: { data: { code: 'BAD_REQUEST', issues: [{ path: 'fulfillment.address.line1', message: 'not valid unicode text (a lone surrogate)' }] } },
          },
        });
      }
    },
  );

  it.each(['application/octet-stream', 'application/x-www-form-urlencoded'])(
    'a body of %s is refused in tRPC’s error shape, without Fastify’s FST_ERR code',
    async (type) => {
      const a = await post('wallet.charge', '{}', type);
      expect(a).toEqual({
        status: 415,
        json: {
          error: {
            code: -32015,
            message: `Unsupported content-type "${type}"`,
            data: { code: 'UNSUPPORTED_MEDIA_TYPE', httpStatus: 415, path: 'wallet.charge' },
          },
        },
      });
    },
  );

  it('a body over the limit is PAYLOAD_TOO_LARGE, one error per call of a batch', async () => {
    const a = await post('wallet.charge,cart.add?batch=1', `"${'x'.repeat(1_100_000)}"`);
    expect(a.status).toBe(413);
    expect(a.json).toMatchObject([
      { error: { data: { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413, path: 'wallet.charge' } } },
      { error: { data: { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413, path: 'cart.add' } } },
    ]);
    expect(JSON.stringify(a.json)).not.toMatch(/FST_/);
  });

  it.each([
    ['a batch whose input is not an object', 'cart.add?batch=1', '[1]', 'application/json'],
    ['a form body that does not parse', 'cart.add', '{"a":1}', 'multipart/form-data; boundary=x'],
  ])('%s: BAD_REQUEST lists its problem at (root) in data.issues', async (_what, path, body, type) => {
    const a = await post(path, body, type);
    const error = (Array.isArray(a.json) ? a.json[0] : a.json) as { error: { data: { code: string; issues: { path: string; message: string }[] } } };
    expect(a.status).toBe(400);
    expect(error.error.data).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: '(root)', message: expect.any(String) as string }] });
  });
});
