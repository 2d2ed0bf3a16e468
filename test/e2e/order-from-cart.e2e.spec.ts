import type { DataSource } from 'typeorm';
import { startFakeGateway, type FakeGateway } from '@bazaar/fake-gateway';
import { createDataSource, selectRows } from '@bazaar/db';
import { loadConfig } from '@bazaar/platform';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { DELIVERY, PASSWORD, eventually, uniqueEmail } from '../support/api-harness';
import { startProcess, type RunningProcess } from '../support/processes';
import { isolatedEnv } from '../support/isolated-env';
import type { TestEnv } from '../support/test-env';
import { expectBadField, expectCode } from '../support/trpc-expect';

/**
 * orders.place with fromCart: true, end to end (the real api, a worker, a
 * scheduler and the fake card gateway): the cart is ordered as it is when the
 * order is accepted, the ordered quantities leave the cart when the order is
 * PAID (balance or card), and a refused or failed order leaves it alone.
 */
describe('ordering from the cart end to end', () => {
  jest.setTimeout(180_000);
  let gw: FakeGateway;
  let procs: RunningProcess[] = [];
  let url: string;
  let ds: DataSource;
  let env: TestEnv;
  let seller: BazaarClient;
  let storeId: number;

  beforeAll(async () => {
    env = await isolatedEnv('fromcart');
    gw = await startFakeGateway({ port: 0, host: '127.0.0.1', secretKey: 'test_sk_bazaar' });
    procs = await Promise.all([
      startProcess('api', { ...env }),
      startProcess('worker', { ...env, PAYMENT_GATEWAY_URL: gw.url, PAYMENT_TIMEOUT_MS: '1000' }),
      startProcess('scheduler', { ...env, RECONCILE_CRON: '* * * * * *', RECONCILE_AFTER_SECONDS: '3', POPULAR_CRON: '* * * * * *' }),
    ]);
    url = `http://127.0.0.1:${procs[0]!.port}`;
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_POOL_SIZE: 2 });
    await ds.initialize();
    seller = (await account('SELLER')).client;
    storeId = (await seller.stores.create.mutate({ name: 'Cart store' })).id;
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
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

  async function customer(balance: number) {
    const c = await account('CUSTOMER');
    if (balance > 0) await c.client.wallet.charge.mutate({ amount: balance, idempotencyKey: `cart-topup-${c.user.id}` });
    return c.client;
  }

  const product = (price: number, stock: number) =>
    seller.products.create.mutate({ storeId, name: `Cart item ${Math.random()}`, description: '', price, stock });
  const stockOf = async (productId: number) => (await bazaarClient(url).products.get.query({ productId })).stock;
  const cartOf = async (client: BazaarClient) => (await client.cart.list.query()).items.map((l) => [l.productId, l.quantity]);
  const placeFromCart = (client: BazaarClient, idempotencyKey: string, extra: { paymentMethod?: 'BALANCE' | 'CARD'; paymentKey?: string } = {}) =>
    client.orders.place.mutate({ idempotencyKey, fromCart: true, paymentMethod: 'BALANCE', fulfillment: DELIVERY, ...extra });
  const settled = (client: BazaarClient, orderId: string) =>
    eventually(
      () => client.orders.get.query({ orderId }),
      (o) => o.status !== 'PENDING',
      60_000,
      150,
    );

  async function mintKey(amount: number, behavior: 'ok' | 'decline'): Promise<string> {
    const res = await fetch(`${gw.url}/__test/payment-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount, behavior }),
    });
    return ((await res.json()) as { paymentKey: string }).paymentKey;
  }

  it('BALANCE: orders every cart line; once PAID exactly the ordered quantities leave the cart (units added after ordering stay)', async () => {
    const a = await product(1_000, 10);
    const b = await product(2_500, 10);
    const c = await product(300, 10);
    const buyer = await customer(20_000);
    await buyer.cart.add.mutate({ productId: a.id, quantity: 2 });
    await buyer.cart.add.mutate({ productId: b.id, quantity: 1 });

    const { orderId, status } = await placeFromCart(buyer, 'cart-balance-1');
    expect(status).toBe('PENDING');
    // Added after ordering: whether the worker has settled yet or not, these stay.
    await buyer.cart.add.mutate({ productId: a.id, quantity: 3 });
    await buyer.cart.add.mutate({ productId: c.id, quantity: 1 });

    const order = await settled(buyer, orderId);
    expect(order).toMatchObject({ status: 'PAID', itemsTotal: 4_500, cashPaid: 4_500 });
    expect(order.items.map((l) => [l.productId, l.quantity, l.unitPrice])).toEqual([
      [a.id, 2, 1_000],
      [b.id, 1, 2_500],
    ]);
    expect(await cartOf(buyer)).toEqual([
      [a.id, 3],
      [c.id, 1],
    ]);
    expect((await buyer.wallet.balance.query()).balance).toBe(15_500);
    expect([await stockOf(a.id), await stockOf(b.id), await stockOf(c.id)]).toEqual([8, 9, 10]);
  });

  it('one key, one order: 20 concurrent places, then retries after the cart changed and after it was paid, answer with the same order', async () => {
    const a = await product(700, 50);
    const buyer = await customer(10_000);
    await buyer.cart.add.mutate({ productId: a.id, quantity: 2 });

    const answers = await Promise.all(Array.from({ length: 20 }, () => placeFromCart(buyer, 'cart-idem-1')));
    const orderId = answers[0]!.orderId;
    expect(new Set(answers.map((x) => x.orderId))).toEqual(new Set([orderId]));
    expect((await settled(buyer, orderId)).status).toBe('PAID');
    expect(await cartOf(buyer)).toEqual([]);

    // The cart is empty now: a retry of the same request still gets its order, not "your cart is empty".
    expect(await placeFromCart(buyer, 'cart-idem-1')).toEqual({ orderId, status: 'PENDING' });
    // The cart changed: a retry still gets the first order, and the new line is not ordered.
    await buyer.cart.add.mutate({ productId: a.id, quantity: 5 });
    expect((await placeFromCart(buyer, 'cart-idem-1')).orderId).toBe(orderId);
    expect((await buyer.orders.list.query({})).items.map((o) => o.id)).toEqual([orderId]);
    expect(await cartOf(buyer)).toEqual([[a.id, 5]]);
    expect((await buyer.wallet.balance.query()).balance).toBe(10_000 - 1_400);
    expect(await stockOf(a.id)).toBe(48);

    // The same key with other parameters (the lines given as items, or another payment) is a CONFLICT.
    await expectCode(
      buyer.orders.place.mutate({ idempotencyKey: 'cart-idem-1', items: [{ productId: a.id, quantity: 2 }], paymentMethod: 'BALANCE', fulfillment: DELIVERY }),
      'CONFLICT',
    );
    await expectCode(placeFromCart(buyer, 'cart-idem-1', { paymentMethod: 'CARD', paymentKey: 'pk_any' }), 'CONFLICT');
  });

  it('duplicates racing for the last units get the first order, never OUT_OF_STOCK (items and fromCart)', async () => {
    const one = await product(100, 1);
    const two = await product(100, 2);
    const buyer = await customer(10_000);
    await buyer.cart.add.mutate({ productId: two.id, quantity: 2 });
    const byItems = () =>
      buyer.orders.place.mutate({
        idempotencyKey: 'last-unit-1',
        items: [{ productId: one.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });

    const [itemsAnswers, cartAnswers] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, byItems)),
      Promise.all(Array.from({ length: 20 }, () => placeFromCart(buyer, 'last-units-2'))),
    ]);

    expect(new Set(itemsAnswers.map((a) => a.orderId)).size).toBe(1);
    expect(new Set(cartAnswers.map((a) => a.orderId)).size).toBe(1);
    for (const { orderId } of [itemsAnswers[0]!, cartAnswers[0]!]) expect((await settled(buyer, orderId)).status).toBe('PAID');
    expect((await buyer.orders.list.query({})).items).toHaveLength(2);
    expect([await stockOf(one.id), await stockOf(two.id)]).toEqual([0, 0]);
    expect(await cartOf(buyer)).toEqual([]);
  });

  it('INSUFFICIENT_BALANCE: the order FAILED, the cart is unchanged', async () => {
    const a = await product(9_000, 5);
    const buyer = await customer(10_000);
    await buyer.cart.add.mutate({ productId: a.id, quantity: 2 });
    const { orderId } = await placeFromCart(buyer, 'cart-poor-1');
    expect(await settled(buyer, orderId)).toMatchObject({ status: 'FAILED', failureReason: 'INSUFFICIENT_BALANCE' });
    expect(await cartOf(buyer)).toEqual([[a.id, 2]]);
    expect((await buyer.wallet.balance.query()).balance).toBe(10_000);
    expect(await stockOf(a.id)).toBe(5);
  });

  it('more in the cart than is in stock: refused at the door with OUT_OF_STOCK, the cart is unchanged', async () => {
    const a = await product(100, 10);
    const scarce = await product(100, 2);
    const buyer = await customer(10_000);
    await buyer.cart.add.mutate({ productId: a.id, quantity: 1 });
    await buyer.cart.add.mutate({ productId: scarce.id, quantity: 3 });
    const err = await expectCode(placeFromCart(buyer, 'cart-scarce-1'), 'PRECONDITION_FAILED');
    expect(err.data).toMatchObject({ reason: 'OUT_OF_STOCK' });
    expect(err.message).toContain('in your cart');
    expect(await cartOf(buyer)).toEqual([
      [a.id, 1],
      [scarce.id, 3],
    ]);
    expect((await buyer.orders.list.query({})).items).toEqual([]);
    expect([await stockOf(a.id), await stockOf(scarce.id)]).toEqual([10, 2]);
  });

  it('refuses an empty cart, items together with fromCart, and a cart holding a product no longer on sale, naming the field', async () => {
    const buyer = await customer(10_000);
    await expectBadField(placeFromCart(buyer, 'cart-empty-1'), 'fromCart');

    const a = await product(100, 10);
    await expectBadField(
      buyer.orders.place.mutate({
        idempotencyKey: 'cart-both-1',
        items: [{ productId: a.id, quantity: 1 }],
        fromCart: true,
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      }),
      'fromCart',
    );

    const gone = await product(100, 10);
    await buyer.cart.add.mutate({ productId: a.id, quantity: 1 });
    await buyer.cart.add.mutate({ productId: gone.id, quantity: 1 });
    await seller.products.remove.mutate({ productId: gone.id });
    await expectBadField(placeFromCart(buyer, 'cart-gone-1'), 'fromCart');

    expect((await buyer.orders.list.query({})).items).toEqual([]);
    expect((await buyer.wallet.balance.query()).balance).toBe(10_000);
    // Refusals remember nothing: once the cart is fixed, the same key places the order.
    await buyer.cart.remove.mutate({ productId: gone.id });
    const { orderId } = await placeFromCart(buyer, 'cart-gone-1');
    expect((await settled(buyer, orderId)).status).toBe('PAID');
    expect(await cartOf(buyer)).toEqual([]);
  });

  it('CARD: the cart is cleared once the payment is confirmed and the order PAID; a declined card leaves it alone', async () => {
    const a = await product(4_000, 10);
    const b = await product(1_000, 10);
    const { client: buyer } = await account('CUSTOMER');
    await buyer.cart.add.mutate({ productId: a.id, quantity: 2 });
    await buyer.cart.add.mutate({ productId: b.id, quantity: 2 });

    const declined = await placeFromCart(buyer, 'cart-card-decline', { paymentMethod: 'CARD', paymentKey: await mintKey(10_000, 'decline') });
    expect(await settled(buyer, declined.orderId)).toMatchObject({ status: 'FAILED', failureReason: 'PAYMENT_DECLINED' });
    expect(await cartOf(buyer)).toEqual([
      [a.id, 2],
      [b.id, 2],
    ]);

    const paid = await placeFromCart(buyer, 'cart-card-ok', { paymentMethod: 'CARD', paymentKey: await mintKey(10_000, 'ok') });
    expect(await settled(buyer, paid.orderId)).toMatchObject({ status: 'PAID', cashPaid: 10_000 });
    expect(await cartOf(buyer)).toEqual([]);
    const [payment] = await selectRows<{ status: string }>(ds, 'SELECT status FROM payments WHERE order_id = ?', [paid.orderId]);
    expect(payment?.status).toBe('DONE');
    expect([await stockOf(a.id), await stockOf(b.id)]).toEqual([8, 8]);
  });

  it("the scheduler's products.popular ranking counts what was bought from carts, and drops a product once removed", async () => {
    const hot = await product(100, 500);
    const buyer = await customer(100_000);
    await buyer.cart.add.mutate({ productId: hot.id, quantity: 60 });
    const { orderId } = await placeFromCart(buyer, 'cart-popular-1');
    expect((await settled(buyer, orderId)).status).toBe('PAID');

    // Every other product of this suite sold 4 units at most; the refresh runs every second here.
    const anon = bazaarClient(url, { batch: false });
    const top = await eventually(
      () => anon.products.popular.query(),
      (v) => v.items[0]?.id === hot.id,
      15_000,
      250,
    );
    expect(top.items[0]).toEqual({ id: hot.id, storeId, name: hot.name, price: 100, unitsSold: 60 });
    expect(top.items.length).toBeLessThanOrEqual(5);
    expect(top.items.map((p) => p.unitsSold)).toEqual([...top.items.map((p) => p.unitsSold)].sort((x, y) => y - x));

    await seller.products.remove.mutate({ productId: hot.id });
    expect((await anon.products.popular.query()).items.map((p) => p.id)).not.toContain(hot.id);
  });
});
