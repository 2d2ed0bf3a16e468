import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeGateway, type FakeGateway, type Ledger } from '@bazaar/fake-gateway';
import {
  GatewayRequestError,
  GatewayTimeoutError,
  GatewayUnavailableError,
  PaymentDeclinedError,
  PaymentGatewayClient,
  billingChargeKey,
  type GatewayBilling,
  type PaymentGatewayClientOptions,
} from './payment-gateway.client';

/**
 * The client's billing calls (issue, charge, delete) against a real fake gateway on a free port, with its
 * billing fault switches: what each answer becomes, what is retried, and that a charge is made once.
 */

const SECRET = 'test_sk_worker_gateway_billing_spec';

let gw: FakeGateway;
const clients: PaymentGatewayClient[] = [];

beforeAll(async () => {
  gw = await startFakeGateway({ port: 0, secretKey: SECRET });
});
afterAll(async () => {
  for (const c of clients) c.shutdown();
  await gw.close();
});

function client(opts: Partial<PaymentGatewayClientOptions> = {}): PaymentGatewayClient {
  const c = new PaymentGatewayClient({ baseUrl: gw.url, secretKey: SECRET, timeoutMs: 200, retries: 2, backoffMs: 10, ...opts });
  clients.push(c);
  return c;
}

const newOrderId = () => `ord_${randomUUID().replaceAll('-', '')}`;
const newCustomerKey = () => `ck_${randomUUID().replaceAll('-', '')}`;
const authKey = () => `test_auth_${randomUUID()}`;

