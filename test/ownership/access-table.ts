import type { Account, IdKind, Ids, World } from './world';

/**
 * Who may call what, as docs/api.md says it. Each procedure that takes an id is classified here by the words of
 * its "who" column (the spec checks the words are the doc's), and those words map to a rule: what each of the
 * seven callers gets. A procedure the router has and this table does not is a failure, not a skip.
 */

/**
 * The callers, in the order the sweep calls them: the owner last (a mutation that gets through may change things).
 * "The other party" is the owner seller for a customer's resource and the owner customer for a seller's; "a seller
 * sharing the order" sells a line of the owners' order from a store of their own, and is a stranger to all else.
 */
export const CALLERS = ['anonymous', 'another customer', 'another seller', 'an admin', 'the other party', 'a seller sharing the order', 'the owner'] as const;
export type Caller = (typeof CALLERS)[number];

/** What a call answers: gets through, or the refusal (tRPC code; data.reason, or the field BAD_REQUEST names, when the contract gives one). */
export type Expect = 'OK' | { code: string; reason?: string; field?: string };
const OK = 'OK' as const;
const UNAUTHORIZED = { code: 'UNAUTHORIZED' };
const FORBIDDEN = { code: 'FORBIDDEN' };
const NOT_FOUND = { code: 'NOT_FOUND' };
const badField = (field: string) => ({ code: 'BAD_REQUEST', field });

export interface Rule {
  /** Whose resources the ids name: the owner customer's (the other party is the owner seller) or the reverse. */
  owner: 'customer' | 'seller';
  expect: Record<Caller, Expect>;
}

/** Someone else's order, subscription…: NOT_FOUND for another customer, as for one that does not exist; other roles fail the role check. */
const customersOwn: Rule = {
  owner: 'customer',
  expect: {
    anonymous: UNAUTHORIZED,
    'another customer': NOT_FOUND,
    'another seller': FORBIDDEN,
    'an admin': FORBIDDEN,
    'the other party': FORBIDDEN,
    'a seller sharing the order': FORBIDDEN,
    'the owner': OK,
  },
};
/** "FORBIDDEN: signed in, but not allowed: the wrong role, or someone else's store" (Errors); an admin passes the seller role check. */
const storesSeller: Rule = {
  owner: 'seller',
  expect: {
    anonymous: UNAUTHORIZED,
    'another customer': FORBIDDEN,
    'another seller': FORBIDDEN,
    'an admin': OK,
    'the other party': FORBIDDEN,
    'a seller sharing the order': FORBIDDEN,
    'the owner': OK,
  },
};
const storesSellerNotAdmin: Rule = { owner: 'seller', expect: { ...storesSeller.expect, 'an admin': FORBIDDEN } };
/** Refunds: the order's customer, the seller of its lines, an admin; anyone else is told there is no such order (the Refused-up-front table). */
const orderParties: Rule = {
  owner: 'customer',
  expect: {
    anonymous: UNAUTHORIZED,
    'another customer': NOT_FOUND,
    'another seller': NOT_FOUND,
    'an admin': OK,
    'the other party': OK,
    'a seller sharing the order': OK,
    'the owner': OK,
  },
};

/** The rule of each "who" the doc writes. */
export const RULES: Record<string, Rule> = {
  public: {
    owner: 'seller',
    expect: {
      anonymous: OK,
      'another customer': OK,
      'another seller': OK,
      'an admin': OK,
      'the other party': OK,
      'a seller sharing the order': OK,
      'the owner': OK,
    },
  },
  /** Any customer, on something offered to every customer (a product, a store, an event, a coupon); always the caller's own cart, claim or line. */
  customer: {
    owner: 'customer',
    expect: {
      anonymous: UNAUTHORIZED,
      'another customer': OK,
      'another seller': FORBIDDEN,
      'an admin': FORBIDDEN,
      'the other party': FORBIDDEN,
      'a seller sharing the order': FORBIDDEN,
      'the owner': OK,
    },
  },
  admin: {
    owner: 'customer',
    expect: {
      anonymous: UNAUTHORIZED,
      'another customer': FORBIDDEN,
      'another seller': FORBIDDEN,
      'an admin': OK,
      'the other party': FORBIDDEN,
      'a seller sharing the order': FORBIDDEN,
      'the owner': FORBIDDEN,
    },
  },
  "the order's customer": customersOwn,
  /** "Another customer's subscription answers NOT_FOUND; sellers and admins are refused (FORBIDDEN)." */
  "the subscription's customer": customersOwn,
  "the store's seller": storesSeller,
  "the products' seller (every product from one of their stores), or an admin": storesSeller,
  /** The admin is named for platform coupons only: a store coupon is its seller's (coupons.int.spec: "a store coupon by an admin → FORBIDDEN"). */
  "the store's seller; without `storeId` it is a platform coupon, admin only": storesSellerNotAdmin,
  /** The answer speaks for the store: an admin is no exception (questions router). */
  "the product's seller": storesSellerNotAdmin,
  "the order's customer; a seller, limited to lines sold by their own store; an admin": orderParties,
  'as for `request`': orderParties,
  /** "for anyone else (another customer, another seller, an admin) the thread answers NOT_FOUND". */
  "the thread's customer or the store's seller": {
    owner: 'customer',
    expect: {
      anonymous: UNAUTHORIZED,
      'another customer': NOT_FOUND,
      'another seller': NOT_FOUND,
      'an admin': NOT_FOUND,
      'the other party': OK,
      'a seller sharing the order': NOT_FOUND,
      'the owner': OK,
    },
  },
};

