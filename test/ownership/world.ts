import { OrderStatus, RefundStatus } from '@bazaar/contracts';
import { WaitingRoomRepository, selectRows } from '@bazaar/db';
import { startFakeGateway, type FakeGateway } from '@bazaar/fake-gateway';
import { createLogger, loadConfig } from '@bazaar/platform';
import { WaitingRoomStore } from '@bazaar/queue';
import { AdmitWaitingRoomsLoop } from '@bazaar/scheduler';
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
  /** A card the customer registered (subscriptions.registerCard). */
  billingKey: string;
  /** An admission the waiting room handed the customer (waitingRoom.status, ADMITTED). */
  admissionToken: string;
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
  /** A seller whose store sells one line of the owners' order (`coProduct`, one unit), and nothing else of theirs. */
  coSeller: Account;
  coStore: number;
  coProduct: number;
  admin: Account;
  /** The owners' resources: the order (PAID, 8 units of `product` from `store`), its refund, and the rest. */
  ids: Ids;
  /**
   * The same kinds of resource, held by the other customer and the other seller (their order of the other seller's
   * product, its line and refund, their thread and its message, a claim on a coupon of the owner's store…): what the
   * owner names when one id of an input is someone else's.
   */
  strangers: Ids;
  /** A coupon of the owner's store that the owner has claimed (orders.place uses it); `ids.coupon` is one nobody has claimed. */
  claimedCoupon: number;
  /** A second coupon nobody has claimed (coupons.claim names it when the owner claims someone else's). */
  claimable: number;
  /** A product of the owner's store in no waiting-room event (createEvent's refused callers name it). */
  spareProduct: number;
  /** More orders of the owner customer, settled otherwise: FAILED (too little balance) and CANCELLED. */
  ordersIn: { FAILED: string; CANCELLED: string };
  /** Resources a call uses up, made for one caller expected to get through. */
  fresh: {
    store(): Promise<number>;
    product(): Promise<number>;
    /** A BALANCE order of the owner customer, as placed (PENDING, or already PAID). */
    order(): Promise<string>;
    subscription(): Promise<number>;
  };
  /** Strings only the owners (and an admin) may ever be answered: their order's and refund's ids, card and gateway customer keys, admission token, chat message. */
  secrets: string[];
  sql<T>(query: string, params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

const SECRET = 'test_sk_bazaar';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export async function buildWorld(): Promise<World> {
  const env = await isolatedEnv('ownership');
  // The fake card gateway: registerCard exchanges an authKey there for a billing key.
  const gw: FakeGateway = await startFakeGateway({ port: 0, host: '127.0.0.1', secretKey: SECRET });
  const payment = { PAYMENT_GATEWAY_URL: gw.url, PAYMENT_SECRET_KEY: SECRET };
  let api: TestApi | undefined;
  let worker: WorkerApp | undefined;
  try {
    api = await startTestApi({ ...env, ...payment });
    const config = loadConfig({ ...env, ...payment, NODE_ENV: 'test', LOG_LEVEL: 'silent', WORKER_CONCURRENCY: '4' });
    worker = await startWorkerApp(config, { health: false, log: createLogger('worker', 'silent') });
    const running = api;
    const fx = moneyFixtures(() => running);
    const [ownerCustomer, otherCustomer, ownerSeller, otherSeller, coSeller, admin] = await Promise.all([
      fx.customer(1_000_000),
      fx.customer(1_000_000),
      fx.seller(),
      fx.seller(),
      fx.seller(),
      fx.admin(),
    ]);
    const seller = ownerSeller.client;
    const customer = ownerCustomer.client;
    const strangerStore = await otherSeller.client.stores.create.mutate({ name: "Another seller's store" });
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
    const [claimable, otherClaimable, claimed, claimedByStranger] = await Promise.all([
      coupon('Nobody has claimed it'),
      coupon('Nobody has claimed this one either'),
      coupon('The owner holds it'),
      coupon('Another customer holds it'),
    ]);
    await customer.coupons.claim.mutate({ couponId: claimed.couponId });
    await otherCustomer.client.coupons.claim.mutate({ couponId: claimedByStranger.couponId });

    const coStore = await coSeller.client.stores.create.mutate({ name: 'A store sharing the order' });
    const coProduct = (await coSeller.client.products.create.mutate({ storeId: coStore.id, name: 'Their line', description: '', price: 500, stock: 100 })).id;
    const theirProduct = async (name: string) =>
      (await otherSeller.client.products.create.mutate({ storeId: strangerStore.id, name, description: '', price: 1_000, stock: 1_000 })).id;
    const [strangerProduct, strangerEventProduct] = await Promise.all([theirProduct('Their product'), theirProduct('Their flash product')]);

    const placeOrder = async (who: Account, productId: number, quantity: number, also: { productId: number; quantity: number }[] = []) =>
      (
        await who.client.orders.place.mutate({
          idempotencyKey: freshKey('sweep'),
          items: [{ productId, quantity }, ...also],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
        })
      ).orderId;
    /** A PAID order of `quantity` units, one of them refunded: the order, its line and the refund. */
    const refundedOrder = async (who: Account, productId: number, quantity: number, also: { productId: number; quantity: number }[] = []) => {
      const orderId = await placeOrder(who, productId, quantity, also);
      const order = await eventually(
        () => who.client.orders.get.query({ orderId }),
        (v) => v.status !== OrderStatus.PENDING,
        30_000,
      );
      if (order.status !== OrderStatus.PAID) throw new Error(`the sweep's order ended ${order.status} (${order.failureReason}), not PAID`);
      const orderItem = order.items.find((i) => i.productId === productId)!.orderItemId!;
      const { refundId } = await who.client.refunds.request.mutate({
        orderId,
        idempotencyKey: freshKey('sweep'),
        items: [{ orderItemId: orderItem, quantity: 1 }],
      });
      await eventually(
        () => who.client.refunds.get.query({ refundId }),
        (r) => r.status !== RefundStatus.PENDING,
        30_000,
      );
      return { orderId, orderItem, refundId };
    };
    const secretMessage = `Only for the owners: ${freshKey('secret')}`;
    const thread = async (who: Account, storeId: number) => {
      const { threadId } = await who.client.chat.open.mutate({ storeId });
      const body = who === ownerCustomer ? secretMessage : 'Is it fresh?';
      const message = await who.client.chat.send.mutate({ threadId, body, clientMessageId: freshKey('sweep') });
      return { threadId, messageId: message.id };
    };
    const newSubscription = async (who: Account, productId: number) =>
      (
        await who.client.subscriptions.create.mutate({
          items: [{ productId, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
          every: { count: 1, unit: 'MONTH' },
          startAt: new Date(Date.now() + 7 * DAY).toISOString(),
        })
      ).subscriptionId;
    const newEvent = async (who: Account, productId: number, opensInMs: number) =>
      (
        await who.client.waitingRoom.createEvent.mutate({
          productIds: [productId],
          opensAt: new Date(Date.now() + opensInMs).toISOString(),
          admitPerSecond: 1_000,
          tokenTtlSeconds: 3_600,
        })
      ).eventId;
    const ask = async (who: Account, productId: number) => (await who.client.questions.ask.mutate({ productId, body: 'How big is it?' })).id;

    const [mine, theirs] = await Promise.all([
      refundedOrder(ownerCustomer, product, 8, [{ productId: coProduct, quantity: 1 }]),
      refundedOrder(otherCustomer, strangerProduct, 2),
    ]);
    const settled = async (orderId: string, status: OrderStatus) => {
      const v = await eventually(
        () => customer.orders.get.query({ orderId }),
        (o) => o.status !== OrderStatus.PENDING && o.status !== OrderStatus.PAID,
        30_000,
      );
      if (v.status !== status) throw new Error(`the sweep's order ended ${v.status}, not ${status}`);
      return orderId;
    };
    const dear = (await seller.products.create.mutate({ storeId: store.id, name: 'Too dear', description: '', price: 100_000_000, stock: 10 })).id;
    const toCancel = await placeOrder(ownerCustomer, product, 1);
    await customer.orders.cancel.mutate({ orderId: toCancel });
    const [failedOrder, cancelledOrder] = await Promise.all([
      placeOrder(ownerCustomer, dear, 1).then((id) => settled(id, OrderStatus.FAILED)),
      settled(toCancel, OrderStatus.CANCELLED),
    ]);
    const [myThread, theirThread] = await Promise.all([thread(ownerCustomer, store.id), thread(otherCustomer, strangerStore.id)]);
    const [question, strangerQuestion] = await Promise.all([ask(ownerCustomer, product), ask(otherCustomer, strangerProduct)]);
    const [subscription, strangerSubscription] = await Promise.all([newSubscription(ownerCustomer, product), newSubscription(otherCustomer, strangerProduct)]);
    const [eventId, strangerEvent] = await Promise.all([newEvent(ownerSeller, eventProduct, -1_000), newEvent(otherSeller, strangerEventProduct, HOUR)]);
    // The owner's event is open: both customers enter its line and the scheduler's admission loop, stepped here, admits them.
    const loop = new AdmitWaitingRoomsLoop(
      running.deps.redis,
      running.deps.keys,
      new WaitingRoomRepository(running.deps.ds),
      new WaitingRoomStore(running.deps.redis, running.deps.keys),
      running.deps.gate,
      running.deps.metrics,
      createLogger('test', 'silent'),
      { tickMs: 100, abandonAfterMs: 600_000, syncMs: 0 },
    );
    const admitted = async (who: Account) => {
      await who.client.waitingRoom.enter.mutate({ eventId });
      const status = await eventually(
        async () => {
          await loop.step();
          return who.client.waitingRoom.status.query({ eventId });
        },
        (v) => v.state === 'ADMITTED',
        10_000,
        50,
      );
      if (status.state !== 'ADMITTED') throw new Error('not admitted');
      return status.admissionToken;
    };
    const [admissionToken, strangerAdmission] = await Promise.all([admitted(ownerCustomer), admitted(otherCustomer)]);
    const registerCard = async (who: Account) => (await who.client.subscriptions.registerCard.mutate({ authKey: `test_auth_${freshKey('sweep')}` })).billingKey;
    const [billingKey, strangerBillingKey] = await Promise.all([registerCard(ownerCustomer), registerCard(otherCustomer)]);
    // A CARD subscription the sweep never cancels (the last one on a key would delete it), and the owner's gateway customerKey.
    await customer.subscriptions.create.mutate({
      items: [{ productId: product, quantity: 1 }],
      paymentMethod: 'CARD',
      billingKey,
      fulfillment: DELIVERY,
      every: { count: 1, unit: 'WEEK' },
      startAt: new Date(Date.now() + 7 * DAY).toISOString(),
    });
    const { customerKey } = await customer.subscriptions.cardCustomerKey.query();
    await customer.cart.add.mutate({ productId: product, quantity: 2 });

    const workerApp = worker;
    return {
      api: running,
      ownerCustomer,
      ownerSeller,
      otherCustomer,
      otherSeller,
      coSeller,
      coStore: coStore.id,
      coProduct,
      admin,
      ids: {
        order: mine.orderId,
        orderItem: mine.orderItem,
        store: store.id,
        product,
        coupon: claimable.couponId,
        thread: myThread.threadId,
        message: myThread.messageId,
        subscription,
        event: eventId,
        question,
        refund: mine.refundId,
        user: ownerCustomer.id,
        billingKey,
        admissionToken,
      },
      strangers: {
        order: theirs.orderId,
        orderItem: theirs.orderItem,
        store: strangerStore.id,
        product: strangerProduct,
        coupon: claimedByStranger.couponId,
        thread: theirThread.threadId,
        message: theirThread.messageId,
        subscription: strangerSubscription,
        event: strangerEvent,
        question: strangerQuestion,
        refund: theirs.refundId,
        user: otherCustomer.id,
        billingKey: strangerBillingKey,
        admissionToken: strangerAdmission,
      },
      ordersIn: { FAILED: failedOrder, CANCELLED: cancelledOrder },
      claimedCoupon: claimed.couponId,
      claimable: otherClaimable.couponId,
      spareProduct,
      fresh: {
        store: async () => (await seller.stores.create.mutate({ name: 'A store to close' })).id,
        product: () => newProduct('A product to use up'),
        order: () => placeOrder(ownerCustomer, product, 1),
        subscription: () => newSubscription(ownerCustomer, product),
      },
      secrets: [mine.orderId, mine.refundId, billingKey, customerKey, admissionToken, secretMessage],
      sql: <T>(query: string, params: unknown[]) => selectRows<T>(running.deps.ds, query, params),
      async close() {
        await workerApp.close();
        await running.close();
        await gw.close();
      },
    };
  } catch (err) {
    await worker?.close();
    await api?.close();
    await gw.close();
    throw err;
  }
}
