import { randomUUID } from 'node:crypto';
import { startFakeGateway, type FakeGateway, type Ledger } from '@bazaar/fake-gateway';
import {
  GatewayRequestError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  PaymentAlreadyProcessedError,
  PaymentDeclinedError,
  PaymentGatewayClient,
  type BreakerState,
  type PaymentGatewayClientOptions,
} from '../src/gateway/payment-gateway.client';

/** The client against a real fake gateway (Toss Payments' API shape) on a free port. */

const SECRET = 'test_sk_worker_gateway_spec';

let gw: FakeGateway;
const clients: PaymentGatewayClient[] = [];

beforeAll(async () => {
  gw = await startFakeGateway({ port: 0, secretKey: SECRET });
});
afterAll(async () => {
  for (const c of clients) c.shutdown();
  await gw.close();
});

function client(opts: Partial<PaymentGatewayClientOptions> = {}, on: FakeGateway = gw): PaymentGatewayClient {
  const c = new PaymentGatewayClient({ baseUrl: on.url, secretKey: SECRET, timeoutMs: 200, retries: 2, backoffMs: 10, ...opts });
  clients.push(c);
  return c;
}

const newOrderId = () => `ord_${randomUUID().replaceAll('-', '')}`;

async function mint(amount: number, extra: Record<string, unknown> = {}, on: FakeGateway = gw): Promise<string> {
  const res = await fetch(`${on.url}/__test/payment-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ amount, ...extra }),
  });
  return ((await res.json()) as { paymentKey: string }).paymentKey;
}
async function ledgerOf(orderId: string, on: FakeGateway = gw): Promise<Ledger> {
  return (await fetch(`${on.url}/__test/ledger/orders/${orderId}`)).json() as Promise<Ledger>;
}
async function apiRequests(on: FakeGateway): Promise<number> {
  return ((await (await fetch(`${on.url}/__test/requests`)).json()) as { total: number }).total;
}
async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
async function until(what: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('confirm', () => {
  it('ok → the typed Payment, one charge', async () => {
    const gateway = client();
    const orderId = newOrderId();
    const paymentKey = await mint(12_000);
    const payment = await gateway.confirm({ paymentKey, orderId, amount: 12_000 });
    expect(payment).toEqual({
      paymentKey,
      orderId,
      status: 'DONE',
      method: '카드',
      totalAmount: 12_000,
      balanceAmount: 12_000,
      approvedAt: expect.any(String) as string,
      cancels: [],
    });
    expect((await ledgerOf(orderId)).charges).toHaveLength(1);
  });

  it('decline → PaymentDeclinedError with the code and message, sent once', async () => {
    const gateway = client();
    const orderId = newOrderId();
    const err = await caught(gateway.confirm({ paymentKey: await mint(3000, { behavior: 'decline' }), orderId, amount: 3000 }));
    expect(err).toBeInstanceOf(PaymentDeclinedError);
    expect(err).toMatchObject({ code: 'REJECT_CARD_PAYMENT', message: '카드 승인이 거절되었습니다', status: 400 });
    const ledger = await ledgerOf(orderId);
    expect(ledger.attempts).toHaveLength(1);
    expect(ledger.charges).toHaveLength(0);
  });

  it('fail5xx times 2 with retries 2 → success after backoff, one charge', async () => {
    const gateway = client({ retries: 2 });
    const orderId = newOrderId();
    const payment = await gateway.confirm({ paymentKey: await mint(4000, { behavior: 'fail5xx', times: 2 }), orderId, amount: 4000 });
    expect(payment.status).toBe('DONE');
    const ledger = await ledgerOf(orderId);
    expect(ledger.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(ledger.charges).toHaveLength(1);
  });

  it('fail5xx times 5 → GatewayUnavailableError after 1 + 2 attempts, nothing charged', async () => {
    const gateway = client({ retries: 2 });
    const orderId = newOrderId();
    const err = await caught(gateway.confirm({ paymentKey: await mint(4000, { behavior: 'fail5xx', times: 5 }), orderId, amount: 4000 }));
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect(err).toMatchObject({ reason: 'server_error', status: 500, code: 'FAILED_INTERNAL_SYSTEM_PROCESSING' });
    const ledger = await ledgerOf(orderId);
    expect(ledger.attempts).toHaveLength(3);
    expect(ledger.charges).toHaveLength(0);
  });

  it('slow past timeoutMs → GatewayTimeoutError, not retried; findByOrderId then shows it DONE', async () => {
    const gateway = client({ timeoutMs: 200, retries: 2 });
    const orderId = newOrderId();
    const paymentKey = await mint(5000, { behavior: 'slow', delayMs: 500 });
    const err = await caught(gateway.confirm({ paymentKey, orderId, amount: 5000 }));
    expect(err).toBeInstanceOf(GatewayTimeoutError);
    expect((await ledgerOf(orderId)).attempts).toHaveLength(1);
    const found = await gateway.findByOrderId(orderId);
    expect(found).toMatchObject({ paymentKey, orderId, status: 'DONE', totalAmount: 5000 });
  });

  it('lost (charged, connection dropped) → GatewayTimeoutError, not retried; findByOrderId shows it DONE', async () => {
    const gateway = client({ retries: 2 });
    const orderId = newOrderId();
    const paymentKey = await mint(6000, { behavior: 'lost' });
    const err = await caught(gateway.confirm({ paymentKey, orderId, amount: 6000 }));
    // The outcome is unknown, like a timeout: the caller must look it up, never confirm blindly again.
    expect(err).toBeInstanceOf(GatewayTimeoutError);
    expect((await ledgerOf(orderId)).attempts).toHaveLength(1);
    expect(await gateway.findByOrderId(orderId)).toMatchObject({ paymentKey, status: 'DONE', balanceAmount: 6000 });
  });

  it('confirmed twice → PaymentAlreadyProcessedError, one charge', async () => {
    const gateway = client();
    const orderId = newOrderId();
    const paymentKey = await mint(700);
    await gateway.confirm({ paymentKey, orderId, amount: 700 });
    const err = await caught(gateway.confirm({ paymentKey, orderId, amount: 700 }));
    expect(err).toBeInstanceOf(PaymentAlreadyProcessedError);
    expect(err).toMatchObject({ code: 'ALREADY_PROCESSED_PAYMENT', status: 400 });
    expect((await ledgerOf(orderId)).charges).toHaveLength(1);
  });

  it('a wrong amount → GatewayRequestError INVALID_REQUEST; a wrong secret → GatewayRequestError UNAUTHORIZED_KEY', async () => {
    const wrongAmount = await caught(client().confirm({ paymentKey: await mint(800), orderId: newOrderId(), amount: 801 }));
    expect(wrongAmount).toBeInstanceOf(GatewayRequestError);
    expect(wrongAmount).toMatchObject({ code: 'INVALID_REQUEST', status: 400 });

    const wrongKey = await caught(client({ secretKey: 'test_sk_wrong' }).confirm({ paymentKey: await mint(800), orderId: newOrderId(), amount: 800 }));
    expect(wrongKey).toBeInstanceOf(GatewayRequestError);
    expect(wrongKey).toMatchObject({ code: 'UNAUTHORIZED_KEY', status: 401 });
  });

  it('nothing listening → GatewayUnavailableError (network), after 1 + 2 attempts', async () => {
    const gone = await startFakeGateway({ port: 0, secretKey: SECRET });
    await gone.close();
    const fetchSpy = jest.spyOn(globalThis, 'fetch');
    try {
      const err = await caught(client({ retries: 2 }, gone).confirm({ paymentKey: 'tgen_x', orderId: newOrderId(), amount: 100 }));
      expect(err).toBeInstanceOf(GatewayUnavailableError);
      expect(err).toMatchObject({ reason: 'network', code: 'ECONNREFUSED' });
      expect(fetchSpy).toHaveBeenCalledTimes(3);
    } finally {
      fetchSpy.mockRestore();
    }
  });
});

describe('cancel and findByOrderId', () => {
  it('the same idempotency key twice → one cancel, the same answer', async () => {
    const gateway = client();
    const orderId = newOrderId();
    const paymentKey = await mint(9000);
    await gateway.confirm({ paymentKey, orderId, amount: 9000 });

    const key = `cancel-${orderId}`;
    const first = await gateway.cancel(paymentKey, { cancelReason: 'customer', cancelAmount: 4000 }, key);
    const second = await gateway.cancel(paymentKey, { cancelReason: 'customer', cancelAmount: 4000 }, key);
    expect(first).toMatchObject({ status: 'PARTIAL_CANCELED', balanceAmount: 5000 });
    expect(first.cancels).toEqual([
      { cancelAmount: 4000, cancelReason: 'customer', canceledAt: expect.any(String) as string, transactionKey: expect.any(String) as string },
    ]);
    expect(second).toEqual(first);
    expect((await ledgerOf(orderId)).cancels).toEqual([
      { paymentKey, transactionKey: first.cancels[0]!.transactionKey, amount: 4000, idempotencyKey: key, at: expect.any(String) as string },
    ]);

    // No cancelAmount: the rest.
    const rest = await gateway.cancel(paymentKey, { cancelReason: 'customer' }, `${key}-rest`);
    expect(rest).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
    expect(await gateway.findByOrderId(orderId)).toEqual(rest);
  });

  it('a cancel whose answer timed out is sent again with the same key (safe: the key makes it one cancel)', async () => {
    const gateway = client({ retries: 2 });
    const orderId = newOrderId();
    const paymentKey = await mint(3000);
    await gateway.confirm({ paymentKey, orderId, amount: 3000 });
    // The first attempt goes through at the gateway but its answer is lost to a timeout.
    const realFetch = globalThis.fetch;
    const fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementationOnce(async (input, init) => {
      await realFetch(input, init);
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    });
    try {
      const payment = await gateway.cancel(paymentKey, { cancelReason: 'customer' }, `cancel-${orderId}`);
      expect(payment).toMatchObject({ status: 'CANCELED', balanceAmount: 0 });
      expect(fetchSpy).toHaveBeenCalledTimes(2);
      const sent = fetchSpy.mock.calls.map(([, init]) => new Headers(init?.headers).get('idempotency-key'));
      expect(sent).toEqual([`cancel-${orderId}`, `cancel-${orderId}`]);
    } finally {
      fetchSpy.mockRestore();
    }
    expect((await ledgerOf(orderId)).cancels).toHaveLength(1);
  });

  it('more than the balance → GatewayRequestError NOT_CANCELABLE_AMOUNT', async () => {
    const gateway = client();
    const orderId = newOrderId();
    const paymentKey = await mint(1000);
    await gateway.confirm({ paymentKey, orderId, amount: 1000 });
    const err = await caught(gateway.cancel(paymentKey, { cancelReason: 'x', cancelAmount: 1001 }, randomUUID()));
    expect(err).toBeInstanceOf(GatewayRequestError);
    expect(err).toMatchObject({ code: 'NOT_CANCELABLE_AMOUNT', status: 400 });
  });

  it('findByOrderId → null when the gateway has no payment for the order; a 404 from elsewhere throws', async () => {
    expect(await client().findByOrderId(newOrderId())).toBeNull();
    const wrongBase = new PaymentGatewayClient({ baseUrl: `${gw.url}/nowhere`, secretKey: SECRET, timeoutMs: 200 });
    clients.push(wrongBase);
    await expect(wrongBase.findByOrderId(newOrderId())).rejects.toMatchObject({ name: 'GatewayRequestError', status: 404, code: 'NOT_FOUND' });
  });
});

describe('circuit breaker', () => {
  it('opens after repeated 5xx, fails fast without reaching the gateway, half-opens after the reset timeout, closes on success', async () => {
    const own = await startFakeGateway({ port: 0, secretKey: SECRET });
    try {
      const states: BreakerState[] = [];
      const gateway = client(
        { retries: 0, breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 300 }, onBreakerStateChange: (s) => states.push(s) },
        own,
      );
      const failing = await mint(100, { behavior: 'fail5xx', times: 100 }, own);
      for (let i = 0; i < 3; i++) {
        const err = await caught(gateway.confirm({ paymentKey: failing, orderId: newOrderId(), amount: 100 }));
        expect(err).toMatchObject({ reason: 'server_error' });
      }
      expect(gateway.breakerState()).toBe('open');

      // Open: every call fails fast, and none reaches the gateway.
      const before = await apiRequests(own);
      const okKey = await mint(200, {}, own);
      const orderId = newOrderId();
      const fast = await caught(gateway.confirm({ paymentKey: okKey, orderId, amount: 200 }));
      expect(fast).toBeInstanceOf(GatewayUnavailableError);
      expect(fast).toMatchObject({ reason: 'breaker_open' });
      await expect(gateway.findByOrderId(orderId)).rejects.toMatchObject({ reason: 'breaker_open' });
      expect(await apiRequests(own)).toBe(before);
      expect((await ledgerOf(orderId, own)).attempts).toHaveLength(0);

      // After resetTimeoutMs: one trial call; its success closes the breaker.
      await until(() => gateway.breakerState() === 'halfOpen');
      const payment = await gateway.confirm({ paymentKey: okKey, orderId, amount: 200 });
      expect(payment.status).toBe('DONE');
      expect(gateway.breakerState()).toBe('closed');
      expect(states).toEqual(['open', 'halfOpen', 'closed']);
      expect(await apiRequests(own)).toBe(before + 1);
    } finally {
      await own.close();
    }
  });

  it('timeouts count as failures too; a failed trial call opens it again', async () => {
    const own = await startFakeGateway({ port: 0, secretKey: SECRET });
    try {
      const gateway = client({ timeoutMs: 100, retries: 0, breaker: { volumeThreshold: 2, resetTimeoutMs: 200 } }, own);
      for (let i = 0; i < 2; i++) {
        const err = await caught(gateway.confirm({ paymentKey: await mint(100, { behavior: 'slow', delayMs: 400 }, own), orderId: newOrderId(), amount: 100 }));
        expect(err).toBeInstanceOf(GatewayTimeoutError);
      }
      expect(gateway.breakerState()).toBe('open');

      await until(() => gateway.breakerState() === 'halfOpen');
      const trial = await caught(gateway.confirm({ paymentKey: await mint(100, { behavior: 'fail5xx', times: 1 }, own), orderId: newOrderId(), amount: 100 }));
      expect(trial).toMatchObject({ reason: 'server_error' });
      expect(gateway.breakerState()).toBe('open');
    } finally {
      await own.close();
    }
  });

  it('business declines (4xx) do not count: the breaker stays closed', async () => {
    const gateway = client({ retries: 0, breaker: { volumeThreshold: 2, errorThresholdPercentage: 10 } });
    for (let i = 0; i < 6; i++) {
      const err = await caught(gateway.confirm({ paymentKey: await mint(100, { behavior: 'decline' }), orderId: newOrderId(), amount: 100 }));
      expect(err).toBeInstanceOf(PaymentDeclinedError);
    }
    expect(await gateway.findByOrderId(newOrderId())).toBeNull();
    expect(gateway.breakerState()).toBe('closed');
  });
});
