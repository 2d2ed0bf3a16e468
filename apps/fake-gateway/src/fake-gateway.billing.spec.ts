import { randomUUID } from 'node:crypto';
import { startFakeGateway, type FakeGateway } from './fake-gateway';
import type { Billing, BillingFaultSwitch, Ledger, Payment } from './gateway-state';

/**
 * The billing (automatic payment) side of the fake over real HTTP: issuing a billing key from a test
 * authKey, charging it (idempotent on orderId and on the Idempotency-Key, refusing another customerKey),
 * deleting it, the billing fault switches (POST /__test/billing-faults), and that a billing payment is
 * looked up and cancelled like any other.
 */

const SECRET = 'test_sk_fake_gateway_billing_spec';
const AUTH = `Basic ${Buffer.from(`${SECRET}:`).toString('base64')}`;

let gw: FakeGateway;

beforeAll(async () => {
  gw = await startFakeGateway({ port: 0, secretKey: SECRET });
});
afterAll(async () => {
  await gw.close();
});

interface Res<T = unknown> {
  status: number;
  body: T;
}
type Answer = Payment & { code?: string; message?: string };

async function call<T = unknown>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: AUTH },
): Promise<Res<T>> {
  const res = await fetch(gw.url + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

const newOrderId = () => `order_${randomUUID().replaceAll('-', '')}`;
const newCustomerKey = () => `ck_${randomUUID().replaceAll('-', '')}`;
const authKey = () => `test_auth_${randomUUID()}`;

async function issued(customerKey = newCustomerKey()): Promise<Billing> {
  const res = await call<Billing>('POST', '/v1/billing/authorizations/issue', { authKey: authKey(), customerKey });
  expect(res.status).toBe(200);
  return res.body;
}
function charge(b: Pick<Billing, 'billingKey' | 'customerKey'>, extra: Record<string, unknown> = {}, idempotencyKey?: string): Promise<Res<Answer>> {
  return call<Answer>(
    'POST',
    `/v1/billing/${b.billingKey}`,
    { customerKey: b.customerKey, amount: 9_900, orderId: newOrderId(), orderName: '정기배송 1회차', ...extra },
    idempotencyKey === undefined ? { authorization: AUTH } : { authorization: AUTH, 'idempotency-key': idempotencyKey },
  );
}
const setFault = (body: Record<string, unknown>) => call<{ billingKey: string; fault: BillingFaultSwitch | null }>('POST', '/__test/billing-faults', body, {});
const ledger = async () => (await call<Ledger>('GET', '/__test/ledger', undefined, {})).body;
const chargesOf = async (billingKey: string) => (await ledger()).charges.filter((c) => c.billingKey === billingKey);
const attemptsOf = async (billingKey: string) =>
  (await ledger()).billingAttempts.filter((a) => a.billingKey === billingKey).map((a) => ({ status: a.status, code: a.code, replayed: a.replayed }));

describe('POST /v1/billing/authorizations/issue', () => {
  it('a test authKey → the Billing object, bound to the customerKey', async () => {
    const customerKey = newCustomerKey();
    const key = authKey();
    const res = await call<Billing>('POST', '/v1/billing/authorizations/issue', { authKey: key, customerKey });
    expect(res).toEqual({
      status: 200,
      body: {
        mId: expect.any(String) as string,
        customerKey,
        authenticatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$/) as string,
        method: '카드',
        billingKey: expect.stringMatching(/^bk_/) as string,
        card: {
          issuerCode: expect.any(String) as string,
          acquirerCode: expect.any(String) as string,
          number: expect.stringMatching(/^433012\*{6}\d{3}\*$/) as string,
          cardType: '신용',
          ownerType: '개인',
        },
      },
    });
    expect((await ledger()).billingKeys).toContainEqual({
      billingKey: res.body.billingKey,
      customerKey,
      authKey: key,
      issuedAt: expect.any(String) as string,
      deletedAt: null,
    });
  });

  it('the same authKey and customerKey again → the same billing key (a retry issues nothing new)', async () => {
    const body = { authKey: authKey(), customerKey: newCustomerKey() };
    const first = await call<Billing>('POST', '/v1/billing/authorizations/issue', body);
    expect(await call('POST', '/v1/billing/authorizations/issue', body)).toEqual(first);
    expect((await ledger()).billingKeys.filter((b) => b.authKey === body.authKey)).toHaveLength(1);
  });

  it('an authKey not of the test shape, or used for another customerKey → 400 INVALID_BILL_KEY_REQUEST', async () => {
    const refused = { status: 400, body: { code: 'INVALID_BILL_KEY_REQUEST', message: expect.any(String) as string } };
    for (const bad of ['auth_live_123', 'test_auth_', 'test_auth_has space', `test_auth_${'x'.repeat(101)}`]) {
      expect(await call('POST', '/v1/billing/authorizations/issue', { authKey: bad, customerKey: newCustomerKey() })).toEqual(refused);
    }
    const key = authKey();
    expect((await call('POST', '/v1/billing/authorizations/issue', { authKey: key, customerKey: newCustomerKey() })).status).toBe(200);
    expect(await call('POST', '/v1/billing/authorizations/issue', { authKey: key, customerKey: newCustomerKey() })).toEqual(refused);
  });

  it('a malformed body → 400 INVALID_REQUEST; without the secret key → 401', async () => {
    for (const body of [{}, { authKey: authKey() }, { authKey: authKey(), customerKey: 'x' }, { authKey: authKey(), customerKey: 'has space' }]) {
      expect((await call<{ code: string }>('POST', '/v1/billing/authorizations/issue', body)).body.code).toBe('INVALID_REQUEST');
    }
    expect((await call('POST', '/v1/billing/authorizations/issue', { authKey: authKey(), customerKey: newCustomerKey() }, {})).status).toBe(401);
  });
});

describe('POST /v1/billing/:billingKey', () => {
  it('charges: a Payment of type BILLING, DONE, looked up by orderId and cancelled like any other', async () => {
    const b = await issued();
    const orderId = newOrderId();
    const res = await charge(b, { orderId, amount: 12_300 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      orderId,
      orderName: '정기배송 1회차',
      type: 'BILLING',
      status: 'DONE',
      method: '카드',
      totalAmount: 12_300,
      balanceAmount: 12_300,
    });
    expect((await ledger()).charges.filter((c) => c.orderId === orderId)).toEqual([
      { paymentKey: res.body.paymentKey, orderId, amount: 12_300, at: expect.any(String) as string, billingKey: b.billingKey },
    ]);
    expect(await call('GET', `/v1/payments/orders/${orderId}`)).toEqual({ status: 200, body: res.body });

    const cancelled = await call<Payment>(
      'POST',
      `/v1/payments/${res.body.paymentKey}/cancel`,
      { cancelReason: 'refund' },
      { authorization: AUTH, 'idempotency-key': randomUUID() },
    );
    expect(cancelled.body).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
  });

  it('one key charges many orders, each once', async () => {
    const b = await issued();
    const answers = await Promise.all(Array.from({ length: 20 }, () => charge(b)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.body.paymentKey)).size).toBe(20);
    expect(await chargesOf(b.billingKey)).toHaveLength(20);
  });

  it('the same orderId again: with the same Idempotency-Key the same Payment, without one 400 DUPLICATED_ORDER_ID — one charge either way', async () => {
    const b = await issued();
    const orderId = newOrderId();
    const key = `billing-${orderId}`;
    const first = await charge(b, { orderId }, key);
    expect(first.status).toBe(200);
    const replays = await Promise.all(Array.from({ length: 10 }, () => charge(b, { orderId }, key)));
    for (const r of replays) expect(r).toEqual(first);
    expect((await charge(b, { orderId })).body.code).toBe('DUPLICATED_ORDER_ID');
    expect((await charge(b, { orderId }, 'another-key')).body.code).toBe('DUPLICATED_ORDER_ID');
    expect((await ledger()).charges.filter((c) => c.orderId === orderId)).toHaveLength(1);
  });

  it('50 concurrent charges of one orderId with distinct keys → one charge, 49 DUPLICATED_ORDER_ID', async () => {
    const b = await issued();
    const orderId = newOrderId();
    const answers = await Promise.all(Array.from({ length: 50 }, () => charge(b, { orderId }, randomUUID())));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.body.code === 'DUPLICATED_ORDER_ID')).toHaveLength(49);
    expect((await ledger()).charges.filter((c) => c.orderId === orderId)).toHaveLength(1);
  });

  it('refuses another customerKey, an unknown key and a malformed body, charging nothing', async () => {
    const b = await issued();
    const other = await issued();
    expect(await charge({ billingKey: b.billingKey, customerKey: other.customerKey })).toEqual({
      status: 400,
      body: { code: 'NOT_MATCHES_CUSTOMER_KEY', message: expect.any(String) as string },
    });
    expect((await charge({ billingKey: 'bk_unknown', customerKey: b.customerKey })).body.code).toBe('INVALID_BILL_KEY_REQUEST');
    for (const extra of [{ amount: 0 }, { amount: 1.5 }, { orderId: 'short' }, { orderName: '' }, { orderName: 'x'.repeat(101) }, { customerKey: undefined }]) {
      const res = await charge(b, extra);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INVALID_REQUEST');
    }
    expect(await chargesOf(b.billingKey)).toHaveLength(0);
  });

  it('a refusal is a final answer: replayed for its Idempotency-Key', async () => {
    const b = await issued();
    const other = await issued();
    const key = randomUUID();
    const orderId = newOrderId();
    const refused = await charge({ billingKey: b.billingKey, customerKey: other.customerKey }, { orderId }, key);
    expect(refused.body.code).toBe('NOT_MATCHES_CUSTOMER_KEY');
    expect(await charge(b, { orderId }, key)).toEqual(refused);
    expect(await attemptsOf(b.billingKey)).toEqual([
      { status: 400, code: 'NOT_MATCHES_CUSTOMER_KEY', replayed: false },
      { status: 400, code: 'NOT_MATCHES_CUSTOMER_KEY', replayed: true },
    ]);
  });
});

