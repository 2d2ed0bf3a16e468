import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeGateway, type FakeGateway, type Ledger } from '@bazaar/fake-gateway';
import {
  GatewayRequestError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  PaymentDeclinedError,
  PaymentGatewayClient,
  isCancelRefusal,
  lastCancel,
  type GatewayError,
  type GatewayPayment,
  type GatewayPaymentCancel,
  type PaymentGatewayClientOptions,
} from './payment-gateway.client';

/**
 * The client's cancel (partial refunds) against a real fake gateway on a free
 * port, with its cancel fault switches; isCancelRefusal and lastCancel.
 */

const SECRET = 'test_sk_worker_gateway_cancel_spec';

let gw: FakeGateway;
const clients: PaymentGatewayClient[] = [];

beforeAll(async () => {
  gw = await startFakeGateway({ port: 0, secretKey: SECRET });
});
afterAll(async () => {
  for (const c of clients) c.shutdown();
  await gw.close();
});

function client(opts: Partial<PaymentGatewayClientOptions> = {}, baseUrl = gw.url): PaymentGatewayClient {
  const c = new PaymentGatewayClient({ baseUrl, secretKey: SECRET, timeoutMs: 200, retries: 2, backoffMs: 10, ...opts });
  clients.push(c);
  return c;
}

const newOrderId = () => `ord_${randomUUID().replaceAll('-', '')}`;

async function confirmed(gateway: PaymentGatewayClient, amount: number): Promise<GatewayPayment> {
  const res = await fetch(`${gw.url}/__test/payment-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ amount }),
  });
  const { paymentKey } = (await res.json()) as { paymentKey: string };
  return gateway.confirm({ paymentKey, orderId: newOrderId(), amount });
}
async function setFault(paymentKey: string, behavior: string, extra: { times?: number; delayMs?: number } = {}): Promise<void> {
  const res = await fetch(`${gw.url}/__test/cancel-faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ paymentKey, behavior, ...extra }),
  });
  expect(res.status).toBe(200);
}
async function ledgerOf(orderId: string): Promise<Ledger> {
  return (await fetch(`${gw.url}/__test/ledger/orders/${orderId}`)).json() as Promise<Ledger>;
}
const attemptsOf = async (orderId: string) =>
  (await ledgerOf(orderId)).cancelAttempts.map((a) => ({ status: a.status, code: a.code, replayed: a.replayed, idempotencyKey: a.idempotencyKey }));
