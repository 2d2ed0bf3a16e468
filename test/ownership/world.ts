import { OrderStatus, RefundStatus } from '@bazaar/contracts';
import { selectRows } from '@bazaar/db';
import { createLogger, loadConfig } from '@bazaar/platform';
import { startWorkerApp, type WorkerApp } from '@bazaar/worker';
import { DELIVERY, eventually, startTestApi, type TestApi } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { moneyFixtures } from '../support/money-fixtures';
import { freshKey } from '../support/refund-fixtures';

/** The kinds of resource an input's id fields name, and the value of each in one call's input. */
export interface Ids {
  order: string;
  orderItem: number;
  store: number;
  product: number;
  coupon: number;
  thread: number;
  message: number;
  subscription: number;
  event: number;
  question: number;
  refund: string;
  user: number;
}
export type IdKind = keyof Ids;

export type Account = Awaited<ReturnType<ReturnType<typeof moneyFixtures>['customer']>>;

/**
 * The sweep's world, built once: an owner customer and an owner seller with one of everything between them, plus
 * another customer, another seller (with a store of their own) and an admin. Every resource is the owners'; the
 * others are strangers to all of it.
 */
export interface World {
  api: TestApi;
  ownerCustomer: Account;
  ownerSeller: Account;
  otherCustomer: Account;
  otherSeller: Account;
  admin: Account;
  /** The owners' resources: the order (PAID, 6 units of `product` from `store`), its refund, and the rest. */
  ids: Ids;
  /** A coupon of the owner's store that the owner has claimed (orders.place uses it); `ids.coupon` is one nobody has claimed. */
  claimedCoupon: number;
  /** A product of the owner's store in no waiting-room event (createEvent's refused callers name it). */
  spareProduct: number;
  /** Resources a call uses up, made for one caller expected to get through. */
  fresh: {
    store(): Promise<number>;
    product(): Promise<number>;
    /** A BALANCE order of the owner customer, as placed (PENDING, or already PAID). */
    order(): Promise<string>;
    subscription(): Promise<number>;
  };
  sql<T>(query: string, params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export async function buildWorld(): Promise<World> {
  const env = await isolatedEnv('ownership');
  const api = await startTestApi({ ...env });
  let worker: WorkerApp | undefined;
  try {
    const config = loadConfig({ ...env, NODE_ENV: 'test', LOG_LEVEL: 'silent', WORKER_CONCURRENCY: '4' });
    worker = await startWorkerApp(config, { health: false, log: createLogger('worker', 'silent') });
    const fx = moneyFixtures(() => api);
    const [ownerCustomer, otherCustomer, ownerSeller, otherSeller, admin] = await Promise.all([
      fx.customer(1_000_000),
      fx.customer(1_000_000),
      fx.seller(),
      fx.seller(),
      fx.admin(),
    ]);
    const seller = ownerSeller.client;
    const customer = ownerCustomer.client;
    await otherSeller.client.stores.create.mutate({ name: "Another seller's store" });
    const store = await seller.stores.create.mutate({ name: "The owner's store" });
    const newProduct = async (name: string) =>
      (await seller.products.create.mutate({ storeId: store.id, name, description: '', price: 1_000, stock: 1_000 })).id;
    const [product, eventProduct, spareProduct] = await Promise.all([newProduct('Sweep product'), newProduct('Flash product'), newProduct('Spare product')]);
    const coupon = (name: string) =>
      seller.coupons.create.mutate({
        storeId: store.id,
        name,
        kind: 'FIXED',
        value: 100,
        minOrderAmount: 0,
        quantity: 100,
        validFrom: new Date(Date.now() - 60_000).toISOString(),
        validUntil: new Date(Date.now() + 30 * DAY).toISOString(),
      });
    const [claimable, claimed] = await Promise.all([coupon('Nobody has claimed it'), coupon('The owner holds it')]);
    await customer.coupons.claim.mutate({ couponId: claimed.couponId });

    const placeOrder = async (quantity: number) =>
      (
        await customer.orders.place.mutate({
          idempotencyKey: freshKey('sweep'),
          items: [{ productId: product, quantity }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
        })
      ).orderId;
    const orderId = await placeOrder(6);
    const order = await eventually(
      () => customer.orders.get.query({ orderId }),
      (v) => v.status !== OrderStatus.PENDING,
      30_000,
    );
    if (order.status !== OrderStatus.PAID) throw new Error(`the sweep's order ended ${order.status} (${order.failureReason}), not PAID`);
    const orderItem = order.items[0]!.orderItemId!;
    const { refundId } = await customer.refunds.request.mutate({
      orderId,
      idempotencyKey: freshKey('sweep'),
      items: [{ orderItemId: orderItem, quantity: 1 }],
    });
    await eventually(
      () => customer.refunds.get.query({ refundId }),
      (r) => r.status !== RefundStatus.PENDING,
      30_000,
    );

    const { threadId } = await customer.chat.open.mutate({ storeId: store.id });
    const message = await customer.chat.send.mutate({ threadId, body: 'Is it fresh?', clientMessageId: freshKey('sweep') });
    const question = await customer.questions.ask.mutate({ productId: product, body: 'How big is it?' });
    const newSubscription = async () =>
      (
        await customer.subscriptions.create.mutate({
          items: [{ productId: product, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
          every: { count: 1, unit: 'MONTH' },
          startAt: new Date(Date.now() + 7 * DAY).toISOString(),
        })
      ).subscriptionId;
    const subscription = await newSubscription();
    const { eventId } = await seller.waitingRoom.createEvent.mutate({
      productIds: [eventProduct],
      opensAt: new Date(Date.now() + HOUR).toISOString(),
      admitPerSecond: 10,
    });
    await customer.cart.add.mutate({ productId: product, quantity: 2 });

    const running = worker;
    return {
      api,
      ownerCustomer,
      ownerSeller,
      otherCustomer,
      otherSeller,
      admin,
      ids: {
        order: orderId,
        orderItem,
        store: store.id,
        product,
        coupon: claimable.couponId,
        thread: threadId,
        message: message.id,
        subscription,
        event: eventId,
        question: question.id,
        refund: refundId,
        user: ownerCustomer.id,
      },
      claimedCoupon: claimed.couponId,
      spareProduct,
      fresh: {
        store: async () => (await seller.stores.create.mutate({ name: 'A store to close' })).id,
        product: () => newProduct('A product to use up'),
        order: () => placeOrder(1),
        subscription: newSubscription,
      },
      sql: <T>(query: string, params: unknown[]) => selectRows<T>(api.deps.ds, query, params),
      async close() {
        await running.close();
        await api.close();
      },
    };
  } catch (err) {
    await worker?.close();
    await api.close();
    throw err;
  }
}