describe('DELETE /v1/billing/:billingKey', () => {
  it('deletes: 200 without a body, then the key charges nothing (ALREADY_REMOVED_BILLING_KEY); its payments stay', async () => {
    const b = await issued();
    const paid = await charge(b);
    expect(await call('DELETE', `/v1/billing/${b.billingKey}`)).toEqual({ status: 200, body: undefined });
    expect((await charge(b)).body).toEqual({ code: 'ALREADY_REMOVED_BILLING_KEY', message: expect.any(String) as string });
    expect((await call<{ code: string }>('DELETE', `/v1/billing/${b.billingKey}`)).body.code).toBe('ALREADY_REMOVED_BILLING_KEY');
    expect((await call<{ code: string }>('DELETE', '/v1/billing/bk_unknown')).body.code).toBe('INVALID_BILL_KEY_REQUEST');
    expect((await ledger()).billingKeys.find((k) => k.billingKey === b.billingKey)?.deletedAt).toEqual(expect.any(String));
    expect((await call('GET', `/v1/payments/${paid.body.paymentKey}`)).body).toMatchObject({ status: 'DONE' });
    expect((await call('DELETE', `/v1/billing/${b.billingKey}`, undefined, {})).status).toBe(401);
  });
});

describe('POST /__test/billing-faults', () => {
  it('decline times 2 → the next 2 charges 400 REJECT_CARD_PAYMENT, nothing charged; then charged', async () => {
    const b = await issued();
    expect(await setFault({ billingKey: b.billingKey, behavior: 'decline', times: 2 })).toEqual({
      status: 200,
      body: { billingKey: b.billingKey, fault: { billingKey: b.billingKey, behavior: 'decline', timesLeft: 2, delayMs: 1000 } },
    });
    const declined = { status: 400, body: { code: 'REJECT_CARD_PAYMENT', message: '카드 승인이 거절되었습니다' } };
    expect(await charge(b)).toEqual(declined);
    expect(await charge(b)).toEqual(declined);
    expect((await charge(b)).status).toBe(200);
    expect(await chargesOf(b.billingKey)).toHaveLength(1);
  });

  it('a decline is replayed for its key, and a replay does not use one up', async () => {
    const b = await issued();
    await setFault({ billingKey: b.billingKey, behavior: 'decline', times: 1 });
    const key = randomUUID();
    const orderId = newOrderId();
    const declined = await charge(b, { orderId }, key);
    expect(declined.body.code).toBe('REJECT_CARD_PAYMENT');
    expect(await charge(b, { orderId }, key)).toEqual(declined);
    // Used up by the first request: a new order is charged.
    expect((await charge(b)).status).toBe(200);
    // A paid order's replay does not use up a new switch either.
    const paidKey = randomUUID();
    const paid = await charge(b, {}, paidKey);
    await setFault({ billingKey: b.billingKey, behavior: 'decline' });
    expect(await charge(b, { orderId: paid.body.orderId }, paidKey)).toEqual(paid);
    expect((await charge(b)).body.code).toBe('REJECT_CARD_PAYMENT');
  });

  it('fail5xx → 500, nothing charged, never stored: the same key then goes through once', async () => {
    const b = await issued();
    await setFault({ billingKey: b.billingKey, behavior: 'fail5xx', times: 2 });
    const key = randomUUID();
    const orderId = newOrderId();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await charge(b, { orderId }, key)).status);
    expect(statuses).toEqual([500, 500, 200, 200]);
    expect(await chargesOf(b.billingKey)).toHaveLength(1);
    expect(await attemptsOf(b.billingKey)).toEqual([
      { status: 500, code: 'FAILED_INTERNAL_SYSTEM_PROCESSING', replayed: false },
      { status: 500, code: 'FAILED_INTERNAL_SYSTEM_PROCESSING', replayed: false },
      { status: 200, code: null, replayed: false },
      { status: 200, code: null, replayed: true },
    ]);
  });

  it('lost → charged, the connection dropped; a retry with the same key gets the Payment, still one charge', async () => {
    const b = await issued();
    await setFault({ billingKey: b.billingKey, behavior: 'lost' });
    const key = randomUUID();
    const orderId = newOrderId();
    await expect(charge(b, { orderId }, key)).rejects.toThrow();
    expect(await chargesOf(b.billingKey)).toHaveLength(1);
    const retry = await charge(b, { orderId }, key);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ orderId, status: 'DONE', type: 'BILLING' });
    expect((await call('GET', `/v1/payments/orders/${orderId}`)).body).toEqual(retry.body);
    expect(await chargesOf(b.billingKey)).toHaveLength(1);
    expect(await attemptsOf(b.billingKey)).toEqual([
      { status: null, code: null, replayed: false },
      { status: 200, code: null, replayed: true },
    ]);
  });

  it('slow → charged at once, answered after delayMs; the same key meanwhile gets the Payment at once', async () => {
    const b = await issued();
    await setFault({ billingKey: b.billingKey, behavior: 'slow', delayMs: 600 });
    const key = randomUUID();
    const orderId = newOrderId();
    const started = Date.now();
    const slow = charge(b, { orderId }, key);
    await new Promise((r) => setTimeout(r, 100));
    expect(await chargesOf(b.billingKey)).toHaveLength(1);
    const replay = await charge(b, { orderId }, key);
    expect(Date.now() - started).toBeLessThan(500);
    expect(replay.status).toBe(200);
    expect(await slow).toEqual(replay);
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    expect(await chargesOf(b.billingKey)).toHaveLength(1);
  });

  it('switches are per billing key; clear removes one; nonsense → 400 INVALID_REQUEST', async () => {
    const [a, b] = await Promise.all([issued(), issued()]);
    await setFault({ billingKey: a.billingKey, behavior: 'decline', times: 5 });
    expect((await charge(b)).status).toBe(200);
    expect(await setFault({ billingKey: a.billingKey, behavior: 'clear' })).toEqual({ status: 200, body: { billingKey: a.billingKey, fault: null } });
    expect((await charge(a)).status).toBe(200);
    for (const body of [
      {},
      { billingKey: a.billingKey, behavior: 'explode' },
      { billingKey: '', behavior: 'decline' },
      { billingKey: a.billingKey, behavior: 'decline', times: 0 },
    ]) {
      const res = await setFault(body);
      expect(res.status).toBe(400);
      expect((res.body as unknown as { code: string }).code).toBe('INVALID_REQUEST');
    }
  });

  it('/__test/reset forgets billing keys, their attempts and switches', async () => {
    const own = await startFakeGateway({ port: 0, secretKey: SECRET });
    try {
      const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: AUTH }) =>
        fetch(own.url + path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const b = (await (await post('/v1/billing/authorizations/issue', { authKey: authKey(), customerKey: newCustomerKey() })).json()) as Billing;
      await post('/__test/billing-faults', { billingKey: b.billingKey, behavior: 'fail5xx' }, {});
      expect((await post(`/v1/billing/${b.billingKey}`, { customerKey: b.customerKey, amount: 100, orderId: newOrderId(), orderName: 'x' })).status).toBe(500);
      await fetch(`${own.url}/__test/reset`, { method: 'POST' });
      expect(await (await fetch(`${own.url}/__test/ledger`)).json()).toEqual({
        payments: [],
        charges: [],
        cancels: [],
        attempts: [],
        cancelAttempts: [],
        billingKeys: [],
        billingAttempts: [],
      });
      const after = await post(`/v1/billing/${b.billingKey}`, { customerKey: b.customerKey, amount: 100, orderId: newOrderId(), orderName: 'x' });
      expect(((await after.json()) as { code: string }).code).toBe('INVALID_BILL_KEY_REQUEST');
    } finally {
      await own.close();
    }
  });
});