/** One call of the sweep: the world, who calls, and the ids its input names. */
export interface CallCtx {
  w: World;
  caller: Account | null;
  ids: Ids;
}

export interface Entry {
  /** The procedure's "who", as docs/api.md writes it (a key of RULES). */
  who: keyof typeof RULES;
  /** Where the procedure departs from its rule, and why (the doc's words). */
  except?: { callers: Partial<Record<Caller, Expect>>; because: string };
  /**
   * The owner calling with one id field naming someone else's resource instead (the rest theirs). The first id
   * field (the subject) answers as the rule has a stranger of the owner's role answer; every other id field of
   * the input must be given here — a secondary id is where a check on the subject alone lets a stranger's through.
   */
  swap?: Record<string, Expect>;
  /**
   * The owner listing their own and then someone else's resource in a list (`productIds`, `items.N.…`): what that
   * answers (null: no ownership question — any customer orders any store's products). Every listed id key must be
   * given here: a check of the first element alone is a bug this catches.
   */
  mixed?: Record<string, Expect | null>;
  /** Which stranger's resource of a kind the swapped id names, instead of `w.strangers`. */
  strangers?: (w: World) => Partial<Ids>;
  /** Which resource of a kind this procedure's ids name, instead of `w.ids`. */
  ids?: (w: World) => Partial<Ids>;
  /** A caller expected to get through uses these up (a store closed, an order cancelled): made fresh for that call. */
  fresh?: (w: World) => Promise<Partial<Ids>>;
  /** Fields of the input beyond what the schema and the field builders give (the schema's cross-field rules). */
  input?: (c: CallCtx) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Before a call expected to get through: the state it needs (a cart line to remove, a paused subscription to resume). */
  prepare?: (c: CallCtx) => Promise<void>;
  /** What a refused call (or another caller acting on their own) must leave as it was: read before and after. */
  untouched?: (c: CallCtx) => Promise<unknown>;
}

const row = (w: World, query: string, params: unknown[]) => w.sql<Record<string, unknown>>(query, params);
const storeRow = ({ w, ids }: CallCtx) => row(w, 'SELECT name, status, time_zone, pickup_lead_minutes FROM stores WHERE id = ?', [ids.store]);
const productRow = ({ w, ids }: CallCtx) => row(w, 'SELECT name, description, price, stock, status FROM products WHERE id = ?', [ids.product]);
const ownersCart = ({ w }: CallCtx) => row(w, 'SELECT product_id, quantity FROM cart_items WHERE user_id = ? ORDER BY product_id', [w.ownerCustomer.id]);
const subscriptionRow = ({ w, ids }: CallCtx) => row(w, 'SELECT status, pause_reason FROM subscriptions WHERE id = ?', [ids.subscription]);
const threadRows = ({ w, ids }: CallCtx) =>
  Promise.all([
    row(w, 'SELECT id, sender_id, body FROM chat_messages WHERE thread_id = ? ORDER BY id', [ids.thread]),
    row(w, 'SELECT user_id, last_read_message_id FROM chat_reads WHERE thread_id = ? ORDER BY user_id', [ids.thread]),
  ]);
/** The owner customer's view of their order's part in the owner's store. */
const partOf = async (w: World) => {
  const view = await w.ownerCustomer.client.orders.get.query({ orderId: w.ids.order });
  const part = view.stores.find((s) => s.storeId === w.ids.store);
  if (!part) throw new Error(`order ${w.ids.order} has no part in store ${w.ids.store}`);
  return part;
};
const subscriptionStatus = async ({ w, ids }: CallCtx) => (await w.ownerCustomer.client.subscriptions.get.query({ subscriptionId: ids.subscription })).status;
/** The caller's own cart holds the product (setQuantity and remove act on a line already there). */
const lineInCallersCart = async ({ caller, ids }: CallCtx) => {
  await caller?.client.cart.add.mutate({ productId: ids.product, quantity: 1 });
};