async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A plain HTTP server that takes requests and never answers (or drops them): what no fault switch can do to a replay. */
async function brokenServer(behavior: 'silent' | 'drop'): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((req) => {
    requests += 1;
    if (behavior === 'drop') req.socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('cancel: partial refunds', () => {
  it('partial cancels until the balance is 0: PARTIAL_CANCELED then CANCELED, one cancels[] entry each, distinct transactionKeys', async () => {
    const gateway = client();
    const p = await confirmed(gateway, 10_000);
    const steps: [number, number, string][] = [
      [3000, 7000, 'PARTIAL_CANCELED'],
      [6000, 1000, 'PARTIAL_CANCELED'],
      [1000, 0, 'CANCELED'],
    ];
    let balance = 10_000;
    const keys: string[] = [];
    for (const [i, [cancelAmount, balanceAmount, status]] of steps.entries()) {
      const refundId = randomUUID();
      const paid = await gateway.cancel(p.paymentKey, { cancelReason: `refund ${i}`, cancelAmount, refundableAmount: balance }, refundId);
      expect(paid).toMatchObject({ paymentKey: p.paymentKey, status, totalAmount: 10_000, balanceAmount });
      expect(paid.cancels).toHaveLength(i + 1);
      const last = lastCancel(paid);
      expect(last).toEqual({
        cancelAmount,
        cancelReason: `refund ${i}`,
        canceledAt: expect.any(String) as string,
        transactionKey: expect.any(String) as string,
      });
      keys.push(last!.transactionKey);
      balance = balanceAmount;
    }
    expect(new Set(keys).size).toBe(3);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels.map((c) => [c.amount, c.transactionKey])).toEqual(steps.map(([amount], i) => [amount, keys[i]]));

    // Fully cancelled: any further cancel is a refusal.
    const again = await caught(gateway.cancel(p.paymentKey, { cancelReason: 'more', cancelAmount: 1 }, randomUUID()));
    expect(again).toBeInstanceOf(GatewayRequestError);
    expect(again).toMatchObject({ code: 'ALREADY_CANCELED_PAYMENT', status: 400 });
    expect(isCancelRefusal(again)).toBe(true);
  });

  it('above the balance → GatewayRequestError NOT_CANCELABLE_AMOUNT, sent once, nothing changes', async () => {
    const gateway = client();
    const p = await confirmed(gateway, 5000);
    await gateway.cancel(p.paymentKey, { cancelReason: 'first', cancelAmount: 2000 }, randomUUID());
    const before = await gateway.findByOrderId(p.orderId);
    const err = await caught(gateway.cancel(p.paymentKey, { cancelReason: 'too much', cancelAmount: 3001 }, randomUUID()));
    expect(err).toBeInstanceOf(GatewayRequestError);
    expect(err).toMatchObject({ code: 'NOT_CANCELABLE_AMOUNT', status: 400 });
    expect(isCancelRefusal(err)).toBe(true);
    expect(await gateway.findByOrderId(p.orderId)).toEqual(before);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toHaveLength(1);
    expect(ledger.cancelAttempts.map((a) => a.code)).toEqual([null, 'NOT_CANCELABLE_AMOUNT']);
  });

  it('refundableAmount not the balance → GatewayRequestError NOT_MATCHES_REFUNDABLE_AMOUNT, sent once, nothing changes', async () => {
    const gateway = client();
    const p = await confirmed(gateway, 5000);
    await gateway.cancel(p.paymentKey, { cancelReason: 'first', cancelAmount: 1000 }, randomUUID());
    const before = await gateway.findByOrderId(p.orderId);
    // Our books think nothing was refunded yet: the gateway holds 4000, not 5000.
    const err = await caught(gateway.cancel(p.paymentKey, { cancelReason: 'stale books', cancelAmount: 1000, refundableAmount: 5000 }, randomUUID()));
    expect(err).toBeInstanceOf(GatewayRequestError);
    expect(err).toMatchObject({ code: 'NOT_MATCHES_REFUNDABLE_AMOUNT', status: 400 });
    expect(isCancelRefusal(err)).toBe(true);
    expect(await gateway.findByOrderId(p.orderId)).toEqual(before);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toHaveLength(1);
    expect(ledger.cancelAttempts.map((a) => a.code)).toEqual([null, 'NOT_MATCHES_REFUNDABLE_AMOUNT']);
  });

  it('sends refundableAmount and cancelAmount only when given', async () => {
    const gateway = client();
    const p = await confirmed(gateway, 3000);
    const fetchSpy = jest.spyOn(globalThis, 'fetch');
    try {
      await gateway.cancel(p.paymentKey, { cancelReason: 'a', cancelAmount: 1000, refundableAmount: 3000 }, randomUUID());
      await gateway.cancel(p.paymentKey, { cancelReason: 'b', cancelAmount: 1000 }, randomUUID());
      await gateway.cancel(p.paymentKey, { cancelReason: 'c' }, randomUUID());
      const bodies = fetchSpy.mock.calls.map(([, init]) => JSON.parse(init?.body as string) as unknown);
      expect(bodies).toEqual([
        { cancelReason: 'a', cancelAmount: 1000, refundableAmount: 3000 },
        { cancelReason: 'b', cancelAmount: 1000 },
        { cancelReason: 'c' },
      ]);
    } finally {
      fetchSpy.mockRestore();
    }
  });

  it('the same Idempotency-Key twice → the same answer, one cancel in the ledger', async () => {
    const gateway = client();
    const p = await confirmed(gateway, 8000);
    const refundId = randomUUID();
    const req = { cancelReason: 'refund', cancelAmount: 3000, refundableAmount: 8000 };
    const first = await gateway.cancel(p.paymentKey, req, refundId);
    const second = await gateway.cancel(p.paymentKey, req, refundId);
    expect(second).toEqual(first);
    expect(first).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 5000 });
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toEqual([
      { paymentKey: p.paymentKey, transactionKey: lastCancel(first)!.transactionKey, amount: 3000, idempotencyKey: refundId, at: expect.any(String) as string },
    ]);
    expect(ledger.cancelAttempts.map((a) => a.replayed)).toEqual([false, true]);
  });
});

