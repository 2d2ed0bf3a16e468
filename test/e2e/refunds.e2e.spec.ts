import { OrderStatus, RefundStatus, type OrderView, type RefundView } from '@bazaar/contracts';
import { PointsRepository, selectRows } from '@bazaar/db';
import { startFakeGateway, type FakeGateway } from '@bazaar/fake-gateway';
import { createLogger, loadConfig } from '@bazaar/platform';
import { startWorkerApp, type WorkerApp } from '@bazaar/worker';
import { refusalData } from '../support/trpc-expect';
import { DELIVERY, eventually, startTestApi, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { balanceFromLedger, ledgerProblems, moneyFixtures } from '../support/money-fixtures';
import type { TestEnv } from '../support/test-env';

const DAY = 86_400_000;

/**
 * Refunds through the real API and a real worker (in this process, so the
 * test can move its clock by days): money.md §5's four refunds to the won,
 * who may refund what, bad input, idempotency and concurrent requests.
 */
describe('refunds: partial and full, through the API and a worker', () => {
  jest.setTimeout(120_000);
  let env: TestEnv;
  let api: TestApi;
  let gw: FakeGateway;
  let worker: WorkerApp;
  /** The worker's clock runs this far ahead of the wall clock. */
  let offset = 0;
  const fx = moneyFixtures(() => api);

  beforeAll(async () => {
    env = await isolatedEnv('refunds');
    gw = await startFakeGateway({ port: 0, host: '127.0.0.1', secretKey: 'test_sk_bazaar' });
    api = await startTestApi({ ...env });
    const config = loadConfig({
      ...env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      WORKER_CONCURRENCY: '16',
      PAYMENT_GATEWAY_URL: gw.url,
      PAYMENT_SECRET_KEY: 'test_sk_bazaar',
      PAYMENT_TIMEOUT_MS: '1000',
    });
    worker = await startWorkerApp(config, { clock: () => new Date(Date.now() + offset), health: false, log: createLogger('worker', 'silent') });
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await gw?.close();
  });

  type Client = ReturnType<TestApi['client']>;
  const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

  const storeWith = (products: { name: string; price: number; stock: number }[]) => fx.store(products, 'Refund store');

  const paid = (client: Client, orderId: string) =>
    eventually(
      () => client.orders.get.query({ orderId }),
      (v) => v.status !== OrderStatus.PENDING,
      30_000,
    );

  const refunded = (client: Client, refundId: string) =>
    eventually(
      () => client.refunds.get.query({ refundId }),
      (r) => r.status !== RefundStatus.PENDING,
      30_000,
    );

  const refusal = refusalData;

  /** A BALANCE order with delivery, as the customer places it (settled by the worker in the background). */
  const balanceOrder = (client: Client, tag: string, items: { productId: number; quantity: number }[], extra: { points?: number } = {}) =>
    client.orders.place.mutate({ idempotencyKey: key(tag), items, ...extra, paymentMethod: 'BALANCE', fulfillment: DELIVERY });

  const key = (tag: string) => `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const lineOf = (v: OrderView, productId: number) => v.items.find((i) => i.productId === productId)!.orderItemId!;

  it("gives back money.md's worked example to the won over four refunds on days 8, 12 and later", async () => {
    offset = 0;
    const s1 = await storeWith([
      { name: 'rose bouquet', price: 15_000, stock: 10 },
      { name: 'tulip vase', price: 8_000, stock: 10 },
    ]);
    const s2 = await storeWith([{ name: 'card', price: 2_500, stock: 10 }]);
    const { couponId } = await s1.seller.client.coupons.create.mutate({
      storeId: s1.store.id,
      name: '10% off',
      kind: 'PERCENT',
      value: 10,
      maxDiscount: 3_000,
      minOrderAmount: 20_000,
      quantity: 100,
      validFrom: new Date().toISOString(),
      validUntil: soon(60 * DAY),
    });
    const customer = await fx.customer(100_000);
    const admin = await fx.admin();
    await customer.client.coupons.claim.mutate({ couponId });
    // Today is day 5: L1 expires on day 10, L2 on day 40.
    const l1 = await admin.client.points.grant.mutate({ userId: customer.id, amount: 3_000, expiresAt: soon(5 * DAY), reason: 'L1' });
    const l2 = await admin.client.points.grant.mutate({ userId: customer.id, amount: 5_000, expiresAt: soon(35 * DAY), reason: 'L2' });
    const [rose, vase] = s1.products;
    const [card] = s2.products;
    const placed = await customer.client.orders.place.mutate({
      idempotencyKey: key('worked'),
      items: [
        { productId: rose!.id, quantity: 2 },
        { productId: vase!.id, quantity: 1 },
        { productId: card!.id, quantity: 3 },
      ],
      couponId,
      points: 4_000,
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    const order = await paid(customer.client, placed.orderId);
    expect(order).toMatchObject({ status: OrderStatus.PAID, cashPaid: 38_500, pointsUsed: 4_000, pointsEarned: 385, discount: 3_000 });
    const points = new PointsRepository(api.deps.ds);
    const lots = async () => {
      const all = await points.lotsOf(customer.id);
      return {
        l1: all.find((l) => l.id === l1.lotId)!.remaining,
        l2: all.find((l) => l.id === l2.lotId)!.remaining,
        reward: all.find((l) => l.source === 'ORDER_REWARD')!.remaining,
        reissued: all.filter((l) => l.source === 'REFUND_REISSUE').map((l) => ({ amount: l.amount, expiresAt: l.expiresAt.getTime() })),
      };
    };
    expect(await lots()).toMatchObject({ l1: 0, l2: 4_000, reward: 385, reissued: [] });
    const roseLine = lineOf(order, rose!.id);
    const refund = async (orderItemId: number, quantity: number): Promise<RefundView> => {
      const r = await customer.client.refunds.request.mutate({
        orderId: placed.orderId,
        idempotencyKey: key('worked-refund'),
        items: [{ orderItemId, quantity }],
      });
      expect(r.status).toBe(RefundStatus.PENDING);
      return refunded(customer.client, r.refundId);
    };
    const totals = (r: RefundView) => ({
      cash: r.cash,
      points: r.points,
      clawback: r.clawback,
      cashReturned: r.cashReturned,
      clawbackFromCash: r.clawbackFromCash,
    });

    // Day 8: one rose. Its 1,300 points go back to L2 (its whole 1,000) then to L1 (300).
    offset = 3 * DAY;
    const r1 = await refund(roseLine, 1);
    expect(r1.status).toBe(RefundStatus.COMPLETED);
    expect(totals(r1)).toEqual({ cash: 12_515, points: 1_300, clawback: 125, cashReturned: 12_515, clawbackFromCash: 0 });
    expect(await lots()).toMatchObject({ l1: 300, l2: 5_000, reward: 260, reissued: [] });
    expect((await customer.client.orders.get.query({ orderId: placed.orderId })).status).toBe(OrderStatus.PARTIALLY_REFUNDED);

    // Day 12: the three cards. L1 expired on day 10: their 706 points come back as a new lot valid until day 42.
    offset = 7 * DAY;
    const before12 = Date.now();
    const r2 = await refund(lineOf(order, card!.id), 3);
    expect(totals(r2)).toEqual({ cash: 6_794, points: 706, clawback: 68, cashReturned: 6_794, clawbackFromCash: 0 });
    const day12 = await lots();
    expect(day12).toMatchObject({ l1: 300, l2: 5_000, reward: 192 });
    expect(day12.reissued).toHaveLength(1);
    expect(day12.reissued[0]!.amount).toBe(706);
    // Valid 30 days from the refund (day 12 + 30 = day 42).
    expect(day12.reissued[0]!.expiresAt).toBeGreaterThanOrEqual(before12 + 37 * DAY - 1_000);
    expect(day12.reissued[0]!.expiresAt).toBeLessThanOrEqual(Date.now() + 37 * DAY + 1_000);

    // Later: the other rose and the vase.
    offset = 9 * DAY;
    const r3 = await refund(roseLine, 1);
    expect(totals(r3)).toEqual({ cash: 12_516, points: 1_301, clawback: 125, cashReturned: 12_516, clawbackFromCash: 0 });
    const r4 = await refund(lineOf(order, vase!.id), 1);
    expect(totals(r4)).toEqual({ cash: 6_675, points: 693, clawback: 67, cashReturned: 6_675, clawbackFromCash: 0 });

    // Exactly what was paid, used and earned; the order is REFUNDED and the coupon is the customer's again.
    const all = [r1, r2, r3, r4];
    expect(all.reduce((s, r) => s + r.cash!, 0)).toBe(38_500);
    expect(all.reduce((s, r) => s + r.points!, 0)).toBe(4_000);
    expect(all.reduce((s, r) => s + r.clawback!, 0)).toBe(385);
    const done = await customer.client.orders.get.query({ orderId: placed.orderId });
    expect(done.status).toBe(OrderStatus.REFUNDED);
    expect(done.refunded).toEqual({ cash: 38_500, points: 4_000, clawback: 385, cashReturned: 38_500 });
    expect(done.items.map((i) => [i.refundedQuantity, i.refunded])).toEqual([
      [2, { cash: 25_031, points: 2_601, clawback: 250 }],
      [1, { cash: 6_675, points: 693, clawback: 67 }],
      [3, { cash: 6_794, points: 706, clawback: 68 }],
    ]);
    expect((await lots()).reward).toBe(0);
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 100_000 });
    const mine = await customer.client.coupons.mine.query({});
    expect(mine.items.find((c) => c.couponId === couponId)?.state).toBe('AVAILABLE');
    expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
    // Stock is back, in MySQL and in the sold-out gate.
    for (const p of [rose!, vase!, card!]) {
      const [row] = await selectRows<{ stock: number }>(api.deps.ds, 'SELECT stock FROM products WHERE id = ?', [p.id]);
      expect(Number(row!.stock)).toBe(10);
      expect(await api.deps.gate.available(p.id)).toBe(10);
    }
    // The list shows all four, newest first.
    const list = await customer.client.refunds.list.query({ orderId: placed.orderId });
    expect(list.items.map((r) => r.id)).toEqual([r4.id, r3.id, r2.id, r1.id]);
    offset = 0;
  });

  it('takes a reward the customer already spent out of the refund’s cash, exactly', async () => {
    offset = 0;
    const { products } = await storeWith([
      { name: 'reward item', price: 10_000, stock: 10 },
      { name: 'points sink', price: 100, stock: 10 },
    ]);
    const customer = await fx.customer(50_000);
    const first = await balanceOrder(customer.client, 'reward', [{ productId: products[0]!.id, quantity: 2 }]);
    const order = await paid(customer.client, first.orderId);
    expect(order.pointsEarned).toBe(200);
    // The customer spends 150 of the 200 reward points on another order.
    const sink = await balanceOrder(customer.client, 'sink', [{ productId: products[1]!.id, quantity: 2 }], { points: 150 });
    expect((await paid(customer.client, sink.orderId)).status).toBe(OrderStatus.PAID);
    const walletBefore = (await customer.client.wallet.balance.query()).balance;

    // Refund both units: clawback 200, of which the lot has 50 (+ 0 earned by the sink: 50 won cash → 0 points).
    const r = await customer.client.refunds.request.mutate({
      orderId: first.orderId,
      idempotencyKey: key('reward-refund'),
      items: [{ orderItemId: order.items[0]!.orderItemId!, quantity: 2 }],
    });
    const done = await refunded(customer.client, r.refundId);
    expect(done).toMatchObject({ status: RefundStatus.COMPLETED, cash: 20_000, clawback: 200, clawbackFromCash: 150, cashReturned: 19_850 });
    expect((await customer.client.wallet.balance.query()).balance).toBe(walletBefore + 19_850);
    const view = await customer.client.orders.get.query({ orderId: first.orderId });
    expect(view.refunded).toEqual({ cash: 20_000, points: 0, clawback: 200, cashReturned: 19_850 });
    expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
    expect(await customer.client.points.balance.query()).toEqual({ balance: await balanceFromLedger(api.deps.ds, customer.id) });
  });

  it('lets each store refund its own lines of a two-store order, and refuses another store’s', async () => {
    offset = 0;
    const a = await storeWith([{ name: 'store A item', price: 3_000, stock: 10 }]);
    const b = await storeWith([{ name: 'store B item', price: 4_000, stock: 10 }]);
    const customer = await fx.customer(50_000);
    const placed = await balanceOrder(customer.client, 'two-store', [
      { productId: a.products[0]!.id, quantity: 2 },
      { productId: b.products[0]!.id, quantity: 1 },
    ]);
    const order = await paid(customer.client, placed.orderId);
    const lineA = lineOf(order, a.products[0]!.id);
    const lineB = lineOf(order, b.products[0]!.id);

    // Seller B names seller A's line: FORBIDDEN, nothing recorded.
    expect(
      await refusal(
        b.seller.client.refunds.request.mutate({ orderId: placed.orderId, idempotencyKey: key('b-on-a'), items: [{ orderItemId: lineA, quantity: 1 }] }),
      ),
    ).toMatchObject({
      code: 'FORBIDDEN',
    });
    // A stranger seller (no line in the order) does not see it at all.
    const stranger = await fx.seller();
    expect(
      await refusal(
        stranger.client.refunds.request.mutate({ orderId: placed.orderId, idempotencyKey: key('stranger'), items: [{ orderItemId: lineA, quantity: 1 }] }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND' });

    const ra = await a.seller.client.refunds.request.mutate({
      orderId: placed.orderId,
      idempotencyKey: key('a-own'),
      items: [{ orderItemId: lineA, quantity: 1 }],
    });
    const doneA = await refunded(a.seller.client, ra.refundId);
    expect(doneA).toMatchObject({ status: RefundStatus.COMPLETED, cash: 3_000, requestedBy: { role: 'SELLER' } });
    // Seller B sees none of seller A's refund; the customer sees it whole.
    expect(await refusal(b.seller.client.refunds.get.query({ refundId: ra.refundId }))).toMatchObject({ code: 'NOT_FOUND' });
    expect((await customer.client.refunds.get.query({ refundId: ra.refundId })).cashReturned).toBe(3_000);
    const rb = await b.seller.client.refunds.request.mutate({
      orderId: placed.orderId,
      idempotencyKey: key('b-own'),
      items: [{ orderItemId: lineB, quantity: 1 }],
    });
    await refunded(b.seller.client, rb.refundId);
    // Each seller lists only the refunds with their lines; the customer lists both.
    expect((await a.seller.client.refunds.list.query({ orderId: placed.orderId })).items.map((r) => r.id)).toEqual([ra.refundId]);
    expect((await b.seller.client.refunds.list.query({ orderId: placed.orderId })).items.map((r) => r.id)).toEqual([rb.refundId]);
    expect((await customer.client.refunds.list.query({ orderId: placed.orderId })).items).toHaveLength(2);
    const view = await customer.client.orders.get.query({ orderId: placed.orderId });
    expect(view.status).toBe(OrderStatus.PARTIALLY_REFUNDED);
    expect(view.items.map((i) => i.refundedQuantity)).toEqual([1, 1]);
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 50_000 - 10_000 + 7_000 });

    // An admin refunds the last unit (any store's line) and sees every refund of the order.
    const admin = await fx.admin();
    const rc = await admin.client.refunds.request.mutate({
      orderId: placed.orderId,
      idempotencyKey: key('admin'),
      items: [{ orderItemId: lineA, quantity: 1 }],
    });
    expect(await refunded(admin.client, rc.refundId)).toMatchObject({ status: RefundStatus.COMPLETED, cash: 3_000, requestedBy: { role: 'ADMIN' } });
    expect((await admin.client.refunds.list.query({ orderId: placed.orderId })).items).toHaveLength(3);
    expect((await customer.client.orders.get.query({ orderId: placed.orderId })).status).toBe(OrderStatus.REFUNDED);
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 50_000 });
  });

  it('refuses bad input with typed errors and changes nothing', async () => {
    offset = 0;
    const { products } = await storeWith([{ name: 'bad input item', price: 1_000, stock: 10 }]);
    const customer = await fx.customer(10_000);
    const other = await fx.customer(0);
    const placed = await balanceOrder(customer.client, 'bad', [{ productId: products[0]!.id, quantity: 2 }]);
    const order = await paid(customer.client, placed.orderId);
    const line = order.items[0]!.orderItemId!;
    const ask = (client: Client, items: unknown, orderId = placed.orderId) =>
      refusal(client.refunds.request.mutate({ orderId, idempotencyKey: key('bad-refund'), items } as never));
    const countRows = async () => {
      const [r] = await selectRows<{ n: number | string }>(api.deps.ds, 'SELECT COUNT(*) AS n FROM refunds WHERE order_id = ?', [placed.orderId]);
      const [i] = await selectRows<{ p: number | string; r: number | string }>(
        api.deps.ds,
        'SELECT refund_pending_quantity AS p, refunded_quantity AS r FROM order_items WHERE id = ?',
        [line],
      );
      return { refunds: Number(r!.n), pending: Number(i!.p), refunded: Number(i!.r) };
    };
    const before = await countRows();

    expect(await ask(customer.client, [{ orderItemId: line, quantity: 0 }])).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: 'items.0.quantity' }] });
    expect(await ask(customer.client, [{ orderItemId: line, quantity: -1 }])).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await ask(customer.client, [{ orderItemId: line, quantity: 1.5 }])).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await ask(customer.client, [])).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: 'items' }] });
    expect(
      await ask(customer.client, [
        { orderItemId: line, quantity: 1 },
        { orderItemId: line, quantity: 1 },
      ]),
    ).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: 'items.1.orderItemId' }] });
    expect(await ask(customer.client, [{ orderItemId: line, quantity: 3 }])).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'REFUND_EXCEEDS_REMAINING' });
    expect(await ask(customer.client, [{ orderItemId: line + 1_000_000, quantity: 1 }])).toMatchObject({
      code: 'BAD_REQUEST',
      issues: [{ path: 'items.0.orderItemId' }],
    });
    expect(await ask(other.client, [{ orderItemId: line, quantity: 1 }])).toMatchObject({ code: 'NOT_FOUND' });
    expect(await ask(customer.client, [{ orderItemId: line, quantity: 1 }], '01ARZ3NDEKTSV4RRFFQ69G5FAV')).toMatchObject({ code: 'NOT_FOUND' });
    expect(
      await refusal(api.client().refunds.request.mutate({ orderId: placed.orderId, idempotencyKey: key('anon'), items: [{ orderItemId: line, quantity: 1 }] })),
    ).toMatchObject({
      code: 'UNAUTHORIZED',
    });
    expect(await refusal(other.client.refunds.list.query({ orderId: placed.orderId }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await countRows()).toEqual(before);

    // A refunded order cannot be refunded again; an order still waiting cannot be refunded yet.
    const all = await customer.client.refunds.request.mutate({
      orderId: placed.orderId,
      idempotencyKey: key('all'),
      items: [{ orderItemId: line, quantity: 2 }],
    });
    await refunded(customer.client, all.refundId);
    expect(await ask(customer.client, [{ orderItemId: line, quantity: 1 }])).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'ORDER_NOT_REFUNDABLE' });
  });

  it('gives one refund to 30 duplicates of a key, CONFLICT to other parameters, and never over-refunds concurrent requests', async () => {
    offset = 0;
    const { products } = await storeWith([{ name: 'concurrent item', price: 1_000, stock: 100 }]);
    const customer = await fx.customer(100_000);
    const placed = await balanceOrder(customer.client, 'dup', [{ productId: products[0]!.id, quantity: 10 }]);
    const order = await paid(customer.client, placed.orderId);
    const line = order.items[0]!.orderItemId!;

    const dupKey = key('dup-refund');
    const dups = await Promise.all(
      Array.from({ length: 30 }, () =>
        customer.client.refunds.request.mutate({ orderId: placed.orderId, idempotencyKey: dupKey, items: [{ orderItemId: line, quantity: 1 }] }),
      ),
    );
    expect(new Set(dups.map((d) => d.refundId)).size).toBe(1);
    expect(
      await refusal(customer.client.refunds.request.mutate({ orderId: placed.orderId, idempotencyKey: dupKey, items: [{ orderItemId: line, quantity: 2 }] })),
    ).toMatchObject({
      code: 'CONFLICT',
    });

    // 9 units are left; 40 concurrent requests of 1 unit each (distinct keys): exactly 9 are taken.
    const many = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        customer.client.refunds.request.mutate({ orderId: placed.orderId, idempotencyKey: key(`race-${i}`), items: [{ orderItemId: line, quantity: 1 }] }),
      ),
    );
    const taken = many.filter((r): r is PromiseFulfilledResult<{ refundId: string; status: RefundStatus }> => r.status === 'fulfilled');
    const refused = many.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(taken).toHaveLength(9);
    expect(refused.every((r) => (r.reason as { data?: { reason?: string } }).data?.reason === 'REFUND_EXCEEDS_REMAINING')).toBe(true);
    const views = await Promise.all([dups[0]!.refundId, ...taken.map((t) => t.value.refundId)].map((id) => refunded(customer.client, id)));
    expect(views.every((v) => v.status === RefundStatus.COMPLETED)).toBe(true);
    expect(views.reduce((s, v) => s + v.cashReturned!, 0)).toBe(10_000);
    const done = await customer.client.orders.get.query({ orderId: placed.orderId });
    expect(done).toMatchObject({ status: OrderStatus.REFUNDED, refunded: { cash: 10_000, cashReturned: 10_000 } });
    expect(await customer.client.wallet.balance.query()).toEqual({ balance: 100_000 });
    const [entries] = await selectRows<{ n: number | string; s: number | string }>(
      api.deps.ds,
      `SELECT COUNT(*) AS n, SUM(amount) AS s FROM wallet_entries WHERE user_id = ? AND kind = 'ORDER_REFUND'`,
      [customer.id],
    );
    expect({ n: Number(entries!.n), s: Number(entries!.s) }).toEqual({ n: 10, s: 10_000 });
  });

  it('refunds a card order in parts through the gateway, and cancels a paid card order through the same path', async () => {
    offset = 0;
    const { products } = await storeWith([{ name: 'card item', price: 7_000, stock: 10 }]);
    const customer = await fx.customer(0);
    const mint = async (amount: number) =>
      (
        (await (
          await fetch(`${gw.url}/__test/payment-keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount }) })
        ).json()) as {
          paymentKey: string;
        }
      ).paymentKey;
    const placed = await customer.client.orders.place.mutate({
      idempotencyKey: key('card'),
      items: [{ productId: products[0]!.id, quantity: 3 }],
      paymentMethod: 'CARD',
      paymentKey: await mint(21_000),
      fulfillment: DELIVERY,
    });
    const order = await paid(customer.client, placed.orderId);
    expect(order.status).toBe(OrderStatus.PAID);
    const r = await customer.client.refunds.request.mutate({
      orderId: placed.orderId,
      idempotencyKey: key('card-refund'),
      items: [{ orderItemId: order.items[0]!.orderItemId!, quantity: 1 }],
    });
    const done = await refunded(customer.client, r.refundId);
    expect(done).toMatchObject({ status: RefundStatus.COMPLETED, cash: 7_000, cashReturned: 7_000 });
    const ledger = (await (await fetch(`${gw.url}/__test/ledger/orders/${placed.orderId}`)).json()) as {
      payments: { balanceAmount: number; status: string; cancels: { cancelAmount: number }[] }[];
    };
    expect(ledger.payments[0]).toMatchObject({ balanceAmount: 14_000, status: 'PARTIAL_CANCELED' });
    // The customer cancels the rest: a refund of kind CANCEL is not possible once refunded in part.
    expect(await refusal(customer.client.orders.cancel.mutate({ orderId: placed.orderId }))).toMatchObject({ code: 'PRECONDITION_FAILED' });

    // A second card order, cancelled while PAID: the whole charge goes back through the refund path.
    const second = await customer.client.orders.place.mutate({
      idempotencyKey: key('card-cancel'),
      items: [{ productId: products[0]!.id, quantity: 1 }],
      paymentMethod: 'CARD',
      paymentKey: await mint(7_000),
      fulfillment: DELIVERY,
    });
    expect((await paid(customer.client, second.orderId)).status).toBe(OrderStatus.PAID);
    const cancelled = await customer.client.orders.cancel.mutate({ orderId: second.orderId });
    expect(cancelled).toMatchObject({ status: OrderStatus.CANCELLED, cancellation: 'COMPLETED' });
    const refunds = await customer.client.refunds.list.query({ orderId: second.orderId });
    expect(refunds.items).toMatchObject([{ kind: 'CANCEL', status: RefundStatus.COMPLETED, cashReturned: 7_000 }]);
    const ledger2 = (await (await fetch(`${gw.url}/__test/ledger/orders/${second.orderId}`)).json()) as {
      payments: { balanceAmount: number; status: string }[];
    };
    expect(ledger2.payments[0]).toMatchObject({ balanceAmount: 0, status: 'CANCELED' });
    const [row] = await selectRows<{ status: string; canceled_amount: number | string }>(
      api.deps.ds,
      'SELECT status, canceled_amount FROM payments WHERE order_id = ?',
      [second.orderId],
    );
    expect({ status: row!.status, canceled: Number(row!.canceled_amount) }).toEqual({ status: 'CANCELED', canceled: 7_000 });
  });

  it('counts reward points that expired before taking cash for them, whether or not the expiry was written', async () => {
    offset = 0;
    const { products } = await storeWith([
      { name: 'year-old item', price: 10_000, stock: 10 },
      { name: 'year-old sink', price: 100, stock: 10 },
    ]);
    // Two customers alike: each earns 200 reward points and spends 150 of them; the other 50 expire after 365 days.
    const setUp = async () => {
      const customer = await fx.customer(50_000);
      const placed = await balanceOrder(customer.client, 'year', [{ productId: products[0]!.id, quantity: 2 }]);
      const order = await paid(customer.client, placed.orderId);
      const sink = await balanceOrder(customer.client, 'year-sink', [{ productId: products[1]!.id, quantity: 2 }], { points: 150 });
      expect((await paid(customer.client, sink.orderId)).status).toBe(OrderStatus.PAID);
      return { customer, order };
    };
    const unswept = await setUp();
    const swept = await setUp();
    offset = 366 * DAY;
    // The scheduler's expiry (as ExpirePointsJob writes it) has run for the second customer's reward lot only;
    // the first one's still shows its 50 points.
    const points = new PointsRepository(api.deps.ds);
    const rewardOf = async (userId: number) => (await points.lotsOf(userId)).find((l) => l.source === 'ORDER_REWARD')!;
    const sweptLot = await rewardOf(swept.customer.id);
    await api.deps.ds.query(`INSERT INTO point_movements (user_id, lot_id, kind, amount, ref, created_at) VALUES (?, ?, 'EXPIRE', ?, 'expiry', ?)`, [
      swept.customer.id,
      sweptLot.id,
      -sweptLot.remaining,
      new Date(Date.now() + offset),
    ]);
    await api.deps.ds.query('UPDATE point_lots SET remaining = 0 WHERE id = ?', [sweptLot.id]);
    expect((await rewardOf(unswept.customer.id)).remaining).toBe(50);

    for (const { customer, order } of [unswept, swept]) {
      const r = await customer.client.refunds.request.mutate({
        orderId: order.id,
        idempotencyKey: key('year-refund'),
        items: [{ orderItemId: order.items[0]!.orderItemId!, quantity: 2 }],
      });
      const done = await refunded(customer.client, r.refundId);
      // 150 spent: kept from the cash; 50 expired: nothing more to take, however the lot shows it.
      expect(done).toMatchObject({ status: RefundStatus.COMPLETED, cash: 20_000, clawback: 200, clawbackFromCash: 150, cashReturned: 19_850 });
      expect(await ledgerProblems(api.deps.ds, [customer.id])).toEqual([]);
    }
    offset = 0;
  });
});