/** Every procedure that takes an id, by its path. */
export const TABLE: Record<string, Entry> = {
  'stores.get': { who: 'public' },
  'stores.update': { who: "the store's seller", input: () => ({ name: 'Renamed by the sweep' }), untouched: storeRow },
  'stores.close': { who: "the store's seller", fresh: async (w) => ({ store: await w.fresh.store() }), untouched: storeRow },
  'stores.orders': { who: "the store's seller" },
  'stores.pickups': { who: "the store's seller" },

  'products.create': {
    who: "the store's seller",
    untouched: ({ w, ids }) => row(w, 'SELECT id FROM products WHERE store_id = ? ORDER BY id', [ids.store]),
  },
  'products.get': { who: 'public' },
  'products.list': { who: 'public' },
  'products.update': { who: "the store's seller", input: () => ({ name: 'Renamed by the sweep' }), untouched: productRow },
  'products.remove': { who: "the store's seller", fresh: async (w) => ({ product: await w.fresh.product() }), untouched: productRow },
  'products.restock': { who: "the store's seller", untouched: productRow },

  'orders.place': {
    who: 'customer',
    ids: (w) => ({ coupon: w.claimedCoupon }),
    except: {
      // The owner's admission token is checked first, in the api process: "another customer's token is refused".
      callers: { 'another customer': { code: 'PRECONDITION_FAILED', reason: 'ADMISSION_REQUIRED' } },
      because: 'the admission token and the coupon claim are the owner\'s: ADMISSION_REQUIRED ("an expired, altered or another customer\'s token is refused")',
    },
    // Another store's line beside the owner's: anyone may order any store's products.
    mixed: { productId: null },
    swap: {
      // Another store's product is anyone's to order, but the owner's store coupon covers no line of it.
      productId: { code: 'PRECONDITION_FAILED', reason: 'COUPON_NOT_APPLICABLE' },
      // COUPON_UNAVAILABLE: "the coupon is not the customer's to use (not claimed, …)".
      couponId: { code: 'PRECONDITION_FAILED', reason: 'COUPON_UNAVAILABLE' },
      admissionToken: { code: 'PRECONDITION_FAILED', reason: 'ADMISSION_REQUIRED' },
    },
    // The owner's claim stays theirs, unheld, whoever else names the coupon.
    untouched: ({ w, ids }) => row(w, 'SELECT user_id, order_id, used_at FROM coupon_claims WHERE coupon_id = ? ORDER BY user_id', [ids.coupon]),
  },
  'orders.get': { who: "the order's customer" },
  'orders.cancel': {
    who: "the order's customer",
    fresh: async (w) => ({ order: await w.fresh.order() }),
    untouched: ({ w, ids }) =>
      Promise.all([
        row(w, 'SELECT status FROM orders WHERE id = ?', [ids.order]),
        row(w, 'SELECT id, kind, status FROM refunds WHERE order_id = ? ORDER BY id', [ids.order]),
      ]),
  },
  'orders.onStatus': { who: "the order's customer" },

  'points.grant': {
    who: 'admin',
    untouched: ({ w, ids }) => row(w, 'SELECT id, amount FROM point_lots WHERE user_id = ? ORDER BY id', [ids.user]),
  },

  'cart.add': { who: 'customer', untouched: ownersCart },
  'cart.setQuantity': { who: 'customer', prepare: lineInCallersCart, untouched: ownersCart },
  'cart.remove': { who: 'customer', prepare: lineInCallersCart, untouched: ownersCart },

  'questions.ask': { who: 'customer' },
  'questions.answer': {
    who: "the product's seller",
    untouched: ({ w, ids }) => row(w, 'SELECT answer, answered_by FROM questions WHERE id = ?', [ids.question]),
  },
  'questions.list': { who: 'public' },

  'coupons.create': {
    who: "the store's seller; without `storeId` it is a platform coupon, admin only",
    untouched: ({ w, ids }) => row(w, 'SELECT id FROM coupons WHERE store_id = ? ORDER BY id', [ids.store]),
  },
  'coupons.claim': {
    who: 'customer',
    // Claiming a coupon someone else holds is fine; not the one orders.place's swap names (the owner must not hold that one).
    strangers: (w) => ({ coupon: w.claimable }),
    untouched: ({ w, ids }) => row(w, 'SELECT user_id FROM coupon_claims WHERE coupon_id = ? AND user_id = ?', [ids.coupon, w.ownerCustomer.id]),
  },
  'coupons.list': { who: 'public' },

  'refunds.request': {
    who: "the order's customer; a seller, limited to lines sold by their own store; an admin",
    except: {
      callers: { 'a seller sharing the order': FORBIDDEN },
      because: '"FORBIDDEN: a seller named a line of another store" (the line named is the owner store\'s)',
    },
    // "BAD_REQUEST at items.N.orderItemId: the order has no such line" — a line of another order is not one of its lines.
    swap: { orderItemId: badField('items.0.orderItemId') },
    mixed: { orderItemId: badField('items.1.orderItemId') },
    untouched: ({ w, ids }) => row(w, 'SELECT id FROM refunds WHERE order_id = ? ORDER BY id', [ids.order]),
  },
  'refunds.get': {
    who: 'as for `request`',
    // The refund is of the owner store's line only: nothing of it is theirs to see.
    except: { callers: { 'a seller sharing the order': NOT_FOUND }, because: '"a seller sees only their own store\'s lines"' },
  },
  'refunds.list': { who: 'as for `request`' },

  'fulfillment.update': {
    who: "the store's seller",
    // "another seller's store: FORBIDDEN; no part of the order in the store: NOT_FOUND": the owner's store has no part of another's order.
    swap: { orderId: NOT_FOUND, storeId: FORBIDDEN },
    // The next move of the owners' part, whoever asks (so a refusal is about who, never about the move).
    input: async ({ w }) => {
      const next = (await partOf(w)).next[0] ?? 'SHIPPED';
      return next === 'SHIPPED' ? { status: next, trackingNumber: 'SWEEP-0001' } : { status: next };
    },
    untouched: async ({ w, ids }) =>
      Promise.all([
        partOf(w).then(({ status, trackingNumber }) => ({ status, trackingNumber })),
        row(w, 'SELECT store_id, status, tracking_number FROM order_store_parts WHERE order_id = ? ORDER BY store_id', [ids.order]),
      ]),
  },

  'subscriptions.create': {
    who: 'customer',
    input: () => ({ paymentMethod: 'CARD' }),
    except: {
      callers: { 'another customer': badField('billingKey') },
      because: '"Another customer\'s key, an unknown one, or one deleted by a cancel → BAD_REQUEST on billingKey, and nothing is written"',
    },
    swap: { billingKey: badField('billingKey') },
    // Two stores' products in one subscription: anyone's to order.
    mixed: { productId: 'OK' },
    untouched: ({ w, caller }) => row(w, 'SELECT id FROM subscriptions WHERE user_id = ? ORDER BY id', [(caller ?? w.ownerCustomer).id]),
  },
  'subscriptions.get': { who: "the subscription's customer" },
  'subscriptions.pause': {
    who: "the subscription's customer",
    prepare: async (c) => {
      if ((await subscriptionStatus(c)) === 'PAUSED') await c.w.ownerCustomer.client.subscriptions.resume.mutate({ subscriptionId: c.ids.subscription });
    },
    untouched: subscriptionRow,
  },
  'subscriptions.resume': {
    who: "the subscription's customer",
    prepare: async (c) => {
      if ((await subscriptionStatus(c)) === 'ACTIVE') await c.w.ownerCustomer.client.subscriptions.pause.mutate({ subscriptionId: c.ids.subscription });
    },
    untouched: subscriptionRow,
  },
  'subscriptions.cancel': {
    who: "the subscription's customer",
    fresh: async (w) => ({ subscription: await w.fresh.subscription() }),
    untouched: subscriptionRow,
  },

  'chat.open': { who: 'customer' },
  'chat.send': { who: "the thread's customer or the store's seller", untouched: threadRows },
  'chat.history': { who: "the thread's customer or the store's seller" },
  'chat.markRead': {
    who: "the thread's customer or the store's seller",
    // "A messageId that is not in the thread is refused (BAD_REQUEST naming messageId)".
    swap: { messageId: badField('messageId') },
    untouched: threadRows,
  },
  'chat.onMessage': { who: "the thread's customer or the store's seller" },

  'waitingRoom.createEvent': {
    who: "the products' seller (every product from one of their stores), or an admin",
    // "every product from one of their stores": one of another seller's beside the owner's is refused.
    mixed: { productIds: FORBIDDEN },
    // A product is in one event at a time: each caller that gets through makes one for a product of its own.
    ids: (w) => ({ product: w.spareProduct }),
    fresh: async (w) => ({ product: await w.fresh.product() }),
    untouched: ({ w, ids }) => row(w, 'SELECT event_id FROM waiting_room_event_products WHERE product_id = ?', [ids.product]),
  },
  'waitingRoom.get': { who: 'public' },
  'waitingRoom.enter': { who: 'customer' },
  'waitingRoom.status': { who: 'customer' },
};

