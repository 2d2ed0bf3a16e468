import { randomUUID } from 'node:crypto';
import { startFakeGateway, type FakeGateway, type Ledger, type Payment } from '../src';

const SECRET = 'test_sk_fake_gateway_spec';
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

async function call<T = unknown>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: AUTH },
): Promise<Res<T>> {
  const res = await fetch(gw.url + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const newOrderId = () => `order_${randomUUID().replaceAll('-', '')}`;
async function mint(amount: number, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call<{ paymentKey: string }>('POST', '/__test/payment-keys', { amount, ...extra }, {});
  expect(res.status).toBe(200);
  return res.body.paymentKey;
}
async function confirmed(amount: number): Promise<Payment> {
  const paymentKey = await mint(amount);
  const res = await call<Payment>('POST', '/v1/payments/confirm', { paymentKey, orderId: newOrderId(), amount });
  expect(res.status).toBe(200);
  return res.body;
}
const ledgerOf = async (orderId: string) => (await call<Ledger>('GET', `/__test/ledger/orders/${orderId}`, undefined, {})).body;
const cancelPath = (paymentKey: string) => `/v1/payments/${paymentKey}/cancel`;

describe('auth', () => {
  it.each([
    ['missing', {}],
    ['wrong key', { authorization: `Basic ${Buffer.from('test_sk_other:').toString('base64')}` }],
    ['key without the colon', { authorization: `Basic ${Buffer.from(SECRET).toString('base64')}` }],
    ['bearer', { authorization: `Bearer ${SECRET}` }],
  ])('%s → 401 UNAUTHORIZED_KEY', async (_name, headers: Record<string, string>) => {
    const res = await call<{ code: string; message: string }>('GET', '/v1/payments/orders/order_unknown', undefined, headers);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('UNAUTHORIZED_KEY');
    expect(typeof res.body.message).toBe('string');
  });

  it('test controls and /healthz need none', async () => {
    expect((await call('GET', '/healthz', undefined, {})).status).toBe(200);
    expect((await call('GET', '/__test/ledger', undefined, {})).status).toBe(200);
  });
});

describe('POST /v1/payments/confirm', () => {
  it('charges a minted key and answers the Payment', async () => {
    const paymentKey = await mint(15_000);
    const orderId = newOrderId();
    const res = await call<Payment>('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 15_000 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ paymentKey, orderId, status: 'DONE', method: '카드', totalAmount: 15_000, balanceAmount: 15_000, cancels: [] });
    expect(Number.isNaN(Date.parse(res.body.approvedAt))).toBe(false);
    expect((await ledgerOf(orderId)).charges).toEqual([{ paymentKey, orderId, amount: 15_000, at: expect.any(String) as string }]);
  });

  it('the same key again → 400 ALREADY_PROCESSED_PAYMENT, still one charge', async () => {
    const paymentKey = await mint(1000);
    const orderId = newOrderId();
    expect((await call('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 1000 })).status).toBe(200);
    const again = await call<{ code: string }>('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 1000 });
    expect(again).toEqual({ status: 400, body: { code: 'ALREADY_PROCESSED_PAYMENT', message: expect.any(String) as string } });
    expect((await ledgerOf(orderId)).charges).toHaveLength(1);
  });

  it('an amount other than the key was minted for → 400 INVALID_REQUEST, nothing charged', async () => {
    const paymentKey = await mint(1000);
    const orderId = newOrderId();
    const res = await call<{ code: string }>('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 999 });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_REQUEST');
    expect((await ledgerOf(orderId)).charges).toHaveLength(0);
  });

  it('an unknown key → 404 NOT_FOUND_PAYMENT', async () => {
    const res = await call<{ code: string }>('POST', '/v1/payments/confirm', { paymentKey: 'tgen_nope', orderId: newOrderId(), amount: 1000 });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND_PAYMENT');
  });

  it('a malformed body → 400 INVALID_REQUEST', async () => {
    for (const body of [{}, { paymentKey: 'x', orderId: newOrderId(), amount: -5 }, { paymentKey: 'x', orderId: 'short', amount: 100 }]) {
      const res = await call<{ code: string }>('POST', '/v1/payments/confirm', body);
      expect(res).toEqual({ status: 400, body: { code: 'INVALID_REQUEST', message: expect.any(String) as string } });
    }
  });

  it('a second key for an order already paid → 400 DUPLICATED_ORDER_ID', async () => {
    const orderId = newOrderId();
    expect((await call('POST', '/v1/payments/confirm', { paymentKey: await mint(500), orderId, amount: 500 })).status).toBe(200);
    const res = await call<{ code: string }>('POST', '/v1/payments/confirm', { paymentKey: await mint(500), orderId, amount: 500 });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('DUPLICATED_ORDER_ID');
    expect((await ledgerOf(orderId)).charges).toHaveLength(1);
  });
});

describe('behaviors', () => {
  it('decline → 400 REJECT_CARD_PAYMENT every time, nothing charged, the attempts recorded', async () => {
    const paymentKey = await mint(2000, { behavior: 'decline' });
    const orderId = newOrderId();
    for (let i = 0; i < 2; i++) {
      const res = await call('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 2000 });
      expect(res).toEqual({ status: 400, body: { code: 'REJECT_CARD_PAYMENT', message: '카드 승인이 거절되었습니다' } });
    }
    const ledger = await ledgerOf(orderId);
    expect(ledger.charges).toHaveLength(0);
    expect(ledger.attempts.map((a) => a.code)).toEqual(['REJECT_CARD_PAYMENT', 'REJECT_CARD_PAYMENT']);
    expect((await call('GET', `/v1/payments/orders/${orderId}`)).status).toBe(404);
  });

  it('fail5xx times 2 → 500 twice without charging, then ok', async () => {
    const paymentKey = await mint(3000, { behavior: 'fail5xx', times: 2 });
    const orderId = newOrderId();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call<{ code?: string }>('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 3000 });
      statuses.push(res.status);
      if (res.status === 500) expect(res.body.code).toBe('FAILED_INTERNAL_SYSTEM_PROCESSING');
    }
    expect(statuses).toEqual([500, 500, 200]);
    const ledger = await ledgerOf(orderId);
    expect(ledger.charges).toHaveLength(1);
    expect(ledger.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
  });

  it('slow → charged at once, answered after delayMs', async () => {
    const paymentKey = await mint(4000, { behavior: 'slow', delayMs: 300 });
    const orderId = newOrderId();
    const started = Date.now();
    const pending = call<Payment>('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 4000 });
    await new Promise((r) => setTimeout(r, 100));
    // Already charged while the answer is still on its way.
    expect((await ledgerOf(orderId)).charges).toHaveLength(1);
    const res = await pending;
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('DONE');
  });

  it('lost → charged, the connection dropped unanswered; the payment can be looked up', async () => {
    const paymentKey = await mint(5000, { behavior: 'lost' });
    const orderId = newOrderId();
    await expect(call('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 5000 })).rejects.toThrow();
    const ledger = await ledgerOf(orderId);
    expect(ledger.charges).toHaveLength(1);
    expect(ledger.attempts).toEqual([expect.objectContaining({ status: null })]);
    const found = await call<Payment>('GET', `/v1/payments/orders/${orderId}`);
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({ paymentKey, status: 'DONE', totalAmount: 5000 });
  });

  it('minting rejects nonsense', async () => {
    for (const body of [{ amount: 0 }, { amount: 100, behavior: 'explode' }, { amount: 1.5 }]) {
      const res = await call<{ code: string }>('POST', '/__test/payment-keys', body, {});
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INVALID_REQUEST');
    }
  });
});

describe('GET /v1/payments/:paymentKey and /v1/payments/orders/:orderId', () => {
  it('answer the Payment, or 404 NOT_FOUND_PAYMENT', async () => {
    const p = await confirmed(700);
    expect(await call('GET', `/v1/payments/${p.paymentKey}`)).toEqual({ status: 200, body: p });
    expect(await call('GET', `/v1/payments/orders/${p.orderId}`)).toEqual({ status: 200, body: p });
    expect((await call<{ code: string }>('GET', '/v1/payments/tgen_unknown')).body.code).toBe('NOT_FOUND_PAYMENT');
    const missing = await call<{ code: string }>('GET', `/v1/payments/orders/${newOrderId()}`);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('NOT_FOUND_PAYMENT');
  });
});

describe('POST /v1/payments/:paymentKey/cancel', () => {
  it('without cancelAmount cancels the rest → CANCELED', async () => {
    const p = await confirmed(10_000);
    const res = await call<Payment>('POST', cancelPath(p.paymentKey), { cancelReason: '고객 변심' }, { authorization: AUTH, 'idempotency-key': randomUUID() });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'CANCELED', balanceAmount: 0, totalAmount: 10_000 });
    expect(res.body.cancels).toEqual([
      {
        cancelAmount: 10_000,
        cancelReason: '고객 변심',
        canceledAt: expect.any(String) as string,
        transactionKey: expect.any(String) as string,
        cancelStatus: 'DONE',
        refundableAmount: 0,
        taxFreeAmount: 0,
      },
    ]);
    const again = await call<{ code: string }>(
      'POST',
      cancelPath(p.paymentKey),
      { cancelReason: 'again' },
      { authorization: AUTH, 'idempotency-key': randomUUID() },
    );
    expect(again.status).toBe(400);
    expect(again.body.code).toBe('ALREADY_CANCELED_PAYMENT');
  });

  it('partial cancels up to the balance, then NOT_CANCELABLE_AMOUNT', async () => {
    const p = await confirmed(10_000);
    const cancel = (cancelAmount: number) =>
      call<Payment & { code?: string }>(
        'POST',
        cancelPath(p.paymentKey),
        { cancelReason: 'partial', cancelAmount },
        { authorization: AUTH, 'idempotency-key': randomUUID() },
      );

    const first = await cancel(3000);
    expect(first.body).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 7000 });
    const second = await cancel(6000);
    expect(second.body).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 1000 });
    expect(second.body.cancels.map((c) => c.cancelAmount)).toEqual([3000, 6000]);

    const tooMuch = await cancel(1001);
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.code).toBe('NOT_CANCELABLE_AMOUNT');

    const last = await cancel(1000);
    expect(last.body).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
    expect((await ledgerOf(p.orderId)).cancels.map((c) => c.amount)).toEqual([3000, 6000, 1000]);
  });

  it('20 concurrent cancels with the same Idempotency-Key → one cancel, the same answer 20 times', async () => {
    const p = await confirmed(8000);
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        call<Payment>('POST', cancelPath(p.paymentKey), { cancelReason: 'dup', cancelAmount: 2000 }, { authorization: AUTH, 'idempotency-key': key }),
      ),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect(answers[0]!.body).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 6000 });
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toEqual([
      { paymentKey: p.paymentKey, transactionKey: expect.any(String) as string, amount: 2000, idempotencyKey: key, at: expect.any(String) as string },
    ]);
    expect(ledger.payments[0]!.balanceAmount).toBe(6000);
  });

  it('a replay answers what was answered first, even after later cancels', async () => {
    const p = await confirmed(5000);
    const key = randomUUID();
    const headers = { authorization: AUTH, 'idempotency-key': key };
    const first = await call<Payment>('POST', cancelPath(p.paymentKey), { cancelReason: 'a', cancelAmount: 1000 }, headers);
    await call('POST', cancelPath(p.paymentKey), { cancelReason: 'b', cancelAmount: 1000 }, { authorization: AUTH, 'idempotency-key': randomUUID() });
    const replay = await call<Payment>('POST', cancelPath(p.paymentKey), { cancelReason: 'a', cancelAmount: 1000 }, headers);
    expect(replay).toEqual(first);
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(2);
  });

  it('an unknown payment → 404 NOT_FOUND_PAYMENT; no cancelReason → 400 INVALID_REQUEST', async () => {
    expect((await call<{ code: string }>('POST', cancelPath('tgen_unknown'), { cancelReason: 'x' })).body.code).toBe('NOT_FOUND_PAYMENT');
    const p = await confirmed(100);
    const res = await call<{ code: string }>('POST', cancelPath(p.paymentKey), { cancelAmount: 10 });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_REQUEST');
  });
});

describe('concurrency', () => {
  it('300 concurrent confirms of distinct keys → 300 charges, each recorded once', async () => {
    const runId = randomUUID().slice(0, 8);
    const orders = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => ({ paymentKey: await mint(100 + i), orderId: `conc_${runId}_${i}`, amount: 100 + i })),
    );
    const answers = await Promise.all(orders.map((o) => call<Payment>('POST', '/v1/payments/confirm', o)));
    expect(answers.every((a) => a.status === 200 && a.body.status === 'DONE')).toBe(true);

    const ledger = (await call<Ledger>('GET', '/__test/ledger', undefined, {})).body;
    const mine = ledger.charges.filter((c) => c.orderId.startsWith(`conc_${runId}_`));
    expect(mine).toHaveLength(300);
    expect(new Set(mine.map((c) => c.paymentKey)).size).toBe(300);
    for (const o of orders) expect(mine.find((c) => c.paymentKey === o.paymentKey)).toMatchObject({ orderId: o.orderId, amount: o.amount });
  });

  it('the same key confirmed 50 times at once → one 200, 49 ALREADY_PROCESSED_PAYMENT, one charge', async () => {
    const paymentKey = await mint(1234);
    const orderId = newOrderId();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => call<{ code?: string }>('POST', '/v1/payments/confirm', { paymentKey, orderId, amount: 1234 })),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.body.code === 'ALREADY_PROCESSED_PAYMENT')).toHaveLength(49);
    expect((await ledgerOf(orderId)).charges).toHaveLength(1);
  });
});

