import type { DataSource } from 'typeorm';
import { startFakeGateway, type FakeGateway, type Ledger } from '@bazaar/fake-gateway';
import { FailureReason, OrderStatus, PaymentMethod } from '@bazaar/contracts';
import { BillingKeysRepository, createDataSource, execute, selectRows } from '@bazaar/db';
import { createLogger, loadConfig } from '@bazaar/platform';
import type { AcceptedOrder } from '@bazaar/queue';
import { DELIVERY } from '../../../test/support/api-harness';
import { acceptedOrderFor, line, sqlFixtures, type Product } from '../../../test/support/db-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { GatewayTimeoutError, GatewayUnavailableError, PaymentGatewayClient, type GatewayBilling } from '../src/gateway/payment-gateway.client';
import { billingOrderName } from '../src/workflows/apply-order/card-payment.workflow';
import { createOrderWorkflows } from '../src/workflows/order-workflows';

/**
 * The card saga charging a billing key (a subscription's cycle), against the real MariaDB and the fake
 * gateway over HTTP: reserve → charge by billing key → commit PAID with the gateway's paymentKey, or
 * compensate; a job that runs again after the charge charges nothing more; a key that is not the
 * customer's, or was deleted, charges nothing.
 */
describe('CardPaymentWorkflow by billing key (MariaDB + fake gateway)', () => {
  let ds: DataSource;
  let gw: FakeGateway;
  let gateway: PaymentGatewayClient;
  let wf: ReturnType<typeof createOrderWorkflows>;
  let billingKeys: BillingKeysRepository;

  beforeAll(async () => {
    const config = loadConfig({ ...testEnv() });
    ds = createDataSource({ ...config, MYSQL_POOL_SIZE: 10 }, { multipleStatements: true });
    await ds.initialize();
    gw = await startFakeGateway({ port: 0, secretKey: 'test_sk_billing_charge_spec' });
    gateway = new PaymentGatewayClient({ baseUrl: gw.url, secretKey: 'test_sk_billing_charge_spec', timeoutMs: 300, retries: 2, backoffMs: 10 });
    wf = createOrderWorkflows({ ds, gateway, gate: undefined as never, log: createLogger('worker-test', 'silent') });
    billingKeys = new BillingKeysRepository(ds);
  });

  afterAll(async () => {
    gateway?.shutdown();
    await gw?.close();
    await ds?.destroy();
  });

  const { newCustomer, newStore, newProduct } = sqlFixtures(() => ds);

  /** A customer with a billing key issued at the fake and recorded as theirs (what subscriptions.registerCard does). */
  async function customerWithCard(): Promise<{ userId: number; billing: GatewayBilling }> {
    const userId = await newCustomer(0);
    const customerKey = await billingKeys.customerKey(userId);
    const billing = await gateway.issueBillingKey({ authKey: `test_auth_${userId}_${Date.now()}`, customerKey });
    expect(await billingKeys.record(userId, { ...billing, authenticatedAt: null }, new Date())).toBe('stored');
    return { userId, billing };
  }

  const billingOrder = (userId: number, billingKey: string, lines: Product[]): AcceptedOrder => ({
    ...acceptedOrderFor(
      userId,
      lines.map((p) => line(p, 1)),
      { fulfillment: DELIVERY },
    ),
    paymentMethod: PaymentMethod.CARD,
    billingKey,
  });
  const product = async (price: number, stock = 10) => newProduct(await newStore('Billing store'), price, stock);
  const ledger = async (): Promise<Ledger> => (await fetch(`${gw.url}/__test/ledger`)).json() as Promise<Ledger>;
  const chargesOf = async (orderId: string) => (await ledger()).charges.filter((c) => c.orderId === orderId);
  const setFault = (billingKey: string, behavior: string, extra: Record<string, number> = {}) =>
    fetch(`${gw.url}/__test/billing-faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ billingKey, behavior, ...extra }),
    });
  const paymentRow = async (orderId: string) =>
    (
      await selectRows<{ payment_key: string; status: string; amount: number | string }>(
        ds,
        'SELECT payment_key, status, amount FROM payments WHERE order_id = ?',
        [orderId],
      )
    )[0];
  const stockOf = async (productId: number) =>
    Number((await selectRows<{ stock: number }>(ds, 'SELECT stock FROM products WHERE id = ?', [productId]))[0]!.stock);

  it('charges the exact amount once, commits PAID, and the payment row takes the gateway’s paymentKey', async () => {
    const { userId, billing } = await customerWithCard();
    const [a, b] = [await product(4_000), await product(2_500)];
    const order = billingOrder(userId, billing.billingKey, [a, b]);
    expect(await wf.apply.run(order)).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: true });
    const charges = await chargesOf(order.orderId);
    expect(charges).toEqual([expect.objectContaining({ amount: 6_500, billingKey: billing.billingKey })]);
    expect(await paymentRow(order.orderId)).toEqual({ payment_key: charges[0]!.paymentKey, status: 'DONE', amount: 6_500 });
    const [paid] = (await ledger()).payments.filter((p) => p.orderId === order.orderId);
    expect(paid).toMatchObject({ type: 'BILLING', orderName: billingOrderName(order) });
    expect(billingOrderName(order)).toBe(`${a.name} 외 1건`);
    // The job runs again: nothing more is charged.
    expect(await wf.apply.run(order)).toEqual({ status: OrderStatus.PAID, reason: null, appliedNow: false });
    expect(await chargesOf(order.orderId)).toHaveLength(1);
  });

  it('a decline → FAILED / PAYMENT_DECLINED, the stock back, nothing charged', async () => {
    const { userId, billing } = await customerWithCard();
    const p = await product(3_000, 1);
    await setFault(billing.billingKey, 'decline');
    const order = billingOrder(userId, billing.billingKey, [p]);
    expect(await wf.apply.run(order)).toEqual({ status: OrderStatus.FAILED, reason: FailureReason.PAYMENT_DECLINED, appliedNow: true });
    expect(await stockOf(p.id)).toBe(1);
    expect(await chargesOf(order.orderId)).toHaveLength(0);
    expect((await paymentRow(order.orderId))?.status).toBe('FAILED');
  });

  it('a lost answer → the client sends the charge again under the same key and gets it: charged once, PAID', async () => {
    const { userId, billing } = await customerWithCard();
    await setFault(billing.billingKey, 'lost');
    const order = billingOrder(userId, billing.billingKey, [await product(7_000)]);
    expect((await wf.apply.run(order)).status).toBe(OrderStatus.PAID);
    expect(await chargesOf(order.orderId)).toHaveLength(1);
    expect((await ledger()).billingAttempts.filter((x) => x.orderId === order.orderId).map((x) => [x.status, x.replayed])).toEqual([
      [null, false],
      [200, true],
    ]);
  });

  it('the answer lost and the gateway then unreachable: the order stays reserved; the next run looks it up and commits, charging nothing more', async () => {
    const { userId, billing } = await customerWithCard();
    const order = billingOrder(userId, billing.billingKey, [await product(5_000)]);
    const realCharge = gateway.chargeBillingKey.bind(gateway);
    const realFind = gateway.findByOrderId.bind(gateway);
    // Charged at the gateway, the answer never arrives; the look-up after it cannot reach the gateway either.
    const charge = jest.spyOn(gateway, 'chargeBillingKey').mockImplementationOnce(async (key, req) => {
      await realCharge(key, req);
      throw new GatewayTimeoutError('answer lost (test)');
    });
    const find = jest.spyOn(gateway, 'findByOrderId').mockImplementationOnce(async () => {
      throw new GatewayUnavailableError('down (test)', 'network');
    });
    try {
      await expect(wf.apply.run(order)).rejects.toThrow(/could not be looked up/);
      expect((await selectRows<{ status: string }>(ds, 'SELECT status FROM orders WHERE id = ?', [order.orderId]))[0]?.status).toBe(OrderStatus.PENDING);
      find.mockImplementation(realFind);
      // The job's next attempt: a resumed run asks the gateway first, finds the charge, commits.
      expect((await wf.apply.run(order)).status).toBe(OrderStatus.PAID);
      expect(charge).toHaveBeenCalledTimes(1);
      expect(await chargesOf(order.orderId)).toHaveLength(1);
      expect((await paymentRow(order.orderId))?.status).toBe('DONE');
    } finally {
      charge.mockRestore();
      find.mockRestore();
    }
  });

  it('another customer’s key, or a deleted one → FAILED / PAYMENT_ERROR, nothing sent to the gateway', async () => {
    const owner = await customerWithCard();
    const stranger = await newCustomer(0);
    const p = await product(1_000, 2);
    const foreign = billingOrder(stranger, owner.billing.billingKey, [p]);
    expect(await wf.apply.run(foreign)).toEqual({ status: OrderStatus.FAILED, reason: FailureReason.PAYMENT_ERROR, appliedNow: true });
    await execute(ds, `UPDATE billing_keys SET status = 'DELETED' WHERE billing_key = ?`, [owner.billing.billingKey]);
    const deleted = billingOrder(owner.userId, owner.billing.billingKey, [p]);
    expect(await wf.apply.run(deleted)).toEqual({ status: OrderStatus.FAILED, reason: FailureReason.PAYMENT_ERROR, appliedNow: true });
    expect(await stockOf(p.id)).toBe(2);
    expect((await ledger()).billingAttempts.filter((a) => a.orderId === foreign.orderId || a.orderId === deleted.orderId)).toEqual([]);
  });
});