/**
 * The field builders: each id-like key an input may hold, and the resource it names (null: not a resource — an
 * idempotency key or a cursor, built by FIELD_VALUES or left out when optional). A key the router's schemas hold and
 * this does not is a failure: the sweep has no fixture for it.
 */
export const ID_FIELDS: Record<string, IdKind | null> = {
  orderId: 'order',
  orderItemId: 'orderItem',
  storeId: 'store',
  productId: 'product',
  productIds: 'product',
  couponId: 'coupon',
  threadId: 'thread',
  messageId: 'message',
  subscriptionId: 'subscription',
  eventId: 'event',
  questionId: 'question',
  refundId: 'refund',
  userId: 'user',
  /** A call's own idempotency keys: the caller's, naming nothing else. */
  idempotencyKey: null,
  clientMessageId: null,
  /** A card's gateway payment, confirmed for the order's amount; the contract binds it to no account. */
  paymentKey: null,
  /** registerCard's one-off authorization from the gateway's window; the billing key it becomes is bound to the caller. */
  authKey: null,
  /** "Another customer's key … → BAD_REQUEST on billingKey" (subscriptions). */
  billingKey: 'billingKey',
  /** "A token is bound to the customer, the event and its expiry … another customer's token is refused" (waitingRoom). */
  admissionToken: 'admissionToken',
  /** chat.onMessage's resume cursor (optional: left out). */
  lastEventId: null,
};