describe('cancel: gateway faults', () => {
  it('fail5xx ×2 → retried, then OK: one cancel applied, the 500s in the attempts', async () => {
    const gateway = client({ retries: 2 });
    const p = await confirmed(gateway, 4000);
    await setFault(p.paymentKey, 'fail5xx', { times: 2 });
    const refundId = randomUUID();
    const paid = await gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 1500, refundableAmount: 4000 }, refundId);
    expect(paid).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 2500 });
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toHaveLength(1);
    expect(ledger.cancelAttempts.map((a) => [a.status, a.code, a.idempotencyKey])).toEqual([
      [500, 'FAILED_INTERNAL_SYSTEM_PROCESSING', refundId],
      [500, 'FAILED_INTERNAL_SYSTEM_PROCESSING', refundId],
      [200, null, refundId],
    ]);
  });

  it('fail5xx past the retries → GatewayUnavailableError after 1 + 2 attempts, not a refusal, nothing applied', async () => {
    const gateway = client({ retries: 2 });
    const p = await confirmed(gateway, 4000);
    await setFault(p.paymentKey, 'fail5xx', { times: 5 });
    const err = await caught(gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 1000 }, randomUUID()));
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect(err).toMatchObject({ reason: 'server_error', status: 500, code: 'FAILED_INTERNAL_SYSTEM_PROCESSING' });
    expect(isCancelRefusal(err)).toBe(false);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancelAttempts).toHaveLength(3);
    expect(ledger.cancels).toHaveLength(0);
    expect(ledger.payments[0]).toMatchObject({ status: 'DONE', balanceAmount: 4000 });
  });

  it('slow past timeoutMs (cancel applied, answer late) → retried with the same key, gets the replay: exactly one cancel', async () => {
    const gateway = client({ timeoutMs: 150, retries: 2 });
    const p = await confirmed(gateway, 6000);
    await setFault(p.paymentKey, 'slow', { delayMs: 1000 });
    const refundId = randomUUID();
    const started = Date.now();
    const paid = await gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 2500, refundableAmount: 6000 }, refundId);
    // Answered by the retry's replay, long before the slow answer would have come.
    expect(Date.now() - started).toBeLessThan(800);
    expect(paid).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 3500 });
    expect(paid.cancels).toHaveLength(1);
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toEqual([expect.objectContaining({ amount: 2500, idempotencyKey: refundId, transactionKey: lastCancel(paid)!.transactionKey })]);
    expect(ledger.payments[0]).toMatchObject({ balanceAmount: 3500 });
    expect(await attemptsOf(p.orderId)).toEqual([
      { status: 200, code: null, replayed: false, idempotencyKey: refundId },
      { status: 200, code: null, replayed: true, idempotencyKey: refundId },
    ]);
  });

  it('lost (cancel applied, connection dropped) → retried with the same key, gets the replay: exactly one cancel', async () => {
    const gateway = client({ retries: 2 });
    const p = await confirmed(gateway, 6000);
    await setFault(p.paymentKey, 'lost');
    const refundId = randomUUID();
    const paid = await gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 6000, refundableAmount: 6000 }, refundId);
    expect(paid).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toHaveLength(1);
    expect(ledger.cancels[0]!.transactionKey).toBe(lastCancel(paid)!.transactionKey);
    expect(await attemptsOf(p.orderId)).toEqual([
      { status: null, code: null, replayed: false, idempotencyKey: refundId },
      { status: 200, code: null, replayed: true, idempotencyKey: refundId },
    ]);
  });

  it('decline → GatewayRequestError NOT_CANCELABLE_PAYMENT, isCancelRefusal, sent once, nothing applied; the same key stays refused', async () => {
    const gateway = client({ retries: 2 });
    const p = await confirmed(gateway, 2000);
    await setFault(p.paymentKey, 'decline');
    const refundId = randomUUID();
    const err = await caught(gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 500 }, refundId));
    expect(err).toBeInstanceOf(GatewayRequestError);
    expect(err).toMatchObject({ code: 'NOT_CANCELABLE_PAYMENT', status: 400 });
    expect(isCancelRefusal(err)).toBe(true);
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(0);
    expect(await gateway.findByOrderId(p.orderId)).toMatchObject({ status: 'DONE', balanceAmount: 2000, cancels: [] });

    // The refusal is the key's final answer; a new key (a new refund) goes through.
    await expect(gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 500 }, refundId)).rejects.toMatchObject({
      code: 'NOT_CANCELABLE_PAYMENT',
    });
    expect(await gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 500 }, randomUUID())).toMatchObject({ balanceAmount: 1500 });
    expect((await attemptsOf(p.orderId)).map((a) => [a.code, a.replayed])).toEqual([
      ['NOT_CANCELABLE_PAYMENT', false],
      ['NOT_CANCELABLE_PAYMENT', true],
      [null, false],
    ]);
  });

  it('refusals do not count against the breaker', async () => {
    const gateway = client({ retries: 0, breaker: { volumeThreshold: 2, errorThresholdPercentage: 10 } });
    const p = await confirmed(gateway, 1000);
    await setFault(p.paymentKey, 'decline', { times: 3 });
    for (let i = 0; i < 3; i++)
      expect(isCancelRefusal(await caught(gateway.cancel(p.paymentKey, { cancelReason: 'x', cancelAmount: 1 }, randomUUID())))).toBe(true);
    for (let i = 0; i < 3; i++)
      expect(isCancelRefusal(await caught(gateway.cancel(p.paymentKey, { cancelReason: 'x', cancelAmount: 1001 }, randomUUID())))).toBe(true);
    expect(gateway.breakerState()).toBe('closed');
  });

  it('no answer at all → retried with the same key, then GatewayTimeoutError (not a refusal)', async () => {
    for (const behavior of ['silent', 'drop'] as const) {
      const server = await brokenServer(behavior);
      try {
        const gateway = client({ timeoutMs: 100, retries: 2 }, server.url);
        const fetchSpy = jest.spyOn(globalThis, 'fetch');
        try {
          const err = await caught(gateway.cancel('tgen_x', { cancelReason: 'refund', cancelAmount: 100 }, 'refund-1'));
          expect(err).toBeInstanceOf(GatewayTimeoutError);
          expect(isCancelRefusal(err)).toBe(false);
          expect(fetchSpy.mock.calls.map(([, init]) => new Headers(init?.headers).get('idempotency-key'))).toEqual(['refund-1', 'refund-1', 'refund-1']);
        } finally {
          fetchSpy.mockRestore();
        }
        expect(server.requests()).toBe(3);
      } finally {
        await server.close();
      }
    }
  });
});