async function setFault(billingKey: string, behavior: string, extra: { times?: number; delayMs?: number } = {}): Promise<void> {
  const res = await fetch(`${gw.url}/__test/billing-faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ billingKey, behavior, ...extra }),
  });
  expect(res.status).toBe(200);
}
const ledger = async (): Promise<Ledger> => (await fetch(`${gw.url}/__test/ledger`)).json() as Promise<Ledger>;
const chargesOf = async (orderId: string) => (await ledger()).charges.filter((c) => c.orderId === orderId);
const attemptsOf = async (orderId: string) =>
  (await ledger()).billingAttempts.filter((a) => a.orderId === orderId).map((a) => ({ status: a.status, replayed: a.replayed }));
async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function issued(gateway = client()): Promise<GatewayBilling> {
  return gateway.issueBillingKey({ authKey: authKey(), customerKey: newCustomerKey() });
}
const order = (customerKey: string, amount = 9_900) => ({ customerKey, amount, orderId: newOrderId(), orderName: '정기배송 외 1건' });

describe('issueBillingKey', () => {
  it('→ the billing key, its customerKey and the card summary', async () => {
    const customerKey = newCustomerKey();
    const b = await client().issueBillingKey({ authKey: authKey(), customerKey });
    expect(b).toEqual({
      customerKey,
      billingKey: expect.stringMatching(/^bk_/) as string,
      method: '카드',
      authenticatedAt: expect.any(String) as string,
      card: {
        issuerCode: expect.any(String) as string,
        acquirerCode: expect.any(String) as string,
        number: expect.any(String) as string,
        cardType: '신용',
        ownerType: '개인',
      },
    });
  });

  it('an authKey the gateway does not accept → GatewayRequestError INVALID_BILL_KEY_REQUEST, sent once', async () => {
    const err = await caught(client().issueBillingKey({ authKey: 'not-a-test-auth-key', customerKey: newCustomerKey() }));
    expect(err).toBeInstanceOf(GatewayRequestError);
    expect(err).toMatchObject({ code: 'INVALID_BILL_KEY_REQUEST', status: 400 });
  });
});

describe('chargeBillingKey', () => {
  it('→ the Payment (DONE, the order id), charged once, under the order’s Idempotency-Key', async () => {
    const gateway = client();
    const b = await issued(gateway);
    const o = order(b.customerKey, 12_000);
    const p = await gateway.chargeBillingKey(b.billingKey, o);
    expect(p).toMatchObject({ orderId: o.orderId, status: 'DONE', totalAmount: 12_000, balanceAmount: 12_000 });
    expect(await chargesOf(o.orderId)).toEqual([expect.objectContaining({ paymentKey: p.paymentKey, amount: 12_000, billingKey: b.billingKey })]);
    expect((await ledger()).billingAttempts.filter((a) => a.orderId === o.orderId).map((a) => a.idempotencyKey)).toEqual([billingChargeKey(o.orderId)]);
    // Charged again for the same order (a job that ran twice): the same Payment, nothing more.
    expect(await gateway.chargeBillingKey(b.billingKey, o)).toEqual(p);
    expect(await chargesOf(o.orderId)).toHaveLength(1);
    // And it is a payment like any other: looked up by order id.
    expect(await gateway.findByOrderId(o.orderId)).toEqual(p);
  });

  it('declined → PaymentDeclinedError REJECT_CARD_PAYMENT, sent once, nothing charged', async () => {
    const gateway = client();
    const b = await issued(gateway);
    await setFault(b.billingKey, 'decline', { times: 5 });
    const o = order(b.customerKey);
    const err = await caught(gateway.chargeBillingKey(b.billingKey, o));
    expect(err).toBeInstanceOf(PaymentDeclinedError);
    expect(err).toMatchObject({ code: 'REJECT_CARD_PAYMENT' });
    expect(await attemptsOf(o.orderId)).toEqual([{ status: 400, replayed: false }]);
    expect(await chargesOf(o.orderId)).toHaveLength(0);
  });

  it('a lost answer → sent again with the same key, gets the replay: charged exactly once', async () => {
    const gateway = client();
    const b = await issued(gateway);
    await setFault(b.billingKey, 'lost');
    const o = order(b.customerKey);
    const p = await gateway.chargeBillingKey(b.billingKey, o);
    expect(p).toMatchObject({ orderId: o.orderId, status: 'DONE' });
    expect(await attemptsOf(o.orderId)).toEqual([
      { status: null, replayed: false },
      { status: 200, replayed: true },
    ]);
    expect(await chargesOf(o.orderId)).toHaveLength(1);
  });

  it('an answer later than timeoutMs → sent again with the same key, gets the replay: charged exactly once', async () => {
    const gateway = client();
    const b = await issued(gateway);
    await setFault(b.billingKey, 'slow', { delayMs: 500 });
    const o = order(b.customerKey);
    expect(await gateway.chargeBillingKey(b.billingKey, o)).toMatchObject({ orderId: o.orderId, status: 'DONE' });
    expect(await chargesOf(o.orderId)).toHaveLength(1);
  });

  it('5xx ×2 → retried, then charged once; 5xx past the retries → GatewayUnavailableError, nothing charged', async () => {
    const gateway = client();
    const b = await issued(gateway);
    await setFault(b.billingKey, 'fail5xx', { times: 2 });
    const o = order(b.customerKey);
    expect((await gateway.chargeBillingKey(b.billingKey, o)).status).toBe('DONE');
    expect((await attemptsOf(o.orderId)).map((a) => a.status)).toEqual([500, 500, 200]);

    await setFault(b.billingKey, 'fail5xx', { times: 3 });
    const o2 = order(b.customerKey);
    const err = await caught(gateway.chargeBillingKey(b.billingKey, o2));
    expect(err).toBeInstanceOf(GatewayUnavailableError);
    expect(await chargesOf(o2.orderId)).toHaveLength(0);
  });

  it('refusals: another customerKey, a deleted key, an order already charged under another key → GatewayRequestError with the code, sent once', async () => {
    const gateway = client();
    const b = await issued(gateway);
    const other = await issued(gateway);
    const mismatch = order(other.customerKey);
    expect(await caught(gateway.chargeBillingKey(b.billingKey, mismatch))).toMatchObject({ code: 'NOT_MATCHES_CUSTOMER_KEY', status: 400 });
    expect(await attemptsOf(mismatch.orderId)).toHaveLength(1);

    const charged = order(b.customerKey);
    await gateway.chargeBillingKey(b.billingKey, charged);
    // The same order id from another key (another job's Idempotency-Key): refused, never a second charge.
    const dup = await caught(gateway.chargeBillingKey(other.billingKey, { ...charged, customerKey: other.customerKey }));
    expect(dup).toBeInstanceOf(GatewayRequestError);
    expect(dup).toMatchObject({ code: 'DUPLICATED_ORDER_ID' });
    expect(await chargesOf(charged.orderId)).toHaveLength(1);

    await gateway.deleteBillingKey(b.billingKey);
    expect(await caught(gateway.chargeBillingKey(b.billingKey, order(b.customerKey)))).toMatchObject({ code: 'ALREADY_REMOVED_BILLING_KEY' });
  });

  it('errors name the billing key by its first characters only', async () => {
    const gateway = client();
    const b = await issued(gateway);
    const err = (await caught(gateway.chargeBillingKey(b.billingKey, order(newCustomerKey())))) as Error;
    expect(err.message).toContain(`/v1/billing/${b.billingKey.slice(0, 6)}…`);
    expect(err.message).not.toContain(b.billingKey);
  });

  it('no answer at all → sent 1 + retries times with the same key, then GatewayTimeoutError (unknown: look the order up)', async () => {
    const seen: (string | undefined)[] = [];
    const silent = createServer((req) => {
      seen.push(req.headers['idempotency-key'] as string | undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const gateway = new PaymentGatewayClient({
        baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        secretKey: SECRET,
        timeoutMs: 100,
        retries: 2,
        backoffMs: 5,
      });
      clients.push(gateway);
      const o = order(newCustomerKey());
      expect(await caught(gateway.chargeBillingKey('bk_whatever', o))).toBeInstanceOf(GatewayTimeoutError);
      expect(seen).toEqual([billingChargeKey(o.orderId), billingChargeKey(o.orderId), billingChargeKey(o.orderId)]);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('deleteBillingKey', () => {
  it('deletes; again → done as well (ALREADY_REMOVED_BILLING_KEY counts as deleted); an unknown key → GatewayRequestError', async () => {
    const gateway = client();
    const b = await issued(gateway);
    await gateway.deleteBillingKey(b.billingKey);
    await gateway.deleteBillingKey(b.billingKey);
    expect((await ledger()).billingKeys.find((k) => k.billingKey === b.billingKey)?.deletedAt).toEqual(expect.any(String));
    expect(await caught(gateway.deleteBillingKey('bk_unknown'))).toMatchObject({ code: 'INVALID_BILL_KEY_REQUEST' });
  });
});
