import { randomUUID } from 'node:crypto';
import { startFakeGateway, type FakeGateway } from './fake-gateway';
import type { CancelFaultSwitch, Ledger, Payment } from './gateway-state';

/**
 * The cancel side of the fake over real HTTP: refundableAmount, the cancel
 * fault switches (POST /__test/cancel-faults) and how they meet the
 * Idempotency-Key replay, and the ledger's cancels / cancelAttempts.
 */

const SECRET = 'test_sk_fake_gateway_cancel_spec';
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
type CancelAnswer = Payment & { code?: string; message?: string };

async function call<T = unknown>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: AUTH },
  on = gw,
): Promise<Res<T>> {
  const res = await fetch(on.url + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const newOrderId = () => `order_${randomUUID().replaceAll('-', '')}`;
async function confirmed(amount: number, on = gw): Promise<Payment> {
  const minted = await call<{ paymentKey: string }>('POST', '/__test/payment-keys', { amount }, {}, on);
  const res = await call<Payment>('POST', '/v1/payments/confirm', { paymentKey: minted.body.paymentKey, orderId: newOrderId(), amount }, undefined, on);
  expect(res.status).toBe(200);
  return res.body;
}
const ledgerOf = async (orderId: string) => (await call<Ledger>('GET', `/__test/ledger/orders/${orderId}`, undefined, {})).body;
const paymentOf = async (paymentKey: string) => (await call<Payment>('GET', `/v1/payments/${paymentKey}`)).body;
function cancel(paymentKey: string, body: Record<string, unknown>, idempotencyKey: string = randomUUID(), on = gw): Promise<Res<CancelAnswer>> {
  return call<CancelAnswer>(
    'POST',
    `/v1/payments/${paymentKey}/cancel`,
    { cancelReason: 'refund', ...body },
    { authorization: AUTH, 'idempotency-key': idempotencyKey },
    on,
  );
}
async function setFault(body: Record<string, unknown>, on = gw): Promise<Res<{ paymentKey: string; fault: CancelFaultSwitch | null }>> {
  return call('POST', '/__test/cancel-faults', body, {}, on);
}
const attemptsOf = async (orderId: string) => (await ledgerOf(orderId)).cancelAttempts.map((a) => ({ status: a.status, code: a.code, replayed: a.replayed }));

describe('refundableAmount', () => {
  it('equal to the balance → the cancel goes through', async () => {
    const p = await confirmed(10_000);
    const res = await cancel(p.paymentKey, { cancelAmount: 4000, refundableAmount: 10_000 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 6000 });
    expect((await cancel(p.paymentKey, { cancelAmount: 6000, refundableAmount: 6000 })).body).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
  });

  it('not the balance → 400 NOT_MATCHES_REFUNDABLE_AMOUNT, nothing cancelled', async () => {
    const p = await confirmed(10_000);
    await cancel(p.paymentKey, { cancelAmount: 1000 });
    const before = await paymentOf(p.paymentKey);
    for (const refundableAmount of [10_000, 8999, 9001]) {
      const res = await cancel(p.paymentKey, { cancelAmount: 1000, refundableAmount });
      expect(res).toEqual({ status: 400, body: { code: 'NOT_MATCHES_REFUNDABLE_AMOUNT', message: '잔액 결과가 일치하지 않습니다.' } });
    }
    expect(await paymentOf(p.paymentKey)).toEqual(before);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels.map((c) => c.amount)).toEqual([1000]);
    expect(ledger.cancelAttempts.map((a) => a.code)).toEqual([
      null,
      'NOT_MATCHES_REFUNDABLE_AMOUNT',
      'NOT_MATCHES_REFUNDABLE_AMOUNT',
      'NOT_MATCHES_REFUNDABLE_AMOUNT',
    ]);
  });

  it('also without cancelAmount (the whole balance)', async () => {
    const p = await confirmed(500);
    expect((await cancel(p.paymentKey, { refundableAmount: 499 })).body.code).toBe('NOT_MATCHES_REFUNDABLE_AMOUNT');
    expect((await cancel(p.paymentKey, { refundableAmount: 500 })).body).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
  });

  it('validated like cancelAmount: not a positive integer → 400 INVALID_REQUEST', async () => {
    const p = await confirmed(1000);
    for (const refundableAmount of [0, -1, 1.5, '1000', null]) {
      const res = await cancel(p.paymentKey, { cancelAmount: 100, refundableAmount });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INVALID_REQUEST');
    }
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(0);
  });
});

describe('POST /__test/cancel-faults', () => {
  it('fail5xx times 2 → 500 twice, nothing cancelled, then the same key goes through once', async () => {
    const p = await confirmed(3000);
    const set = await setFault({ paymentKey: p.paymentKey, behavior: 'fail5xx', times: 2 });
    expect(set).toEqual({
      status: 200,
      body: { paymentKey: p.paymentKey, fault: { paymentKey: p.paymentKey, behavior: 'fail5xx', timesLeft: 2, delayMs: 1000 } },
    });
    const key = randomUUID();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await cancel(p.paymentKey, { cancelAmount: 1000 }, key);
      statuses.push(res.status);
      if (res.status === 500) expect(res.body).toEqual({ code: 'FAILED_INTERNAL_SYSTEM_PROCESSING', message: expect.any(String) as string });
    }
    expect(statuses).toEqual([500, 500, 200, 200]);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toEqual([
      { paymentKey: p.paymentKey, transactionKey: expect.any(String) as string, amount: 1000, idempotencyKey: key, at: expect.any(String) as string },
    ]);
    expect(ledger.cancels[0]!.transactionKey).toBe(ledger.payments[0]!.cancels[0]!.transactionKey);
    expect(ledger.cancelAttempts).toEqual(
      [500, 500, 200, 200].map((status, i) => ({
        paymentKey: p.paymentKey,
        idempotencyKey: key,
        amount: 1000,
        status,
        code: status === 500 ? 'FAILED_INTERNAL_SYSTEM_PROCESSING' : null,
        replayed: i === 3,
        at: expect.any(String) as string,
      })),
    );
    expect(ledger.payments[0]).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 2000 });
  });

  it('fail5xx comes before the replay: a key already answered gets the 500, then its stored answer', async () => {
    const p = await confirmed(3000);
    const key = randomUUID();
    const first = await cancel(p.paymentKey, { cancelAmount: 1000 }, key);
    await setFault({ paymentKey: p.paymentKey, behavior: 'fail5xx' });
    expect((await cancel(p.paymentKey, { cancelAmount: 1000 }, key)).status).toBe(500);
    expect(await cancel(p.paymentKey, { cancelAmount: 1000 }, key)).toEqual(first);
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(1);
    expect(await attemptsOf(p.orderId)).toEqual([
      { status: 200, code: null, replayed: false },
      { status: 500, code: 'FAILED_INTERNAL_SYSTEM_PROCESSING', replayed: false },
      { status: 200, code: null, replayed: true },
    ]);
  });

  it('slow → cancelled at once, answered after delayMs; the same key meanwhile gets the stored answer at once', async () => {
    const p = await confirmed(5000);
    await setFault({ paymentKey: p.paymentKey, behavior: 'slow', delayMs: 800 });
    const key = randomUUID();
    const started = Date.now();
    const slow = cancel(p.paymentKey, { cancelAmount: 2000 }, key);
    await new Promise((r) => setTimeout(r, 100));
    // Already cancelled while the answer is on its way.
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(1);
    expect((await paymentOf(p.paymentKey)).balanceAmount).toBe(3000);

    const replay = await cancel(p.paymentKey, { cancelAmount: 2000 }, key);
    expect(Date.now() - started).toBeLessThan(600);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 3000 });

    const answer = await slow;
    expect(Date.now() - started).toBeGreaterThanOrEqual(790);
    expect(answer).toEqual(replay);
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(1);
    expect(await attemptsOf(p.orderId)).toEqual([
      { status: 200, code: null, replayed: false },
      { status: 200, code: null, replayed: true },
    ]);
  });

  it('lost → cancelled, the connection dropped; the same key then gets the stored answer; the switch is used up', async () => {
    const p = await confirmed(5000);
    await setFault({ paymentKey: p.paymentKey, behavior: 'lost' });
    const key = randomUUID();
    await expect(cancel(p.paymentKey, { cancelAmount: 1500 }, key)).rejects.toThrow();
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(1);

    const replay = await cancel(p.paymentKey, { cancelAmount: 1500 }, key);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 3500 });
    expect(replay.body.cancels).toHaveLength(1);
    // The replay did not use the 'lost' up — it was used by the first request; a new key is answered normally.
    expect((await cancel(p.paymentKey, { cancelAmount: 500 })).body).toMatchObject({ balanceAmount: 3000 });
    expect(await attemptsOf(p.orderId)).toEqual([
      { status: null, code: null, replayed: false },
      { status: 200, code: null, replayed: true },
      { status: 200, code: null, replayed: false },
    ]);
  });

  it('a replay does not use up a slow, lost or decline', async () => {
    for (const behavior of ['slow', 'lost', 'decline'] as const) {
      const p = await confirmed(3000);
      const key = randomUUID();
      const first = await cancel(p.paymentKey, { cancelAmount: 1000 }, key);
      await setFault({ paymentKey: p.paymentKey, behavior, delayMs: 400 });
      const started = Date.now();
      expect(await cancel(p.paymentKey, { cancelAmount: 1000 }, key)).toEqual(first);
      expect(Date.now() - started).toBeLessThan(300);
      // The switch is still there for the next new cancel.
      const next = cancel(p.paymentKey, { cancelAmount: 1000 });
      if (behavior === 'lost') await expect(next).rejects.toThrow();
      else if (behavior === 'decline') expect((await next).body.code).toBe('NOT_CANCELABLE_PAYMENT');
      else expect((await next).status).toBe(200);
      if (behavior === 'slow') expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    }
  });

  it('decline → 400 NOT_CANCELABLE_PAYMENT, nothing cancelled, replayed for its key; times 2 = two new keys refused', async () => {
    const p = await confirmed(2000);
    await setFault({ paymentKey: p.paymentKey, behavior: 'decline', times: 2 });
    const key = randomUUID();
    const refused = { status: 400, body: { code: 'NOT_CANCELABLE_PAYMENT', message: '취소 할 수 없는 결제 입니다.' } };
    expect(await cancel(p.paymentKey, { cancelAmount: 500 }, key)).toEqual(refused);
    expect(await cancel(p.paymentKey, { cancelAmount: 500 }, key)).toEqual(refused);
    expect(await cancel(p.paymentKey, { cancelAmount: 500 })).toEqual(refused);
    expect((await cancel(p.paymentKey, { cancelAmount: 500 })).body).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 1500 });
    // The key refused first stays refused: a final answer is replayed.
    expect(await cancel(p.paymentKey, { cancelAmount: 500 }, key)).toEqual(refused);
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(1);
    expect((await attemptsOf(p.orderId)).map((a) => `${a.code ?? a.status}${a.replayed ? ' (replay)' : ''}`)).toEqual([
      'NOT_CANCELABLE_PAYMENT',
      'NOT_CANCELABLE_PAYMENT (replay)',
      'NOT_CANCELABLE_PAYMENT',
      '200',
      'NOT_CANCELABLE_PAYMENT (replay)',
    ]);
  });

  it('clear removes the switch; a new switch replaces the old', async () => {
    const p = await confirmed(2000);
    await setFault({ paymentKey: p.paymentKey, behavior: 'fail5xx', times: 10 });
    expect(await setFault({ paymentKey: p.paymentKey, behavior: 'clear' })).toEqual({ status: 200, body: { paymentKey: p.paymentKey, fault: null } });
    expect((await cancel(p.paymentKey, { cancelAmount: 100 })).status).toBe(200);

    await setFault({ paymentKey: p.paymentKey, behavior: 'fail5xx', times: 10 });
    await setFault({ paymentKey: p.paymentKey, behavior: 'decline' });
    expect((await cancel(p.paymentKey, { cancelAmount: 100 })).body.code).toBe('NOT_CANCELABLE_PAYMENT');
    expect((await cancel(p.paymentKey, { cancelAmount: 100 })).status).toBe(200);
  });

  it('switches are per paymentKey', async () => {
    const [a, b] = await Promise.all([confirmed(1000), confirmed(1000)]);
    await setFault({ paymentKey: a.paymentKey, behavior: 'fail5xx' });
    expect((await cancel(b.paymentKey, { cancelAmount: 100 })).status).toBe(200);
    expect((await cancel(a.paymentKey, { cancelAmount: 100 })).status).toBe(500);
  });

  it('rejects nonsense with 400 INVALID_REQUEST', async () => {
    for (const body of [
      {},
      { paymentKey: 'tgen_x', behavior: 'explode' },
      { paymentKey: 'tgen_x', behavior: 'slow', times: 0 },
      { paymentKey: '', behavior: 'slow' },
      { paymentKey: 'tgen_x', behavior: 'slow', delayMs: -1 },
    ]) {
      const res = await setFault(body);
      expect(res.status).toBe(400);
      expect((res.body as unknown as { code: string }).code).toBe('INVALID_REQUEST');
    }
  });

  it('/__test/reset clears the switches and the cancel attempts', async () => {
    const own = await startFakeGateway({ port: 0, secretKey: SECRET });
    try {
      const p = await confirmed(1000, own);
      await setFault({ paymentKey: p.paymentKey, behavior: 'fail5xx', times: 5 }, own);
      expect((await cancel(p.paymentKey, { cancelAmount: 100 }, undefined, own)).status).toBe(500);
      expect((await call<Ledger>('GET', '/__test/ledger', undefined, {}, own)).body.cancelAttempts).toHaveLength(1);

      await call('POST', '/__test/reset', undefined, {}, own);
      expect((await call('GET', '/__test/ledger', undefined, {}, own)).body).toEqual({
        payments: [],
        charges: [],
        cancels: [],
        attempts: [],
        cancelAttempts: [],
        billingKeys: [],
        billingAttempts: [],
      });
      // The payment is forgotten and so is its switch: 404, not the 500 the switch had left.
      expect((await cancel(p.paymentKey, { cancelAmount: 100 }, undefined, own)).body.code).toBe('NOT_FOUND_PAYMENT');
    } finally {
      await own.close();
    }
  });
});

describe('concurrency', () => {
  it('50 concurrent 1-won cancels with distinct keys on a 30-won payment → 30 cancels, balance 0, the rest refused', async () => {
    const p = await confirmed(30);
    const answers = await Promise.all(Array.from({ length: 50 }, () => cancel(p.paymentKey, { cancelAmount: 1 })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(30);
    // Once the balance is 0 the payment is CANCELED, and Toss answers that first.
    expect(answers.filter((a) => a.body.code === 'ALREADY_CANCELED_PAYMENT')).toHaveLength(20);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toHaveLength(30);
    expect(new Set(ledger.cancels.map((c) => c.transactionKey)).size).toBe(30);
    expect(ledger.payments[0]).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
    expect(ledger.payments[0]!.cancels.map((c) => c.refundableAmount)).toEqual(Array.from({ length: 30 }, (_, i) => 29 - i));
    expect(ledger.cancelAttempts).toHaveLength(50);
  });
});