describe('cancel: concurrency', () => {
  // 50 requests at once on a loaded CI machine: a generous timeout, so what is counted is the gateway's answers, not timeouts.
  const client5s = () => client({ timeoutMs: 5_000 });
  it('50 concurrent 1-won cancels with distinct keys on a 30-won payment → exactly 30 applied, 20 refused, balance 0', async () => {
    const gateway = client5s();
    const p = await confirmed(gateway, 30);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 1 }, randomUUID())),
    );
    const ok = results.filter((r): r is PromiseFulfilledResult<GatewayPayment> => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    expect(ok).toHaveLength(30);
    expect(refused).toHaveLength(20);
    expect(refused.every((e) => isCancelRefusal(e))).toBe(true);
    // The 31st finds the payment CANCELED (balance 0), which Toss answers with ALREADY_CANCELED_PAYMENT.
    expect(new Set(refused.map((e) => (e as GatewayError).code))).toEqual(new Set(['ALREADY_CANCELED_PAYMENT']));
    expect(new Set(ok.map((r) => lastCancel(r.value)!.transactionKey)).size).toBe(30);
    expect(await gateway.findByOrderId(p.orderId)).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
    const ledger = await ledgerOf(p.orderId);
    expect(ledger.cancels).toHaveLength(30);
    expect(ledger.cancels.reduce((sum, c) => sum + c.amount, 0)).toBe(30);
    expect(gateway.breakerState()).toBe('closed');
  });

  it('50 concurrent 2-won cancels on a 31-won payment → 15 applied, 35 NOT_CANCELABLE_AMOUNT, balance 1', async () => {
    const gateway = client5s();
    const p = await confirmed(gateway, 31);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => gateway.cancel(p.paymentKey, { cancelReason: 'refund', cancelAmount: 2 }, randomUUID())),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(15);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    expect(refused).toHaveLength(35);
    expect(refused.every((e) => isCancelRefusal(e) && e.code === 'NOT_CANCELABLE_AMOUNT')).toBe(true);
    expect(await gateway.findByOrderId(p.orderId)).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 1 });
    expect((await ledgerOf(p.orderId)).cancels).toHaveLength(15);
  });
});