let seq = 0;
const key = () => `sweep-${Date.now().toString(36)}-${(seq++).toString(36)}`;
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

/** Values of the fields that are not ids but that the schema alone cannot make valid (patterns, windows, keys). */
export const FIELD_VALUES: Record<string, () => unknown> = {
  idempotencyKey: key,
  clientMessageId: key,
  body: () => 'Written by the ownership sweep',
  name: () => 'Made by the ownership sweep',
  reason: () => 'ownership sweep',
  phone: () => '010-0000-0000',
  postalCode: () => '04524',
  validFrom: () => new Date(Date.now() - 60_000).toISOString(),
  validUntil: () => inDays(30),
  opensAt: () => inDays(1),
  startAt: () => inDays(7),
  expiresAt: () => inDays(30),
  paymentMethod: () => 'BALANCE',
  kind: () => 'FIXED',
};

/** The input keys that make a call safe to retry: the caller's own, so the same key from another caller is another intent. */
export const RETRY_KEYS = ['idempotencyKey', 'clientMessageId'] as const;

/**
 * Each procedure with a retry key: two callers who may both make the call send the same key and the same input,
 * and each gets their own result (the answer's `idOf` field names it) (a retry of one never answers the other's order, refund, charge or message).
 * A procedure with a retry key missing here fails the sweep.
 */
export const KEYED: Record<string, { callers: (w: World) => [Account, Account]; input: (w: World, key: string) => Record<string, unknown>; idOf: string }> = {
  'wallet.charge': { callers: (w) => [w.ownerCustomer, w.otherCustomer], input: (_w, key) => ({ amount: 1_000, idempotencyKey: key }), idOf: 'entryId' },
  'orders.place': {
    idOf: 'orderId',
    callers: (w) => [w.ownerCustomer, w.otherCustomer],
    input: (w, key) => ({
      idempotencyKey: key,
      items: [{ productId: w.ids.product, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: { type: 'DELIVERY', address: { recipient: 'x', phone: '010-0000-0000', postalCode: '04524', line1: 'x' } },
    }),
  },
  // The order's customer and the seller of its line each refund a unit under the same key.
  'refunds.request': {
    idOf: 'refundId',
    callers: (w) => [w.ownerCustomer, w.ownerSeller],
    input: (w, key) => ({ orderId: w.ids.order, idempotencyKey: key, items: [{ orderItemId: w.ids.orderItem, quantity: 1 }] }),
  },
  // The thread's customer and the store's seller send the same message under the same clientMessageId.
  'chat.send': {
    idOf: 'id',
    callers: (w) => [w.ownerCustomer, w.ownerSeller],
    input: (w, key) => ({ threadId: w.ids.thread, body: 'Same words, same key', clientMessageId: key }),
  },
};
