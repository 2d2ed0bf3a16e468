import { FulfillmentRefusal, OrderStatus } from '@bazaar/contracts';
import { createLogger, loadConfig } from '@bazaar/platform';
import { startWorkerApp, type WorkerApp } from '@bazaar/worker';
import { DELIVERY, eventually, startTestApi, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { moneyFixtures } from '../support/money-fixtures';
import { expectBadField, expectCode, refusalData } from '../support/trpc-expect';

/**
 * After checkout, through the real API and a real worker: each store of a
 * two-store order sees only its part in its inbox and fulfills it on its own;
 * out-of-order moves are refused; another seller can neither see nor move it;
 * the customer sees both stores' statuses in orders.get and hears each move on
 * orders.onStatus; pickups must fall inside the store's opening hours.
 */
describe('seller inbox and fulfillment per store', () => {
  jest.setTimeout(120_000);
  let api: TestApi;
  let worker: WorkerApp;
  const fx = moneyFixtures(() => api);
  type Client = ReturnType<TestApi['client']>;
  const key = (tag: string) => `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

  beforeAll(async () => {
    const env = await isolatedEnv('fulfillment');
    api = await startTestApi({ ...env });
    const config = loadConfig({ ...env, NODE_ENV: 'test', LOG_LEVEL: 'silent', WORKER_CONCURRENCY: '8' });
    worker = await startWorkerApp(config, { health: false, log: createLogger('worker', 'silent') });
  });
  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  const settled = (client: Client, orderId: string) =>
    eventually(
      () => client.orders.get.query({ orderId }),
      (v) => v.status !== OrderStatus.PENDING,
      30_000,
    );

  async function twoStoreOrder(fulfillment: Parameters<Client['orders']['place']['mutate']>[0]['fulfillment'] = DELIVERY) {
    const a = await fx.store([{ name: 'apples', price: 3_000, stock: 50 }], 'Store A');
    const b = await fx.store([{ name: 'bread', price: 5_000, stock: 50 }], 'Store B');
    const customer = await fx.customer(1_000_000);
    const placed = await customer.client.orders.place.mutate({
      idempotencyKey: key('two'),
      items: [
        { productId: a.products[0]!.id, quantity: 2 },
        { productId: b.products[0]!.id, quantity: 1 },
      ],
      paymentMethod: 'BALANCE',
      fulfillment,
    });
    const order = await settled(customer.client, placed.orderId);
    expect(order.status).toBe(OrderStatus.PAID);
    return { a, b, customer, order };
  }

  it('each store fulfills its own part; out-of-order moves are refused; the customer sees both and hears each move', async () => {
    const { a, b, customer, order } = await twoStoreOrder();
    expect(order.stores.map((s) => [s.storeId, s.status])).toEqual(
      [
        [a.store.id, 'PREPARING'],
        [b.store.id, 'PREPARING'],
      ].sort((x, y) => Number(x[0]) - Number(y[0])),
    );

    // Each inbox shows only its store's lines of the order.
    const inboxA = await a.seller.client.stores.orders.query({ storeId: a.store.id });
    expect(inboxA.items).toHaveLength(1);
    expect(inboxA.items[0]).toMatchObject({ orderId: order.id, orderStatus: 'PAID', customerId: customer.id, part: { status: 'PREPARING', next: ['SHIPPED'] } });
    expect(inboxA.items[0]!.lines.map((l) => l.productName)).toEqual(['apples']);
    expect(inboxA.items[0]!.totals).toMatchObject({ subtotal: 6_000, units: 2, refundedUnits: 0 });
    expect(inboxA.items[0]!.fulfillment).toEqual(DELIVERY);

    // onStatus: listening from now on, every move arrives.
    const seen: string[] = [];
    const sub = customer.client.orders.onStatus.subscribe(
      { orderId: order.id },
      { onData: (e) => seen.push(e.data.stores.map((s) => s.status).join('/')) },
    );
    await eventually(async () => seen.length, (n) => n >= 1);

    // Out of order: DELIVERED before SHIPPED, a pickup status on a delivery, shipping without a tracking number.
    expect(await refusalData(a.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'DELIVERED' }))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: FulfillmentRefusal.TRANSITION_NOT_ALLOWED,
    });
    expect(
      await refusalData(a.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'READY_FOR_PICKUP' })),
    ).toMatchObject({ reason: FulfillmentRefusal.TRANSITION_NOT_ALLOWED });
    await expectBadField(a.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'SHIPPED' }), 'trackingNumber');

    // Another seller: cannot see A's inbox, cannot move A's part, has no part of this order in its own store.
    const other = await fx.store([{ name: 'x', price: 1_000, stock: 1 }], 'Other');
    await expectCode(other.seller.client.stores.orders.query({ storeId: a.store.id }), 'FORBIDDEN');
    await expectCode(other.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'SHIPPED', trackingNumber: 'CJ-1234' }), 'FORBIDDEN');
    await expectCode(other.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: other.store.id, status: 'SHIPPED', trackingNumber: 'CJ-1234' }), 'NOT_FOUND');
    // The customer is not a seller at all.
    await expectCode(customer.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'SHIPPED', trackingNumber: 'CJ-1234' }), 'FORBIDDEN');

    // A ships and delivers; B only ships: independent.
    const shipped = await a.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'SHIPPED', trackingNumber: 'CJ-0001' });
    expect(shipped).toMatchObject({ status: 'SHIPPED', trackingNumber: 'CJ-0001', next: ['DELIVERED'] });
    await a.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'DELIVERED' });
    await b.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: b.store.id, status: 'SHIPPED', trackingNumber: 'HJ-0002' });
    // Done is done: no move out of DELIVERED.
    expect(await refusalData(a.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'SHIPPED', trackingNumber: 'CJ-0003' }))).toMatchObject({
      reason: FulfillmentRefusal.TRANSITION_NOT_ALLOWED,
    });

    const after = await customer.client.orders.get.query({ orderId: order.id });
    const byStore = Object.fromEntries(after.stores.map((s) => [s.storeId, s]));
    expect(byStore[a.store.id]).toMatchObject({ status: 'DELIVERED', trackingNumber: 'CJ-0001' });
    expect(byStore[b.store.id]).toMatchObject({ status: 'SHIPPED', trackingNumber: 'HJ-0002' });

    const order2 = (s: string) => s.split('/');
    await eventually(async () => seen.at(-1) ?? '', (last) => order2(last).sort().join('/') === ['DELIVERED', 'SHIPPED'].sort().join('/'));
    sub.unsubscribe();
    // Every move was heard, each once: PREPARING/PREPARING, then one event per move (3).
    expect(seen).toHaveLength(4);

    // The inbox filters by status, and B's shows B's part.
    expect((await a.seller.client.stores.orders.query({ storeId: a.store.id, status: 'PREPARING' })).items).toHaveLength(0);
    expect((await a.seller.client.stores.orders.query({ storeId: a.store.id, status: 'DELIVERED' })).items.map((i) => i.orderId)).toEqual([order.id]);
    expect((await b.seller.client.stores.orders.query({ storeId: b.store.id })).items[0]!.lines.map((l) => l.productName)).toEqual(['bread']);

    // Whole-order cancel after a store shipped: refused with a reason; a refund of the lines stays the way.
    expect(await refusalData(customer.client.orders.cancel.mutate({ orderId: order.id }))).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'ALREADY_FULFILLED' });
  });

  it("a seller's refund of its lines before shipping cancels its part: nothing is left to ship", async () => {
    const { a, customer, order } = await twoStoreOrder();
    const line = order.items.find((i) => i.storeId === a.store.id)!;
    const r = await a.seller.client.refunds.request.mutate({ orderId: order.id, idempotencyKey: key('seller-refund'), items: [{ orderItemId: line.orderItemId!, quantity: 2 }] });
    await eventually(
      () => a.seller.client.refunds.get.query({ refundId: r.refundId }),
      (v) => v.status !== 'PENDING',
    );
    expect(
      await refusalData(a.seller.client.fulfillment.update.mutate({ orderId: order.id, storeId: a.store.id, status: 'SHIPPED', trackingNumber: 'CJ-9999' })),
    ).toMatchObject({ reason: FulfillmentRefusal.NOTHING_TO_FULFILL });
    const inbox = await a.seller.client.stores.orders.query({ storeId: a.store.id });
    expect(inbox.items[0]).toMatchObject({ orderStatus: 'PARTIALLY_REFUNDED', totals: { units: 2, refundedUnits: 2 } });
    expect((await customer.client.orders.get.query({ orderId: order.id })).status).toBe('PARTIALLY_REFUNDED');
  });

  it('keyset pages of the inbox, newest first, and bad input', async () => {
    const s = await fx.store([{ name: 'pens', price: 1_000, stock: 100 }], 'Pages');
    const customer = await fx.customer(1_000_000);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await customer.client.orders.place.mutate({ idempotencyKey: key(`p${i}`), items: [{ productId: s.products[0]!.id, quantity: 1 }], paymentMethod: 'BALANCE', fulfillment: DELIVERY });
      ids.push(p.orderId);
    }
    for (const id of ids) await settled(customer.client, id);
    const first = await s.seller.client.stores.orders.query({ storeId: s.store.id, limit: 2 });
    const second = await s.seller.client.stores.orders.query({ storeId: s.store.id, limit: 2, cursor: first.nextCursor! });
    const third = await s.seller.client.stores.orders.query({ storeId: s.store.id, limit: 2, cursor: second.nextCursor! });
    expect([...first.items, ...second.items, ...third.items].map((i) => i.orderId)).toEqual([...ids].reverse());
    expect(third.nextCursor).toBeNull();

    await expectBadField(s.seller.client.stores.orders.query({ storeId: s.store.id, cursor: 'nope' }), 'cursor');
    await expectBadField(s.seller.client.stores.orders.query({ storeId: s.store.id, status: 'LOST' as never }), 'status');
    await expectBadField(s.seller.client.stores.orders.query({ storeId: s.store.id, limit: 101 }), 'limit');
    await expectBadField(s.seller.client.fulfillment.update.mutate({ orderId: 'x', storeId: s.store.id, status: 'SHIPPED' }), 'orderId');
    await expectBadField(s.seller.client.fulfillment.update.mutate({ orderId: ids[0]!, storeId: s.store.id, status: 'SHIPPED', trackingNumber: 'a b' }), 'trackingNumber');
    await expectCode(api.client().stores.orders.query({ storeId: s.store.id }), 'UNAUTHORIZED');
    await expectCode(customer.client.stores.orders.query({ storeId: s.store.id }), 'FORBIDDEN');
    await expectCode(s.seller.client.stores.orders.query({ storeId: 987_654_321 }), 'NOT_FOUND');
  });

  it('the inbox query reads its index (EXPLAIN), with and without a status, on a table of many stores', async () => {
    // 6,000 parts over 30 stores (fake order ids, foreign keys off on this one connection), so the plan is the
    // plan of a real shop, not of an almost empty table; removed afterwards.
    const q = api.deps.ds.createQueryRunner('master');
    await q.connect();
    try {
      await q.query('SET SESSION foreign_key_checks = 0');
      const statuses = ['PREPARING', 'SHIPPED', 'DELIVERED'];
      for (let batch = 0; batch < 6; batch++) {
        const rows = Array.from({ length: 1_000 }, (_, i) => {
          const n = batch * 1_000 + i;
          return [`EXPLAIN${String(n).padStart(19, '0')}`, 900_000 + (n % 30), 1, 'DELIVERY', statuses[n % 3]!];
        });
        await q.query(`INSERT INTO order_store_parts (order_id, store_id, user_id, fulfillment_type, status) VALUES ${rows.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, rows.flat());
      }
      await q.query('ANALYZE TABLE order_store_parts');
      for (const status of [undefined, 'SHIPPED' as const]) {
        const plan = await api.deps.parts.explainInbox(900_007, status);
        const parts = plan.find((r) => r.table === 'p')!;
        expect(String(parts.key)).toBe(status ? 'idx_parts_store_status' : 'idx_parts_store');
        expect(JSON.stringify(parts.Extra ?? '')).not.toMatch(/filesort/i);
        expect(Number(parts.rows)).toBeLessThan(1_000);
      }
    } finally {
      await q.query("DELETE FROM order_store_parts WHERE order_id LIKE 'EXPLAIN%'");
      await q.query('SET SESSION foreign_key_checks = 1');
      await q.release();
    }
  });

  it('pickups must fall in the store’s hours and lead time; the store lists a day’s pickups in time order', async () => {
    const s = await fx.store([{ name: 'cake', price: 20_000, stock: 100 }], 'Bakery');
    // Open every day 00:00–24:00 in UTC except a closed Sunday, 60 minutes to prepare.
    const allDay = [{ open: '00:00', close: '24:00' }];
    const updated = await s.seller.client.stores.update.mutate({
      storeId: s.store.id,
      timeZone: 'UTC',
      pickupLeadMinutes: 60,
      openingHours: { MON: allDay, TUE: allDay, WED: allDay, THU: allDay, FRI: allDay, SAT: allDay },
    });
    expect(updated).toMatchObject({ timeZone: 'UTC', pickupLeadMinutes: 60, status: 'OPEN' });
    await expectBadField(s.seller.client.stores.update.mutate({ storeId: s.store.id, timeZone: 'Mars/Olympus' }), 'timeZone');
    await expectBadField(s.seller.client.stores.update.mutate({ storeId: s.store.id, openingHours: { MON: [{ open: '12:00', close: '11:00' }] } }), 'openingHours.MON.0.close');
    const other = await fx.store([], 'Other');
    await expectCode(other.seller.client.stores.update.mutate({ storeId: s.store.id, pickupLeadMinutes: 5 }), 'FORBIDDEN');

    const customer = await fx.customer(1_000_000);
    const place = (pickupAt: Date, tag: string) =>
      customer.client.orders.place.mutate({
        idempotencyKey: key(tag),
        items: [{ productId: s.products[0]!.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: { type: 'PICKUP', pickupAt: pickupAt.toISOString() },
      });
    // Inside the lead time: refused naming the field, nothing accepted.
    await expectBadField(place(new Date(Date.now() + 10 * 60_000), 'lead'), 'fulfillment.pickupAt');
    // A Sunday: refused.
    const nextSunday = new Date();
    nextSunday.setUTCDate(nextSunday.getUTCDate() + ((7 - nextSunday.getUTCDay()) % 7 || 7));
    nextSunday.setUTCHours(12, 0, 0, 0);
    await expectBadField(place(nextSunday, 'sunday'), 'fulfillment.pickupAt');

    // Two pickups on the same (non-Sunday) day, placed in reverse time order: listed in time order.
    const day = new Date(nextSunday.getTime() + 86_400_000); // Monday
    const late = new Date(day.getTime() + 6 * 3_600_000); // 18:00
    const early = new Date(day.getTime() - 3 * 3_600_000); // 09:00
    const o1 = await place(late, 'late');
    const o2 = await place(early, 'early');
    await settled(customer.client, o1.orderId);
    await settled(customer.client, o2.orderId);
    const list = await s.seller.client.stores.pickups.query({ storeId: s.store.id, date: day.toISOString().slice(0, 10) });
    expect(list).toMatchObject({ timeZone: 'UTC', date: day.toISOString().slice(0, 10) });
    expect(list.items.map((i) => i.orderId)).toEqual([o2.orderId, o1.orderId]);
    expect(list.items.map((i) => i.part.pickupAt)).toEqual([early.toISOString(), late.toISOString()]);
    // Pickup moves: PREPARING → READY_FOR_PICKUP → PICKED_UP.
    await s.seller.client.fulfillment.update.mutate({ orderId: o2.orderId, storeId: s.store.id, status: 'READY_FOR_PICKUP' });
    expect(await refusalData(s.seller.client.fulfillment.update.mutate({ orderId: o1.orderId, storeId: s.store.id, status: 'PICKED_UP' }))).toMatchObject({
      reason: FulfillmentRefusal.TRANSITION_NOT_ALLOWED,
    });
    const done = await s.seller.client.fulfillment.update.mutate({ orderId: o2.orderId, storeId: s.store.id, status: 'PICKED_UP' });
    expect(done).toMatchObject({ status: 'PICKED_UP', next: [] });

    // A closed store sells nothing: its product is refused at accept.
    await s.seller.client.stores.close.mutate({ storeId: s.store.id });
    await eventually(
      () => refusalData(place(late, 'closed')).catch(() => ({ code: 'accepted' })),
      (d) => d.code === 'BAD_REQUEST',
      10_000,
      300,
    );
  });
});