describe('isCancelRefusal', () => {
  it.each(['NOT_CANCELABLE_PAYMENT', 'NOT_CANCELABLE_AMOUNT', 'NOT_MATCHES_REFUNDABLE_AMOUNT', 'ALREADY_CANCELED_PAYMENT'])(
    'GatewayRequestError %s → true',
    (code) => {
      expect(isCancelRefusal(new GatewayRequestError('no', { code, status: 400 }))).toBe(true);
    },
  );

  it('anything else → false', () => {
    const others: unknown[] = [
      new GatewayRequestError('no', { code: 'NOT_FOUND_PAYMENT', status: 404 }),
      new GatewayRequestError('no', { code: 'INVALID_REQUEST', status: 400 }),
      new GatewayRequestError('no', { status: 400 }),
      new GatewayTimeoutError('late'),
      new GatewayUnavailableError('down', 'server_error', { code: 'NOT_CANCELABLE_PAYMENT', status: 500 }),
      new PaymentDeclinedError('NOT_CANCELABLE_AMOUNT', 'odd', 400),
      Object.assign(new Error('plain'), { code: 'NOT_CANCELABLE_AMOUNT' }),
      { code: 'NOT_CANCELABLE_AMOUNT' },
      null,
      undefined,
    ];
    for (const err of others) expect(isCancelRefusal(err)).toBe(false);
  });
});

describe('lastCancel', () => {
  const payment = (cancels: GatewayPaymentCancel[]): GatewayPayment => ({
    paymentKey: 'tgen_x',
    orderId: 'ord_x',
    status: cancels.length ? 'PARTIAL_CANCELED' : 'DONE',
    method: '카드',
    totalAmount: 10_000,
    balanceAmount: 10_000,
    approvedAt: null,
    cancels,
  });
  const c = (transactionKey: string, canceledAt: string): GatewayPaymentCancel => ({ cancelAmount: 100, cancelReason: 'r', canceledAt, transactionKey });

  it('null without cancels', () => {
    expect(lastCancel(payment([]))).toBeNull();
  });

  it('the latest canceledAt, wherever it is in the array, comparing instants across offsets', () => {
    expect(
      lastCancel(payment([c('A', '2024-01-01T11:00:00+09:00'), c('B', '2024-01-01T12:00:00+09:00'), c('C', '2024-01-01T10:00:00+09:00')]))?.transactionKey,
    ).toBe('B');
    // 02:30Z is 11:30+09:00: later than A.
    expect(lastCancel(payment([c('Z', '2024-01-01T02:30:00Z'), c('A', '2024-01-01T11:00:00+09:00')]))?.transactionKey).toBe('Z');
  });

  it('ties: the last in the array', () => {
    expect(
      lastCancel(payment([c('A', '2024-01-01T11:00:00+09:00'), c('B', '2024-01-01T11:00:00+09:00'), c('C', '2024-01-01T10:59:59+09:00')]))?.transactionKey,
    ).toBe('B');
  });
});
