import type { DataSource } from 'typeorm';
import { startFakeGateway, type FakeGateway, type Ledger } from '@bazaar/fake-gateway';
import { createDataSource, selectRows } from '@bazaar/db';
import { loadConfig } from '@bazaar/platform';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { DELIVERY, PASSWORD, eventually, uniqueEmail } from '../support/api-harness';
import { startProcess, type RunningProcess } from '../support/processes';
import { isolatedEnv } from '../support/isolated-env';
import type { TestEnv } from '../support/test-env';

/**
 * The card payment saga against the fake gateway (a real HTTP server) with
 * the real api, worker and scheduler processes: every fault ends fully PAID
 * or fully compensated, and the gateway's own books show no orphan charge.
 */
describe('card payments and cancellation', () => {
  jest.setTimeout(180_000);
  let gw: FakeGateway;
  let api: RunningProcess;
  let worker: RunningProcess;
  let scheduler: RunningProcess;
  let ds: DataSource;
  let url: string;
  let seller: BazaarClient;
  let storeId: number;
  const workerEnv = () => ({
    PAYMENT_GATEWAY_URL: gw.url,
    PAYMENT_TIMEOUT_MS: '300',
    PAYMENT_RETRIES: '2',
    PAYMENT_BREAKER_RESET_MS: '1000',
    WORKER_LOCK_MS: '3000',
  });
  const schedulerEnv = (expirySeconds: number) => ({
    RECONCILE_CRON: '* * * * * *',
    RECONCILE_AFTER_SECONDS: '3',
    EXPIRY_CRON: '* * * * * *',
    CARD_PAYMENT_EXPIRY_SECONDS: String(expirySeconds),
  });

  let env: TestEnv;

  beforeAll(async () => {
    env = await isolatedEnv('saga');
    gw = await startFakeGateway({ port: 0, host: '127.0.0.1', secretKey: 'test_sk_bazaar' });
    [api, worker, scheduler] = await Promise.all([
      startProcess('api', { ...env, CANCEL_WAIT_MS: '5000' }),
      startProcess('worker', { ...env, ...workerEnv() }),
      startProcess('scheduler', { ...env, ...schedulerEnv(600) }),
    ]);
    url = `http://127.0.0.1:${api.port}`;
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    const s = await account('SELLER');
    seller = s.client;
    storeId = (await seller.stores.create.mutate({ name: 'Card store' })).id;
  });

  afterAll(async () => {
    await Promise.all([api, worker, scheduler].filter(Boolean).map((p) => p.stop()));
    await ds?.destroy();
    await gw?.close();
  });

  async function account(role: 'CUSTOMER' | 'SELLER') {
    const anon = bazaarClient(url, { batch: false });
    const email = uniqueEmail(role.toLowerCase());
    const user = await anon.auth.signup.mutate({ email, password: PASSWORD, name: role, role });
    const { token } = await anon.auth.login.mutate({ email, password: PASSWORD });
    return { user, client: bazaarClient(url, { token, batch: false }) };
  }

  async function product(stock: number, price = 10_000) {
    return seller.products.create.mutate({ storeId, name: `Card item ${Math.random()}`, description: '', price, stock });
  }

  async function mintKey(amount: number, behavior: string, extra: Record<string, number> = {}): Promise<string> {
    const res = await fetch(`${gw.url}/__test/payment-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount, behavior, ...extra }),
    });
    return ((await res.json()) as { paymentKey: string }).paymentKey;
  }

  const ledger = async (): Promise<Ledger> => (await fetch(`${gw.url}/__test/ledger`)).json() as Promise<Ledger>;
  const stockOf = async (productId: number) => (await bazaarClient(url).products.get.query({ productId })).stock;

  /** What the gateway holds for an order: charged minus cancelled. */
  async function heldAtGateway(orderId: string): Promise<number> {
    const l = await ledger();
    const keys = new Set(l.charges.filter((c) => c.orderId === orderId).map((c) => c.paymentKey));
    const charged = l.charges.filter((c) => c.orderId === orderId).reduce((s, c) => s + c.amount, 0);
    const cancelled = l.cancels.filter((c) => keys.has(c.paymentKey)).reduce((s, c) => s + c.amount, 0);
    return charged - cancelled;
  }

  async function placeCard(client: BazaarClient, productId: number, quantity: number, paymentKey: string, key: string) {
    return client.orders.place.mutate({ idempotencyKey: key, items: [{ productId, quantity }], paymentMethod: 'CARD', paymentKey, fulfillment: DELIVERY });
  }

  const settled = (client: BazaarClient, orderId: string) =>
    eventually(
      () => client.orders.get.query({ orderId }),
      (o) => o.status !== 'PENDING',
      60_000,
      150,
    );

  it.each([
    ['ok', {}],
    ['fail5xx', { times: 2 }],
    ['slow', { delayMs: 800 }],
    ['lost', {}],
  ])('confirm %s → PAID, charged exactly once', async (behavior, extra) => {
    const { client } = await account('CUSTOMER');
    const p = await product(5);
    const key = await mintKey(20_000, behavior, extra);
    const { orderId } = await placeCard(client, p.id, 2, key, `card-${behavior}-1`);
    const order = await settled(client, orderId);
    expect(order).toMatchObject({ status: 'PAID', cashPaid: 20_000 });
    expect(await heldAtGateway(orderId)).toBe(20_000);
    expect((await ledger()).charges.filter((c) => c.orderId === orderId)).toHaveLength(1);
    expect(await stockOf(p.id)).toBe(3);
    const [pay] = await selectRows<{ status: string }>(ds, 'SELECT status FROM payments WHERE order_id = ?', [orderId]);
    expect(pay?.status).toBe('DONE');
  });

  it('a declined card → FAILED / PAYMENT_DECLINED, stock and gate back, nothing charged', async () => {
    const { client } = await account('CUSTOMER');
    const p = await product(1);
    const key = await mintKey(10_000, 'decline');
    const { orderId } = await placeCard(client, p.id, 1, key, 'card-decline-1');
    expect(await settled(client, orderId)).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED' });
    expect(await stockOf(p.id)).toBe(1);
    expect(await heldAtGateway(orderId)).toBe(0);
    // The gate gave the unit back: the next order for the last unit is accepted and paid.
    const ok = await placeCard(client, p.id, 1, await mintKey(10_000, 'ok'), 'card-decline-2');
    expect((await settled(client, ok.orderId)).status).toBe('PAID');
  });

  it('MySQL failing after the charge → the charge is cancelled, the order FAILED / PAYMENT_ERROR, stock back', async () => {
    const { client } = await account('CUSTOMER');
    const p = await product(2);
    const key = await mintKey(10_000, 'ok');
    // A real MySQL error on exactly this payment's PAID commit.
    await ds.query(`DROP TRIGGER IF EXISTS fail_paid_commit`);
    await ds.query(
      `CREATE TRIGGER fail_paid_commit BEFORE UPDATE ON payments FOR EACH ROW
       BEGIN IF NEW.payment_key = '${key}' AND NEW.status = 'DONE' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END`,
    );
    try {
      const { orderId } = await placeCard(client, p.id, 1, key, 'card-mysql-fail');
      expect(await settled(client, orderId)).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_ERROR' });
      expect(await heldAtGateway(orderId)).toBe(0);
      expect((await ledger()).charges.filter((c) => c.orderId === orderId)).toHaveLength(1);
      expect(await stockOf(p.id)).toBe(2);
    } finally {
      await ds.query(`DROP TRIGGER IF EXISTS fail_paid_commit`);
    }
  });

  it('cancelling a PAID card order cancels the charge and returns the stock', async () => {
    const { client } = await account('CUSTOMER');
    const p = await product(3);
    const { orderId } = await placeCard(client, p.id, 2, await mintKey(20_000, 'ok'), 'card-cancel-paid');
    expect((await settled(client, orderId)).status).toBe('PAID');
    const res = await client.orders.cancel.mutate({ orderId });
    expect(res).toMatchObject({ orderId, status: 'CANCELLED', cancellation: 'COMPLETED' });
    expect((await client.orders.get.query({ orderId })).status).toBe('CANCELLED');
    expect(await heldAtGateway(orderId)).toBe(0);
    expect(await stockOf(p.id)).toBe(3);
    // Twice is the same as once: one refund of kind CANCEL, one cancel at the gateway under its id.
    expect((await client.orders.cancel.mutate({ orderId })).status).toBe('CANCELLED');
    const refunds = (await client.refunds.list.query({ orderId })).items;
    expect(refunds).toMatchObject([{ kind: 'CANCEL', status: 'COMPLETED', cashReturned: 20_000 }]);
    expect((await ledger()).cancels.filter((c) => c.idempotencyKey === refunds[0]!.id)).toHaveLength(1);
  });

  it('cancelling a PAID balance order refunds the wallet once and returns the stock', async () => {
    const { client } = await account('CUSTOMER');
    const p = await product(4, 3_000);
    await client.wallet.charge.mutate({ amount: 10_000, idempotencyKey: 'cancel-bal-topup' });
    const { orderId } = await client.orders.place.mutate({
      idempotencyKey: 'cancel-bal-1',
      items: [{ productId: p.id, quantity: 3 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    expect((await settled(client, orderId)).status).toBe('PAID');
    expect((await client.wallet.balance.query()).balance).toBe(1_000);
    const results = await Promise.all(Array.from({ length: 10 }, () => client.orders.cancel.mutate({ orderId })));
    expect(results.every((r) => r.status === 'CANCELLED')).toBe(true);
    expect((await client.wallet.balance.query()).balance).toBe(10_000);
    expect(await stockOf(p.id)).toBe(4);
    // One refund (kind CANCEL) and one wallet credit, under the refund's id.
    const [cancelRefund, ...more] = (await client.refunds.list.query({ orderId })).items;
    expect(more).toEqual([]);
    expect(cancelRefund).toMatchObject({ kind: 'CANCEL', status: 'COMPLETED', cashReturned: 9_000 });
    const refunds = (await client.wallet.history.query({})).items.filter((e) => e.kind === 'ORDER_REFUND');
    expect(refunds).toEqual([expect.objectContaining({ amount: 9_000, ref: cancelRefund!.id })]);
    // A failed order has nothing to cancel.
    await expect(client.orders.cancel.mutate({ orderId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
  });

  it('cancelling an order still waiting in the queue: it is never applied, its units come back', async () => {
    const { client } = await account('CUSTOMER');
    const p = await product(1, 1_000);
    await client.wallet.charge.mutate({ amount: 5_000, idempotencyKey: 'cancel-pend-topup' });
    await worker.stop();
    try {
      const { orderId } = await client.orders.place.mutate({
        idempotencyKey: 'cancel-pend-1',
        items: [{ productId: p.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });
      // The only unit is held by that order: the gate refuses another.
      await expect(
        client.orders.place.mutate({
          idempotencyKey: 'cancel-pend-2',
          items: [{ productId: p.id, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
        }),
      ).rejects.toMatchObject({
        data: { code: 'PRECONDITION_FAILED', reason: 'OUT_OF_STOCK' },
      });
      const res = await client.orders.cancel.mutate({ orderId });
      expect(res).toMatchObject({ status: 'PENDING', cancellation: 'QUEUED' });
      worker = await startProcess('worker', { ...env, ...workerEnv() });
      expect((await settled(client, orderId)).status).toBe('CANCELLED');
      // Never applied: no debit, no refund in the ledger.
      expect((await client.wallet.history.query({})).items.map((e) => e.kind)).toEqual(['CHARGE']);
      expect((await client.wallet.balance.query()).balance).toBe(5_000);
      expect(await stockOf(p.id)).toBe(1);
      const again = await client.orders.place.mutate({
        idempotencyKey: 'cancel-pend-3',
        items: [{ productId: p.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });
      expect((await settled(client, again.orderId)).status).toBe('PAID');
    } finally {
      if (worker.child.exitCode !== null) worker = await startProcess('worker', { ...env, ...workerEnv() });
    }
  });

  it('a card order left awaiting payment expires: CANCELLED, units back, nothing charged', async () => {
    await scheduler.stop();
    scheduler = await startProcess('scheduler', { ...env, ...schedulerEnv(4) });
    const { client } = await account('CUSTOMER');
    const p = await product(2);
    // The gateway fails every confirm: the order stays reserved, awaiting payment, until it expires.
    const key = await mintKey(10_000, 'fail5xx', { times: 1_000 });
    const { orderId } = await placeCard(client, p.id, 1, key, 'card-expire-1');
    await eventually(
      () => selectRows<{ status: string }>(ds, 'SELECT status FROM orders WHERE id = ?', [orderId]),
      (rows) => rows[0]?.status === 'PENDING',
      10_000,
    );
    expect(await stockOf(p.id)).toBe(1);
    expect(await settled(client, orderId)).toMatchObject({ status: 'CANCELLED' });
    expect(await stockOf(p.id)).toBe(2);
    expect(await heldAtGateway(orderId)).toBe(0);
  });

  it('leaves no orphan charge: every charge at the gateway belongs to a PAID order or was cancelled', async () => {
    const l = await ledger();
    const held = new Map<string, number>();
    for (const c of l.charges) held.set(c.orderId, (held.get(c.orderId) ?? 0) + c.amount);
    for (const c of l.cancels) {
      const orderId = l.charges.find((x) => x.paymentKey === c.paymentKey)?.orderId ?? '';
      held.set(orderId, (held.get(orderId) ?? 0) - c.amount);
    }
    for (const [orderId, amount] of held) {
      const [o] = await selectRows<{ status: string; cash_paid: number }>(ds, 'SELECT status, cash_paid FROM orders WHERE id = ?', [orderId]);
      if (amount > 0) expect({ orderId, status: o?.status, amount }).toEqual({ orderId, status: 'PAID', amount: Number(o?.cash_paid) });
      else expect(amount).toBe(0);
    }
  });
});