describe('test controls', () => {
  it('/__test/requests counts API requests by route; /__test/reset forgets everything', async () => {
    const own = await startFakeGateway({ port: 0, secretKey: SECRET });
    try {
      const get = async <T>(path: string) => (await fetch(own.url + path)).json() as Promise<T>;
      await fetch(`${own.url}/v1/payments/orders/order_abcdef`, { headers: { authorization: AUTH } });
      await fetch(`${own.url}/v1/payments/tgen_x`, { headers: { authorization: AUTH } });
      expect(await get('/__test/requests')).toEqual({ total: 2, byRoute: { 'GET /v1/payments/orders/:orderId': 1, 'GET /v1/payments/:paymentKey': 1 } });

      const minted = (await (
        await fetch(`${own.url}/__test/payment-keys`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ amount: 100 }),
        })
      ).json()) as { paymentKey: string };
      await fetch(`${own.url}/v1/payments/confirm`, {
        method: 'POST',
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ paymentKey: minted.paymentKey, orderId: 'order_reset', amount: 100 }),
      });
      expect((await get<Ledger>('/__test/ledger')).charges).toHaveLength(1);

      await fetch(`${own.url}/__test/reset`, { method: 'POST' });
      expect(await get('/__test/ledger')).toEqual({
        payments: [],
        charges: [],
        cancels: [],
        attempts: [],
        cancelAttempts: [],
        billingKeys: [],
        billingAttempts: [],
      });
      expect(await get('/__test/requests')).toEqual({ total: 0, byRoute: {} });
    } finally {
      await own.close();
    }
  });
});
