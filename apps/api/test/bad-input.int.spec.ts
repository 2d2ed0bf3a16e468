import { randomBytes } from 'node:crypto';
import { COUPON_LIMITS, CouponState, LIMITS, MAX_POINTS_GRANT, type CouponView, type ProductView, type QuestionView } from '@bazaar/contracts';
import { execute, selectRows } from '@bazaar/db';
import { appRouter } from '../src/router';
import { DELIVERY, PASSWORD, newAccount, newProduct, startTestApi, uniqueEmail, type TestApi } from '../../../test/support/api-harness';

/**
 * Bad input, over real HTTP, for every procedure of the app router. Raw fetch
 * in the tRPC v11 non-batched wire format (POST + JSON body for mutations,
 * GET + ?input= for queries) so we can send what the typed client would not.
 *
 * Every answer: the right HTTP status and data.code, never INTERNAL_SERVER_ERROR,
 * BAD_REQUEST naming the offending field (data.issues and the message), no
 * stack trace, SQL or file path in the body, and no effect (wallet, orders,
 * products, cart, questions, coupons and claims, point lots).
 */

type Kind = 'query' | 'mutation';
const PROCEDURES: Record<string, Kind> = {
  'auth.signup': 'mutation',
  'auth.login': 'mutation',
  'auth.me': 'query',
  'auth.logout': 'mutation',
  'wallet.balance': 'query',
  'wallet.charge': 'mutation',
  'wallet.history': 'query',
  'stores.create': 'mutation',
  'stores.get': 'query',
  'stores.mine': 'query',
  'products.create': 'mutation',
  'products.get': 'query',
  'products.list': 'query',
  'products.update': 'mutation',
  'products.remove': 'mutation',
  'products.restock': 'mutation',
  'products.popular': 'query',
  'orders.place': 'mutation',
  'orders.get': 'query',
  'orders.cancel': 'mutation',
  'orders.list': 'query',
  'cart.list': 'query',
  'cart.add': 'mutation',
  'cart.setQuantity': 'mutation',
  'cart.remove': 'mutation',
  'cart.clear': 'mutation',
  'questions.ask': 'mutation',
  'questions.answer': 'mutation',
  'questions.list': 'query',
  'coupons.create': 'mutation',
  'coupons.claim': 'mutation',
  'coupons.list': 'query',
  'coupons.mine': 'query',
  'points.balance': 'query',
  'points.history': 'query',
  'points.grant': 'mutation',
  'refunds.request': 'mutation',
  'refunds.get': 'query',
  'refunds.list': 'query',
  'stores.update': 'mutation',
  'stores.close': 'mutation',
  'stores.orders': 'query',
  'stores.pickups': 'query',
  'fulfillment.update': 'mutation',
  'subscriptions.create': 'mutation',
  'subscriptions.list': 'query',
  'subscriptions.get': 'query',
  'subscriptions.pause': 'mutation',
  'subscriptions.resume': 'mutation',
  'subscriptions.cancel': 'mutation',
  'subscriptions.cardCustomerKey': 'query',
  'subscriptions.registerCard': 'mutation',
  'chat.open': 'mutation',
  'chat.send': 'mutation',
  'chat.history': 'query',
  'chat.threads': 'query',
  'chat.markRead': 'mutation',
  'waitingRoom.createEvent': 'mutation',
  'waitingRoom.get': 'query',
  'waitingRoom.enter': 'mutation',
  'waitingRoom.status': 'query',
};

/** Subscriptions run over SSE; their refusals are tested end to end (test/e2e/order-slice.e2e.spec.ts, test/e2e/chat.e2e.spec.ts). */
const SUBSCRIPTIONS = ['orders.onStatus', 'chat.onMessage'];

const HTTP = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
} as const;
type Code = keyof typeof HTTP;

/** Text sent as is (malformed JSON, numbers JSON.stringify cannot write). */
class Raw {
  constructor(readonly text: string) {}
}
/** Send no input at all. */
const NONE = Symbol('no input');

interface Issue {
  path: string;
  message: string;
}
interface ErrorBody {
  message: string;
  code: number;
  data: { code: string; httpStatus: number; path?: string; issues?: Issue[]; reason?: string | null };
}
interface Answer {
  status: number;
  text: string;
  error?: ErrorBody;
  data?: unknown;
}

/**
 * Stack frames, SQL, driver error codes and file paths. (A bare ' at ' is not
 * checked: the contract's own messages say "at least 10 characters" and
 * "each product at most once per order"; a stack frame is " at fn (file:1:2)".)
 */
const LEAKS: RegExp[] = [
  /stack/i,
  /\bat \S+ \(/,
  /\bat \S+:\d+:\d+/,
  /in JSON at position/,
  /SELECT/,
  /INSERT/,
  /sql/i,
  /\bER_[A-Z_]+/,
  /node_modules/,
  /\.ts:\d+/,
];

function expectNoLeak(a: Answer): void {
  for (const re of LEAKS) expect(a.text).not.toMatch(re);
}

function expectError(a: Answer, code: Code, fields: string[] = []): ErrorBody {
  expectNoLeak(a);
  expect(a.error?.data.code).not.toBe('INTERNAL_SERVER_ERROR');
  expect({ status: a.status, code: a.error?.data.code, httpStatus: a.error?.data.httpStatus }).toEqual({ status: HTTP[code], code, httpStatus: HTTP[code] });
  const err = a.error!;
  if (code === 'BAD_REQUEST') {
    const paths = (err.data.issues ?? []).map((i) => i.path);
    expect(paths.length).toBeGreaterThan(0);
    for (const f of fields) {
      expect(paths).toContain(f);
      expect(err.message).toContain(f);
    }
  }
  return err;
}

/** Rows of the fixtures' users in the tables coupons and points write. */
interface Rows {
  coupons: number;
  claims: number;
  lots: number;
  threads: number;
  messages: number;
  reads: number;
}
interface Fixtures {
  customer: { token: string; email: string; userId: number };
  sellerA: { token: string; storeId: number; productId: number; userId: number };
  sellerB: { token: string; storeId: number; productId: number; userId: number };
  /** An ADMIN, made by SQL (sign-up never makes one), with a session issued directly. */
  admin: { token: string; userId: number };
  loggedOutToken: string;
  /** The customer's one question, on sellerA's product, unanswered. */
  question: QuestionView;
  /** sellerA's and sellerB's products as they were after setup. */
  productA: ProductView;
  productB: ProductView;
  /**
   * The admin's platform coupons: `claimed` (its minimum above any order here) claimed by the customer
   * in setup, `unclaimed` claimed by no one (and open to claims).
   */
  coupons: { claimed: CouponView; unclaimed: CouponView };
  /** The fixtures' rows after setup: every refused call leaves them so. */
  rows: Rows;
  /** The customer's chat thread with sellerA's store, holding one message of the customer's. */
  chat: { threadId: number; messageId: number };
}
const STOCK_A = 10;
const STOCK_B = 5;
const SETUP_CHARGE = { amount: 50_000, idempotencyKey: 'bad-input-setup-charge' };
const UNKNOWN_ULID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
const UNKNOWN_ID = 987_654_321;
const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();
/** Above any order this spec places (a few thousand won). */
const HIGH_MINIMUM = 1_000_000;

describe('bad input on every procedure, over HTTP', () => {
  let api: TestApi;
  const f = {} as Fixtures;

  async function send(path: string, input: unknown, opts: { token?: string; authorization?: string; kind?: Kind } = {}): Promise<Answer> {
    const kind = opts.kind ?? PROCEDURES[path] ?? 'mutation';
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.authorization !== undefined) headers.authorization = opts.authorization;
    const text = input === NONE ? undefined : input instanceof Raw ? input.text : JSON.stringify(input);
    const res =
      kind === 'query'
        ? await fetch(`${api.url}/trpc/${path}${text === undefined ? '' : `?input=${encodeURIComponent(text)}`}`, { headers })
        : await fetch(`${api.url}/trpc/${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: text ?? '' });
    const body = await res.text();
    let parsed: { error?: ErrorBody; result?: { data?: unknown } } = {};
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      // not JSON: the status and text are asserted
    }
    return { status: res.status, text: body, error: parsed.error, data: parsed.result?.data };
  }

  async function ok(path: string, input: unknown, token?: string): Promise<unknown> {
    const a = await send(path, input, { token });
    expectNoLeak(a);
    expect({ path, status: a.status, error: a.error }).toEqual({ path, status: 200, error: undefined });
    return a.data;
  }

  // "Changes nothing" probes.
  async function expectWalletUnchanged(): Promise<void> {
    expect(await ok('wallet.balance', NONE, f.customer.token)).toEqual({ balance: SETUP_CHARGE.amount });
    const history = (await ok('wallet.history', { limit: 100 }, f.customer.token)) as { items: { kind: string; ref: string; amount: number }[] };
    expect(history.items.map((e) => ({ kind: e.kind, ref: e.ref, amount: e.amount }))).toEqual([
      { kind: 'CHARGE', ref: SETUP_CHARGE.idempotencyKey, amount: SETUP_CHARGE.amount },
    ]);
  }
  async function expectStock(productId: number, stock: number): Promise<void> {
    const p = (await ok('products.get', { productId })) as { stock: number };
    expect(p.stock).toBe(stock);
  }
  /** No refund requested by, or for, the fixtures' users (other suites share the run's database). */
  async function expectNoRefunds(): Promise<void> {
    const users = [f.customer.userId, f.sellerA.userId, f.sellerB.userId, f.admin.userId];
    const marks = users.map(() => '?').join(', ');
    const [row] = await selectRows<{ n: number | string }>(
      api.deps.ds,
      `SELECT COUNT(*) AS n FROM refunds WHERE user_id IN (${marks}) OR requested_by IN (${marks})`,
      [...users, ...users],
    );
    expect(Number(row!.n)).toBe(0);
  }
  async function expectNoOrders(): Promise<void> {
    expect(await ok('orders.list', { limit: 100 }, f.customer.token)).toEqual({ items: [], nextCursor: null });
    await expectStock(f.sellerA.productId, STOCK_A);
    await expectStock(f.sellerB.productId, STOCK_B);
  }
  /** Everything but the view count, which each products.get raises by one. */
  async function expectProductsUnchanged(): Promise<void> {
    const unchanged = ({ viewCount: _v, ...rest }: ProductView) => ({ ...rest, viewCount: expect.any(Number) as number });
    expect(await ok('products.get', { productId: f.sellerA.productId })).toEqual(unchanged(f.productA));
    expect(await ok('products.get', { productId: f.sellerB.productId })).toEqual(unchanged(f.productB));
  }
  async function expectCartEmpty(): Promise<void> {
    expect(await ok('cart.list', NONE, f.customer.token)).toEqual({ items: [], total: 0 });
  }
  async function expectQuestionsUnchanged(): Promise<void> {
    expect(await ok('questions.list', { productId: f.sellerA.productId })).toEqual({ items: [f.question], nextCursor: null });
    expect(await ok('questions.list', { productId: f.sellerB.productId })).toEqual({ items: [], nextCursor: null });
  }
  /** Coupons made by, claims and point lots of the fixtures' users (other suites share the database). */
  async function countRows(): Promise<Rows> {
    const users = [f.customer.userId, f.sellerA.userId, f.sellerB.userId, f.admin.userId];
    const inUsers = users.map(() => '?').join(', ');
    const [row] = await selectRows<Record<keyof Rows, number | string>>(
      api.deps.ds,
      `SELECT (SELECT COUNT(*) FROM coupons WHERE created_by IN (${inUsers})) AS coupons,
              (SELECT COUNT(*) FROM coupon_claims WHERE user_id IN (${inUsers})) AS claims,
              (SELECT COUNT(*) FROM point_lots WHERE user_id IN (${inUsers})) AS lots,
              (SELECT COUNT(*) FROM chat_threads WHERE customer_id IN (${inUsers})) AS threads,
              (SELECT COUNT(*) FROM chat_messages WHERE sender_id IN (${inUsers})) AS messages,
              (SELECT COUNT(*) FROM chat_reads WHERE user_id IN (${inUsers})) AS \`reads\``,
      [...users, ...users, ...users, ...users, ...users, ...users],
    );
    return {
      coupons: Number(row!.coupons),
      claims: Number(row!.claims),
      lots: Number(row!.lots),
      threads: Number(row!.threads),
      messages: Number(row!.messages),
      reads: Number(row!.reads),
    };
  }
  /** No coupon created or claimed, no points granted: the rows as setup left them, the customer's coupons and points as they were. */
  async function expectCouponsAndPointsUnchanged(): Promise<void> {
    expect(await countRows()).toEqual(f.rows);
    expect(await ok('coupons.list', { storeId: f.sellerA.storeId })).toEqual({ items: [], nextCursor: null });
    expect(await ok('coupons.list', { storeId: f.sellerB.storeId })).toEqual({ items: [], nextCursor: null });
    const mine = (await ok('coupons.mine', { limit: 100 }, f.customer.token)) as { items: { couponId: number; state: string; orderId: string | null }[] };
    expect(mine.items.map((m) => [m.couponId, m.state, m.orderId])).toEqual([[f.coupons.claimed.id, CouponState.AVAILABLE, null]]);
    expect(await ok('points.balance', NONE, f.customer.token)).toEqual({ balance: 0 });
    expect(await ok('points.history', { limit: 100 }, f.customer.token)).toEqual({ items: [], nextCursor: null });
  }

  beforeAll(async () => {
    api = await startTestApi();
    const [customer, a, b] = await Promise.all([
      newAccount(api, 'CUSTOMER'),
      newProduct(api, { stock: STOCK_A, price: 1_000 }),
      newProduct(api, { stock: STOCK_B, price: 2_000 }),
    ]);
    await customer.client.wallet.charge.mutate(SETUP_CHARGE);
    f.customer = { token: customer.token, email: customer.user.email, userId: customer.user.id };
    f.sellerA = { token: a.seller.token, storeId: a.store.id, productId: a.product.id, userId: a.seller.user.id };
    f.sellerB = { token: b.seller.token, storeId: b.store.id, productId: b.product.id, userId: b.seller.user.id };
    const admin = await execute(api.deps.ds, `INSERT INTO users (email, password_hash, name, role) VALUES (?, 'not-a-real-hash', 'admin', 'ADMIN')`, [
      uniqueEmail('admin'),
    ]);
    const adminId = Number(admin.insertId);
    f.admin = { token: (await api.deps.sessions.issue({ userId: adminId, role: 'ADMIN' })).token, userId: adminId };
    const platformCoupon = async (name: string, minOrderAmount: number) => {
      const made = (await ok(
        'coupons.create',
        { name, kind: 'FIXED', value: 100, minOrderAmount, quantity: 10, validFrom: inDays(-1), validUntil: inDays(7) },
        f.admin.token,
      )) as { couponId: number; coupon: CouponView };
      return made.coupon;
    };
    f.coupons = { claimed: await platformCoupon('Big spenders only', HIGH_MINIMUM), unclaimed: await platformCoupon('Nobody claimed me', 0) };
    await ok('coupons.claim', { couponId: f.coupons.claimed.id }, f.customer.token);
    // A second session of the customer, logged out (with a junk body: logout takes no input).
    const { token } = await api.client().auth.login.mutate({ email: customer.user.email, password: PASSWORD });
    const out = await send('auth.logout', new Raw('{junk'), { token });
    expect({ status: out.status, data: out.data }).toEqual({ status: 200, data: { ok: true } });
    f.loggedOutToken = token;
    f.question = await customer.client.questions.ask.mutate({ productId: a.product.id, body: 'Does it come in blue?' });
    f.productA = (await ok('products.get', { productId: a.product.id })) as ProductView;
    f.productB = (await ok('products.get', { productId: b.product.id })) as ProductView;
    const { threadId } = (await ok('chat.open', { storeId: a.store.id }, f.customer.token)) as { threadId: number };
    const first = (await ok('chat.send', { threadId, body: 'Is it in stock?', clientMessageId: 'bad-input-setup-1' }, f.customer.token)) as { id: number };
    f.chat = { threadId, messageId: first.id };
    f.rows = await countRows();
    expect(f.rows).toEqual({ coupons: 2, claims: 1, lots: 0, threads: 1, messages: 1, reads: 0 });
  });

  it('PROCEDURES lists every procedure of the app router, with its kind', () => {
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
    const all = Object.entries(procedures).map(([path, p]) => [path, p._def.type] as const);
    expect(Object.fromEntries(all.filter(([, type]) => type !== 'subscription'))).toEqual(PROCEDURES);
    expect(all.filter(([, type]) => type === 'subscription').map(([path]) => path)).toEqual(SUBSCRIPTIONS);
  });

  afterAll(async () => {
    await api?.close();
  });

  /** A table case: builds the bad input from the procedure's valid one. */
  interface Case<V> {
    name: string;
    make: (v: V) => unknown;
    fields: string[];
  }
  const caseFor =
    <V>() =>
    (name: string, make: (v: V) => unknown, ...fields: string[]): Case<V> => ({ name, make, fields });

  /** Junk every procedure with an input schema must refuse at the root, plus an unknown field. */
  function junk<V extends object>(): Case<V>[] {
    const c = caseFor<V>();
    return [
      c('no input', () => NONE, '(root)'),
      c('null', () => null, '(root)'),
      c('an array', () => [], '(root)'),
      c('a string', () => 'hello', '(root)'),
      c('a number', () => 42, '(root)'),
      c('malformed JSON', () => new Raw('{"a": 1,'), '(root)'),
      c('not JSON at all', () => new Raw('<xml/>'), '(root)'),
      c('an unknown field', (v) => ({ ...v, isAdmin: true }), 'isAdmin'),
    ];
  }

  /** An id field (a positive safe integer): missing, wrong-typed or out of range. */
  function idCases<V extends object>(field: string): Case<V>[] {
    const c = caseFor<V>();
    const set = (v: V, value: unknown) => ({ ...v, [field]: value });
    return [
      c(`${field} missing`, (v) => Object.fromEntries(Object.entries(v).filter(([k]) => k !== field)), field),
      c(`${field} a string`, (v) => set(v, String((v as Record<string, unknown>)[field])), field),
      c(`${field} zero`, (v) => set(v, 0), field),
      c(`${field} negative`, (v) => set(v, -1), field),
      c(`${field} fractional`, (v) => set(v, 1.5), field),
      c(`${field} beyond safe integers`, (v) => set(v, 2 ** 53), field),
      c(`${field} null`, (v) => set(v, null), field),
      c(`${field} an array`, (v) => set(v, [(v as Record<string, unknown>)[field]]), field),
    ];
  }

  /** A cart line's quantity (1..LIMITS.maxQuantityPerLine): missing, wrong-typed or out of range. */
  function quantityCases<V extends { quantity: number }>(): Case<V>[] {
    const c = caseFor<V>();
    return [
      c('quantity missing', ({ quantity: _q, ...v }) => v, 'quantity'),
      c('quantity zero', (v) => ({ ...v, quantity: 0 }), 'quantity'),
      c('quantity negative', (v) => ({ ...v, quantity: -1 }), 'quantity'),
      c('quantity fractional', (v) => ({ ...v, quantity: 1.5 }), 'quantity'),
      c('quantity over the per-line limit', (v) => ({ ...v, quantity: LIMITS.maxQuantityPerLine + 1 }), 'quantity'),
      c('quantity huge', (v) => ({ ...v, quantity: 1e300 }), 'quantity'),
      c(
        'quantity 1e400 (Infinity)',
        (v) => new Raw(`{"productId": ${JSON.stringify((v as Record<string, unknown>).productId)}, "quantity": 1e400}`),
        'quantity',
      ),
      c('quantity a string', (v) => ({ ...v, quantity: '1' }), 'quantity'),
      c('quantity null', (v) => ({ ...v, quantity: null }), 'quantity'),
    ];
  }

  /** A question's or answer's body (1..2000 characters after trimming). */
  function bodyCases<V extends { body: string }>(): Case<V>[] {
    const c = caseFor<V>();
    return [
      c('body missing', ({ body: _b, ...v }) => v, 'body'),
      c('body empty', (v) => ({ ...v, body: '' }), 'body'),
      c('body only spaces and newlines', (v) => ({ ...v, body: '   \n\t  ' }), 'body'),
      c('body only Unicode spaces', (v) => ({ ...v, body: '\u00a0\u3000\ufeff\u2028' }), 'body'),
      c('body 2001 characters', (v) => ({ ...v, body: 'b'.repeat(2001) }), 'body'),
      c('body 2001 characters between spaces', (v) => ({ ...v, body: `  ${'b'.repeat(2001)}  ` }), 'body'),
      c('body huge (500 kB)', (v) => ({ ...v, body: 'b'.repeat(500_000) }), 'body'),
      c('body a number', (v) => ({ ...v, body: 42 }), 'body'),
      c('body null', (v) => ({ ...v, body: null }), 'body'),
      c('body an array', (v) => ({ ...v, body: [v.body] }), 'body'),
      c('body an object', (v) => ({ ...v, body: { text: v.body } }), 'body'),
    ];
  }

  /** Declares one table test per case; `after` checks the case changed nothing. */
  function table<V extends object>(path: string, token: () => string | undefined, valid: () => V, cases: Case<V>[], after?: () => Promise<void>): void {
    it.each(cases.map((k) => [k.name, k] as const))(`${path}: %s → BAD_REQUEST`, async (_name, k) => {
      const a = await send(path, k.make(valid()), { token: token() });
      expectError(a, 'BAD_REQUEST', k.fields);
      if (after) await after();
    });
  }

  describe('auth.signup', () => {
    const valid = () => ({ email: uniqueEmail('never'), password: PASSWORD, name: 'Never', role: 'CUSTOMER' });
    const c = caseFor<ReturnType<typeof valid>>();
    table('auth.signup', () => undefined, valid, [
      ...junk<ReturnType<typeof valid>>(),
      c('email missing', ({ email: _e, ...v }) => v, 'email'),
      c('email not an email', (v) => ({ ...v, email: 'not-an-email' }), 'email'),
      c('email a number', (v) => ({ ...v, email: 12345 }), 'email'),
      c('email null', (v) => ({ ...v, email: null }), 'email'),
      c('email too long', (v) => ({ ...v, email: `${'a'.repeat(250)}@x.io` }), 'email'),
      c('password 9 characters', (v) => ({ ...v, password: '123456789' }), 'password'),
      c('password 129 characters', (v) => ({ ...v, password: 'p'.repeat(129) }), 'password'),
      c('password huge (500 kB)', (v) => ({ ...v, password: 'p'.repeat(500_000) }), 'password'),
      c('password an array', (v) => ({ ...v, password: [PASSWORD] }), 'password'),
      c('name empty', (v) => ({ ...v, name: '' }), 'name'),
      c('name only spaces', (v) => ({ ...v, name: '    ' }), 'name'),
      c('name 51 characters', (v) => ({ ...v, name: 'n'.repeat(51) }), 'name'),
      c('role ADMIN', (v) => ({ ...v, role: 'ADMIN' }), 'role'),
      c('role lower case', (v) => ({ ...v, role: 'customer' }), 'role'),
      c('role missing', ({ role: _r, ...v }) => v, 'role'),
      c('several fields at once', () => ({ email: 'x', password: 'short', name: '', role: 'ROOT' }), 'email', 'password', 'name', 'role'),
    ]);

    it('an email already registered (in any case) → CONFLICT', async () => {
      for (const email of [f.customer.email, f.customer.email.toUpperCase()]) {
        const err = expectError(await send('auth.signup', { email, password: PASSWORD, name: 'Twin', role: 'CUSTOMER' }), 'CONFLICT');
        expect(err.message).not.toContain('Duplicate');
      }
    });
  });

  describe('auth.login', () => {
    const valid = () => ({ email: f.customer.email, password: PASSWORD });
    const c = caseFor<ReturnType<typeof valid>>();
    table('auth.login', () => undefined, valid, [
      ...junk<ReturnType<typeof valid>>(),
      c('email missing', ({ email: _e, ...v }) => v, 'email'),
      c('email not an email', (v) => ({ ...v, email: 'nobody' }), 'email'),
      c('password empty', (v) => ({ ...v, password: '' }), 'password'),
      c('password 129 characters', (v) => ({ ...v, password: 'p'.repeat(129) }), 'password'),
      c('password a number', (v) => ({ ...v, password: 1234567890 }), 'password'),
    ]);

    it('a wrong password and an unknown email → UNAUTHORIZED with the same message', async () => {
      const wrong = expectError(await send('auth.login', { email: f.customer.email, password: 'wrong-password-1' }), 'UNAUTHORIZED');
      const unknown = expectError(await send('auth.login', { email: uniqueEmail('ghost'), password: PASSWORD }), 'UNAUTHORIZED');
      expect(unknown.message).toBe(wrong.message);
    });
  });

  describe('procedures without input ignore whatever input is sent', () => {
    it.each([['auth.me'], ['wallet.balance'], ['cart.list'], ['points.balance']])('%s', async (path) => {
      for (const input of [new Raw('{junk'), { extra: 1 }, null]) await ok(path, input, f.customer.token);
    });
    it('cart.clear (an empty cart stays empty)', async () => {
      for (const input of [new Raw('{junk'), { productId: f.sellerA.productId }, null]) {
        expect(await ok('cart.clear', input, f.customer.token)).toEqual({ items: [], total: 0 });
      }
      await expectCartEmpty();
    });
    it('stores.mine', async () => {
      for (const input of [new Raw('{junk'), { sellerId: 1 }, null]) await ok('stores.mine', input, f.sellerA.token);
    });
    it('products.popular (public)', async () => {
      for (const input of [new Raw('{junk'), { limit: 1000 }, null, []]) {
        // Other suites' orders share this database: what is ranked is theirs; the shape is what counts here.
        expect(await ok('products.popular', input)).toMatchObject({ items: expect.any(Array) as unknown[], computedAt: expect.any(String) as string });
      }
    });
  });

  describe('wallet.charge', () => {
    const valid = () => ({ amount: 100, idempotencyKey: 'bad-input-charge-key' });
    const c = caseFor<ReturnType<typeof valid>>();
    table(
      'wallet.charge',
      () => f.customer.token,
      valid,
      [
        ...junk<ReturnType<typeof valid>>(),
        c('amount missing', ({ amount: _a, ...v }) => v, 'amount'),
        c('amount a string', (v) => ({ ...v, amount: '100' }), 'amount'),
        c('amount null', (v) => ({ ...v, amount: null }), 'amount'),
        c('amount an array', (v) => ({ ...v, amount: [100] }), 'amount'),
        c('amount zero', (v) => ({ ...v, amount: 0 }), 'amount'),
        c('amount negative', (v) => ({ ...v, amount: -100 }), 'amount'),
        c('amount fractional', (v) => ({ ...v, amount: 100.5 }), 'amount'),
        c('amount over the charge limit', (v) => ({ ...v, amount: LIMITS.maxWalletCharge + 1 }), 'amount'),
        c('amount huge', (v) => ({ ...v, amount: 1e308 }), 'amount'),
        c('amount unsafe integer', (v) => ({ ...v, amount: 2 ** 60 }), 'amount'),
        c('amount 1e400 (Infinity)', (v) => new Raw(`{"amount": 1e400, "idempotencyKey": "${v.idempotencyKey}"}`), 'amount'),
        c('idempotencyKey missing', ({ idempotencyKey: _k, ...v }) => v, 'idempotencyKey'),
        c('idempotencyKey 7 characters', (v) => ({ ...v, idempotencyKey: 'abcdefg' }), 'idempotencyKey'),
        c('idempotencyKey 65 characters', (v) => ({ ...v, idempotencyKey: 'k'.repeat(65) }), 'idempotencyKey'),
        c('idempotencyKey huge', (v) => ({ ...v, idempotencyKey: 'k'.repeat(100_000) }), 'idempotencyKey'),
        c('idempotencyKey with spaces', (v) => ({ ...v, idempotencyKey: 'bad key with spaces' }), 'idempotencyKey'),
        c('idempotencyKey with punctuation', (v) => ({ ...v, idempotencyKey: "key';--DROP" }), 'idempotencyKey'),
        c('idempotencyKey non-ASCII', (v) => ({ ...v, idempotencyKey: '키키키키키키키키키' }), 'idempotencyKey'),
        c('idempotencyKey a number', (v) => ({ ...v, idempotencyKey: 123456789 }), 'idempotencyKey'),
        c('a userId field', (v) => ({ ...v, userId: 1 }), 'userId'),
      ],
      expectWalletUnchanged,
    );
  });

  describe('wallet.history', () => {
    const valid = () => ({ limit: 10 });
    const c = caseFor<ReturnType<typeof valid>>();
    table(
      'wallet.history',
      () => f.customer.token,
      valid,
      [
        ...junk<ReturnType<typeof valid>>().filter((k) => k.name !== 'no input'), // no input means the defaults
        c('cursor not a number', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
        c('cursor fractional', (v) => ({ ...v, cursor: '1.5' }), 'cursor'),
        c('cursor beyond safe integers', (v) => ({ ...v, cursor: '1e400' }), 'cursor'),
        c('cursor empty', (v) => ({ ...v, cursor: '' }), 'cursor'),
        c('cursor a number', (v) => ({ ...v, cursor: 5 }), 'cursor'),
        c('cursor 201 characters', (v) => ({ ...v, cursor: '1'.repeat(201) }), 'cursor'),
        c('limit zero', () => ({ limit: 0 }), 'limit'),
        c('limit 101', () => ({ limit: 101 }), 'limit'),
        c('limit negative', () => ({ limit: -1 }), 'limit'),
        c('limit fractional', () => ({ limit: 2.5 }), 'limit'),
        c('limit a string', () => ({ limit: '10' }), 'limit'),
      ],
      expectWalletUnchanged,
    );
  });

  describe('stores.create', () => {
    const valid = () => ({ name: 'Never created' });
    const c = caseFor<ReturnType<typeof valid>>();
    table('stores.create', () => f.sellerA.token, valid, [
      ...junk<ReturnType<typeof valid>>(),
      c('name missing', () => ({}), 'name'),
      c('name empty', () => ({ name: '' }), 'name'),
      c('name only spaces', () => ({ name: '   ' }), 'name'),
      c('name 101 characters', () => ({ name: 's'.repeat(101) }), 'name'),
      c('name huge (200 kB)', () => ({ name: 's'.repeat(200_000) }), 'name'),
      c('name a number', () => ({ name: 7 }), 'name'),
      c('a sellerId field', (v) => ({ ...v, sellerId: 1 }), 'sellerId'),
    ]);

    it('creates no store on refusal', async () => {
      const mine = (await ok('stores.mine', NONE, f.sellerA.token)) as { id: number }[];
      expect(mine.map((s) => s.id)).toEqual([f.sellerA.storeId]);
    });
  });

  describe('stores.get', () => {
    const valid = () => ({ storeId: f.sellerA.storeId });
    const c = caseFor<ReturnType<typeof valid>>();
    table('stores.get', () => undefined, valid, [
      ...junk<ReturnType<typeof valid>>(),
      c('storeId missing', () => ({}), 'storeId'),
      c('storeId a string', () => ({ storeId: '1' }), 'storeId'),
      c('storeId zero', () => ({ storeId: 0 }), 'storeId'),
      c('storeId negative', () => ({ storeId: -1 }), 'storeId'),
      c('storeId fractional', () => ({ storeId: 1.5 }), 'storeId'),
      c('storeId beyond safe integers', () => ({ storeId: 2 ** 53 }), 'storeId'),
      c('storeId null', () => ({ storeId: null }), 'storeId'),
    ]);

    it('an unknown store → NOT_FOUND', async () => {
      expectError(await send('stores.get', { storeId: UNKNOWN_ID }), 'NOT_FOUND');
      expectError(await send('stores.get', { storeId: Number.MAX_SAFE_INTEGER }), 'NOT_FOUND');
    });
  });

  describe('products.create', () => {
    const valid = () => ({ storeId: f.sellerA.storeId, name: 'Never created', description: '', price: 100, stock: 1 });
    const c = caseFor<ReturnType<typeof valid>>();
    table('products.create', () => f.sellerA.token, valid, [
      ...junk<ReturnType<typeof valid>>(),
      c('storeId missing', ({ storeId: _s, ...v }) => v, 'storeId'),
      c('storeId zero', (v) => ({ ...v, storeId: 0 }), 'storeId'),
      c('storeId a string', (v) => ({ ...v, storeId: String(v.storeId) }), 'storeId'),
      c('name empty', (v) => ({ ...v, name: '' }), 'name'),
      c('name 201 characters', (v) => ({ ...v, name: 'n'.repeat(201) }), 'name'),
      c('description 5001 characters', (v) => ({ ...v, description: 'd'.repeat(5001) }), 'description'),
      c('description null', (v) => ({ ...v, description: null }), 'description'),
      c('price missing', ({ price: _p, ...v }) => v, 'price'),
      c('price negative', (v) => ({ ...v, price: -1 }), 'price'),
      c('price fractional', (v) => ({ ...v, price: 99.99 }), 'price'),
      c('price over the limit', (v) => ({ ...v, price: LIMITS.maxPrice + 1 }), 'price'),
      c('price a string', (v) => ({ ...v, price: '100' }), 'price'),
      c('stock negative', (v) => ({ ...v, stock: -1 }), 'stock'),
      c('stock fractional', (v) => ({ ...v, stock: 0.5 }), 'stock'),
      c('stock over the limit', (v) => ({ ...v, stock: LIMITS.maxStock + 1 }), 'stock'),
      c('a status field', (v) => ({ ...v, status: 'ACTIVE' }), 'status'),
    ]);

    it("an unknown store → NOT_FOUND; another seller's store → FORBIDDEN", async () => {
      expectError(await send('products.create', { ...valid(), storeId: UNKNOWN_ID }, { token: f.sellerA.token }), 'NOT_FOUND');
      expectError(await send('products.create', { ...valid(), storeId: f.sellerB.storeId }, { token: f.sellerA.token }), 'FORBIDDEN');
    });
  });

  describe('products.get', () => {
    const valid = () => ({ productId: f.sellerA.productId });
    const c = caseFor<ReturnType<typeof valid>>();
    table('products.get', () => undefined, valid, [
      ...junk<ReturnType<typeof valid>>(),
      c('productId missing', () => ({}), 'productId'),
      c('productId a string', () => ({ productId: 'x' }), 'productId'),
      c('productId zero', () => ({ productId: 0 }), 'productId'),
      c('productId negative', () => ({ productId: -5 }), 'productId'),
      c('productId fractional', () => ({ productId: 1.5 }), 'productId'),
      c('productId beyond safe integers', () => ({ productId: 2 ** 53 }), 'productId'),
    ]);

    it('an unknown product → NOT_FOUND', async () => {
      expectError(await send('products.get', { productId: UNKNOWN_ID }), 'NOT_FOUND');
    });
  });

  describe('products.list', () => {
    const valid = () => ({ query: 'test', storeId: f.sellerA.storeId, minPrice: 0, maxPrice: 5_000, inStock: true, sort: 'price', limit: 10 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    /** A well-formed cursor (base64url JSON) with this payload. */
    const forged = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');
    table('products.list', () => undefined, valid, [
      ...junk<V>().filter((k) => k.name !== 'no input'), // no input means the defaults
      c('query empty', (v) => ({ ...v, query: '' }), 'query'),
      c('query only spaces', (v) => ({ ...v, query: ' \t\n ' }), 'query'),
      c('query only punctuation and symbols', (v) => ({ ...v, query: '!!! ~~ ★ 🙂' }), 'query'),
      c('query only boolean-mode operators', (v) => ({ ...v, query: '+-*"()<>~@' }), 'query'),
      c('query 101 characters', (v) => ({ ...v, query: 'q'.repeat(101) }), 'query'),
      c('query 1,000 Korean characters', (v) => ({ ...v, query: '가'.repeat(1_000) }), 'query'),
      c('query a number', (v) => ({ ...v, query: 42 }), 'query'),
      c('query null', (v) => ({ ...v, query: null }), 'query'),
      c('query an array', (v) => ({ ...v, query: ['test'] }), 'query'),
      c('storeId a string', (v) => ({ ...v, storeId: String(v.storeId) }), 'storeId'),
      c('storeId zero', (v) => ({ ...v, storeId: 0 }), 'storeId'),
      c('storeId negative', (v) => ({ ...v, storeId: -1 }), 'storeId'),
      c('storeId fractional', (v) => ({ ...v, storeId: 1.5 }), 'storeId'),
      c('storeId beyond safe integers', (v) => ({ ...v, storeId: 2 ** 53 }), 'storeId'),
      c('storeId null', (v) => ({ ...v, storeId: null }), 'storeId'),
      c('minPrice negative', (v) => ({ ...v, minPrice: -1 }), 'minPrice'),
      c('minPrice fractional', (v) => ({ ...v, minPrice: 0.5 }), 'minPrice'),
      c('minPrice a string', (v) => ({ ...v, minPrice: '0' }), 'minPrice'),
      c(`maxPrice over ${LIMITS.maxPrice}`, (v) => ({ ...v, maxPrice: LIMITS.maxPrice + 1 }), 'maxPrice'),
      c('maxPrice 1e400 (Infinity)', () => new Raw('{"maxPrice": 1e400}'), 'maxPrice'),
      c('maxPrice below minPrice', (v) => ({ ...v, minPrice: 5_001, maxPrice: 5_000 }), 'maxPrice'),
      c('inStock a string', (v) => ({ ...v, inStock: 'yes' }), 'inStock'),
      c('inStock a number', (v) => ({ ...v, inStock: 1 }), 'inStock'),
      c('inStock null', (v) => ({ ...v, inStock: null }), 'inStock'),
      c('sort unknown', (v) => ({ ...v, sort: 'cheapest' }), 'sort'),
      c('sort in upper case', (v) => ({ ...v, sort: 'PRICE' }), 'sort'),
      c('sort empty', (v) => ({ ...v, sort: '' }), 'sort'),
      c('sort null', (v) => ({ ...v, sort: null }), 'sort'),
      c('cursor not base64url', (v) => ({ ...v, cursor: 'not a cursor!' }), 'cursor'),
      c('cursor not one the API made', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
      c('cursor of another sort', (v) => ({ ...v, cursor: forged({ s: 'popular', k: 1, i: 1 }) }), 'cursor'),
      c('cursor with a negative key', (v) => ({ ...v, cursor: forged({ s: 'price', k: -1, i: 1 }) }), 'cursor'),
      c('cursor with an SQL-ish key', (v) => ({ ...v, cursor: forged({ s: 'price', k: '0 OR 1=1', i: 1 }) }), 'cursor'),
      c('cursor with id zero', (v) => ({ ...v, cursor: forged({ s: 'price', k: 1, i: 0 }) }), 'cursor'),
      c('cursor empty', (v) => ({ ...v, cursor: '' }), 'cursor'),
      c('cursor a number', (v) => ({ ...v, cursor: 5 }), 'cursor'),
      c('cursor 201 characters', (v) => ({ ...v, cursor: 'c'.repeat(201) }), 'cursor'),
      c('limit zero', (v) => ({ ...v, limit: 0 }), 'limit'),
      c('limit 101', (v) => ({ ...v, limit: 101 }), 'limit'),
      c('limit fractional', (v) => ({ ...v, limit: 2.5 }), 'limit'),
      c('limit a string', (v) => ({ ...v, limit: '10' }), 'limit'),
      c('an offset field', (v) => ({ ...v, offset: 20 }), 'offset'),
      c('several fields at once', () => ({ storeId: 'one', sort: 'best', limit: 0 }), 'storeId', 'sort', 'limit'),
    ]);

    it("a store's listing shows its product; no input at all is the first page of everything", async () => {
      const page = (await ok('products.list', { storeId: f.sellerA.storeId })) as { items: { id: number }[]; nextCursor: string | null };
      expect(page).toEqual({ items: [expect.objectContaining({ id: f.productA.id, name: f.productA.name, price: f.productA.price })], nextCursor: null });
      const all = (await ok('products.list', NONE)) as { items: unknown[] };
      expect(all.items.length).toBeGreaterThan(0);
    });
  });

  describe('products.update', () => {
    // Every field differs from the product's, so a case that slipped through would show in products.get.
    const valid = () => ({ productId: f.sellerA.productId, name: 'Renamed', description: 'Changed', price: 999 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'products.update',
      () => f.sellerA.token,
      valid,
      [
        ...junk<V>(),
        ...idCases<V>('productId'),
        c('no field to change', (v) => ({ productId: v.productId }), 'name'),
        c('every field null', (v) => ({ productId: v.productId, name: null, description: null, price: null }), 'name', 'description', 'price'),
        c('name empty', (v) => ({ ...v, name: '' }), 'name'),
        c('name only spaces', (v) => ({ ...v, name: '    ' }), 'name'),
        c('name 201 characters', (v) => ({ ...v, name: 'n'.repeat(201) }), 'name'),
        c('name a number', (v) => ({ ...v, name: 7 }), 'name'),
        c('description 5001 characters', (v) => ({ ...v, description: 'd'.repeat(5001) }), 'description'),
        c('description huge (500 kB)', (v) => ({ ...v, description: 'd'.repeat(500_000) }), 'description'),
        c('description a number', (v) => ({ ...v, description: 1 }), 'description'),
        c('price negative', (v) => ({ ...v, price: -1 }), 'price'),
        c('price fractional', (v) => ({ ...v, price: 99.99 }), 'price'),
        c('price over the limit', (v) => ({ ...v, price: LIMITS.maxPrice + 1 }), 'price'),
        c('price a string', (v) => ({ ...v, price: '100' }), 'price'),
        c('price 1e400 (Infinity)', (v) => new Raw(`{"productId": ${v.productId}, "price": 1e400}`), 'price'),
        c('a stock field (restock changes stock)', (v) => ({ ...v, stock: 1_000 }), 'stock'),
        c('a status field', (v) => ({ ...v, status: 'DELETED' }), 'status'),
        c('a storeId field', (v) => ({ ...v, storeId: f.sellerB.storeId }), 'storeId'),
        c('several fields at once', (v) => ({ productId: v.productId, name: '', description: 7, price: -1 }), 'name', 'description', 'price'),
      ],
      expectProductsUnchanged,
    );

    it("an unknown product → NOT_FOUND; another seller's product → FORBIDDEN; products unchanged", async () => {
      expectError(await send('products.update', { ...valid(), productId: UNKNOWN_ID }, { token: f.sellerA.token }), 'NOT_FOUND');
      expectError(await send('products.update', { ...valid(), productId: f.sellerB.productId }, { token: f.sellerA.token }), 'FORBIDDEN');
      expectError(await send('products.update', { ...valid(), productId: f.sellerA.productId }, { token: f.sellerB.token }), 'FORBIDDEN');
      await expectProductsUnchanged();
    });
  });

  describe('products.remove', () => {
    const valid = () => ({ productId: f.sellerA.productId });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'products.remove',
      () => f.sellerA.token,
      valid,
      [
        ...junk<V>(),
        ...idCases<V>('productId'),
        c('a status field', (v) => ({ ...v, status: 'DELETED' }), 'status'),
        c('a hard-delete flag', (v) => ({ ...v, hard: true }), 'hard'),
      ],
      expectProductsUnchanged,
    );

    it("an unknown product → NOT_FOUND; another seller's product → FORBIDDEN; products unchanged", async () => {
      expectError(await send('products.remove', { productId: UNKNOWN_ID }, { token: f.sellerA.token }), 'NOT_FOUND');
      expectError(await send('products.remove', { productId: f.sellerB.productId }, { token: f.sellerA.token }), 'FORBIDDEN');
      expectError(await send('products.remove', { productId: f.sellerA.productId }, { token: f.sellerB.token }), 'FORBIDDEN');
      await expectProductsUnchanged();
    });

    it('a removed product is NOT_FOUND to every procedure that names it, and nothing is written', async () => {
      const { seller, product } = await newProduct(api, { stock: 3, price: 500 });
      expect(await ok('products.remove', { productId: product.id }, seller.token)).toEqual({ productId: product.id, status: 'DELETED' });
      const productId = product.id;
      const calls: [path: string, input: unknown, token: string | undefined][] = [
        ['products.get', { productId }, undefined],
        ['products.update', { productId, price: 1 }, seller.token],
        ['products.remove', { productId }, seller.token],
        ['products.restock', { productId, quantity: 1 }, seller.token],
        ['cart.add', { productId, quantity: 1 }, f.customer.token],
        ['cart.setQuantity', { productId, quantity: 1 }, f.customer.token],
        ['cart.remove', { productId }, f.customer.token],
        ['questions.ask', { productId, body: 'Still sold?' }, f.customer.token],
        ['questions.list', { productId }, undefined],
      ];
      for (const [path, input, token] of calls) {
        const a = await send(path, input, { token });
        expect({ path, code: a.error?.data.code }).toEqual({ path, code: 'NOT_FOUND' });
        expectError(a, 'NOT_FOUND');
      }
      await expectCartEmpty();
      await expectQuestionsUnchanged();
      await expectProductsUnchanged();
    });
  });

  describe('products.restock', () => {
    const valid = () => ({ productId: f.sellerA.productId, quantity: 1 });
    const c = caseFor<ReturnType<typeof valid>>();
    const stockUnchanged = async () => {
      await expectStock(f.sellerA.productId, STOCK_A);
      await expectStock(f.sellerB.productId, STOCK_B);
    };
    table(
      'products.restock',
      () => f.sellerA.token,
      valid,
      [
        ...junk<ReturnType<typeof valid>>(),
        c('productId missing', ({ productId: _p, ...v }) => v, 'productId'),
        c('productId a string', (v) => ({ ...v, productId: 'abc' }), 'productId'),
        c('productId negative', (v) => ({ ...v, productId: -1 }), 'productId'),
        c('quantity missing', ({ quantity: _q, ...v }) => v, 'quantity'),
        c('quantity zero', (v) => ({ ...v, quantity: 0 }), 'quantity'),
        c('quantity negative', (v) => ({ ...v, quantity: -10 }), 'quantity'),
        c('quantity fractional', (v) => ({ ...v, quantity: 1.5 }), 'quantity'),
        c('quantity over the limit', (v) => ({ ...v, quantity: LIMITS.maxStock + 1 }), 'quantity'),
        c('quantity a string', (v) => ({ ...v, quantity: '5' }), 'quantity'),
      ],
      stockUnchanged,
    );

    it("an unknown product → NOT_FOUND; another seller's product → FORBIDDEN; stock unchanged", async () => {
      expectError(await send('products.restock', { productId: UNKNOWN_ID, quantity: 1 }, { token: f.sellerA.token }), 'NOT_FOUND');
      expectError(await send('products.restock', { productId: f.sellerB.productId, quantity: 1 }, { token: f.sellerA.token }), 'FORBIDDEN');
      await stockUnchanged();
    });
  });

  describe('orders.place', () => {
    const valid = () => ({
      idempotencyKey: 'bad-input-order-key',
      items: [{ productId: f.sellerA.productId, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY as { type: string; address: Record<string, unknown> },
    });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    const line = (v: V, patch: Record<string, unknown>) => ({ ...v, items: [{ ...v.items[0], ...patch }] });
    const address = (v: V, patch: Record<string, unknown>) => ({ ...v, fulfillment: { ...v.fulfillment, address: { ...v.fulfillment.address, ...patch } } });
    const pickup = (v: V, pickupAt: unknown) => ({ ...v, fulfillment: { type: 'PICKUP', pickupAt } });
    table(
      'orders.place',
      () => f.customer.token,
      valid,
      [
        ...junk<V>(),
        c('items missing (and no fromCart)', ({ items: _i, ...v }) => v, 'items'),
        c('items empty', (v) => ({ ...v, items: [] }), 'items'),
        c('items not an array', (v) => ({ ...v, items: { productId: 1, quantity: 1 } }), 'items'),
        c('10,000 lines', (v) => ({ ...v, items: Array.from({ length: 10_000 }, (_, i) => ({ productId: i + 1, quantity: 1 })) }), 'items'),
        c('51 lines', (v) => ({ ...v, items: Array.from({ length: LIMITS.maxLinesPerOrder + 1 }, (_, i) => ({ productId: i + 1, quantity: 1 })) }), 'items'),
        c('both items and fromCart', (v) => ({ ...v, fromCart: true }), 'items', 'fromCart'),
        c('fromCart false', ({ items: _i, ...v }) => ({ ...v, fromCart: false }), 'fromCart'),
        c('admissionToken empty', (v) => ({ ...v, admissionToken: '' }), 'admissionToken'),
        c('admissionToken 201 characters', (v) => ({ ...v, admissionToken: 't'.repeat(201) }), 'admissionToken'),
        c('admissionToken a number', (v) => ({ ...v, admissionToken: 42 }), 'admissionToken'),
        c('quantity zero', (v) => line(v, { quantity: 0 }), 'items.0.quantity'),
        c('quantity negative', (v) => line(v, { quantity: -1 }), 'items.0.quantity'),
        c('quantity fractional', (v) => line(v, { quantity: 0.5 }), 'items.0.quantity'),
        c('quantity over the per-line limit', (v) => line(v, { quantity: LIMITS.maxQuantityPerLine + 1 }), 'items.0.quantity'),
        c('quantity huge', (v) => line(v, { quantity: 1e300 }), 'items.0.quantity'),
        c('quantity a string', (v) => line(v, { quantity: '1' }), 'items.0.quantity'),
        c('quantity missing', (v) => ({ ...v, items: [{ productId: v.items[0]!.productId }] }), 'items.0.quantity'),
        c('productId a string', (v) => line(v, { productId: 'one' }), 'items.0.productId'),
        c('productId zero', (v) => line(v, { productId: 0 }), 'items.0.productId'),
        c('a price on the line', (v) => line(v, { price: 1 }), 'items.0.price'),
        c('a line null', (v) => ({ ...v, items: [v.items[0], null] }), 'items.1'),
        c('an unknown product', (v) => ({ ...v, items: [v.items[0], { productId: UNKNOWN_ID, quantity: 1 }] }), 'items.1.productId'),
        c(
          'the same product twice',
          (v) => ({ ...v, items: [v.items[0], { productId: f.sellerB.productId, quantity: 1 }, { ...v.items[0], quantity: 2 }] }),
          'items.2.productId',
        ),
        c('paymentMethod missing', ({ paymentMethod: _p, ...v }) => v, 'paymentMethod'),
        c('paymentMethod unknown', (v) => ({ ...v, paymentMethod: 'CASH' }), 'paymentMethod'),
        c('BALANCE with a paymentKey', (v) => ({ ...v, paymentKey: 'pk_test_123' }), 'paymentKey'),
        c('CARD without a paymentKey', (v) => ({ ...v, paymentMethod: 'CARD' }), 'paymentKey'),
        c('CARD with an empty paymentKey', (v) => ({ ...v, paymentMethod: 'CARD', paymentKey: '' }), 'paymentKey'),
        c('idempotencyKey missing', ({ idempotencyKey: _k, ...v }) => v, 'idempotencyKey'),
        c('idempotencyKey 7 characters', (v) => ({ ...v, idempotencyKey: 'short-k' }), 'idempotencyKey'),
        c('idempotencyKey 65 characters', (v) => ({ ...v, idempotencyKey: 'k'.repeat(65) }), 'idempotencyKey'),
        c('idempotencyKey with bad characters', (v) => ({ ...v, idempotencyKey: 'order/key#1!' }), 'idempotencyKey'),
        c('idempotencyKey null', (v) => ({ ...v, idempotencyKey: null }), 'idempotencyKey'),
        c('fulfillment missing', ({ fulfillment: _f, ...v }) => v, 'fulfillment'),
        c('fulfillment type unknown', (v) => ({ ...v, fulfillment: { type: 'DRONE' } }), 'fulfillment.type'),
        c('DELIVERY without an address', (v) => ({ ...v, fulfillment: { type: 'DELIVERY' } }), 'fulfillment.address'),
        c('DELIVERY with a pickupAt', (v) => ({ ...v, fulfillment: { ...v.fulfillment, pickupAt: inDays(1) } }), 'fulfillment.pickupAt'),
        c('postalCode 4 digits', (v) => address(v, { postalCode: '1234' }), 'fulfillment.address.postalCode'),
        c('phone not a phone', (v) => address(v, { phone: 'call me' }), 'fulfillment.address.phone'),
        c('recipient empty', (v) => address(v, { recipient: '' }), 'fulfillment.address.recipient'),
        c('line1 201 characters', (v) => address(v, { line1: 'l'.repeat(201) }), 'fulfillment.address.line1'),
        c('an unknown address field', (v) => address(v, { country: 'KR' }), 'fulfillment.address.country'),
        c('pickupAt in the past', (v) => pickup(v, '2020-01-01T10:00:00Z'), 'fulfillment.pickupAt'),
        c('pickupAt 31 days ahead', (v) => pickup(v, inDays(31)), 'fulfillment.pickupAt'),
        c('pickupAt not a date', (v) => pickup(v, 'tomorrow'), 'fulfillment.pickupAt'),
        c('pickupAt without an offset', (v) => pickup(v, inDays(1).replace('Z', '')), 'fulfillment.pickupAt'),
        c('pickupAt a number', (v) => pickup(v, Date.now() + 86_400_000), 'fulfillment.pickupAt'),
        c('couponId zero', (v) => ({ ...v, couponId: 0 }), 'couponId'),
        c('couponId a string', (v) => ({ ...v, couponId: 'SALE10' }), 'couponId'),
        c('points negative', (v) => ({ ...v, points: -1 }), 'points'),
        c('points fractional', (v) => ({ ...v, points: 1.5 }), 'points'),
        c('a userId field', (v) => ({ ...v, userId: 1 }), 'userId'),
        c('a status field', (v) => ({ ...v, status: 'PAID' }), 'status'),
      ],
      expectNoOrders,
    );

    it.each([
      ['an unknown couponId', () => ({ couponId: UNKNOWN_ID }), 'couponId'],
      ['points 10× the price', () => ({ points: 10 * f.productA.price }), 'points'],
      ['points one past the price', () => ({ points: f.productA.price + 1 }), 'points'],
    ] as const)('%s → BAD_REQUEST naming %s, and no order', async (_name, patch, field) => {
      expectError(await send('orders.place', { ...valid(), ...patch() }, { token: f.customer.token }), 'BAD_REQUEST', [field]);
      await expectNoOrders();
      await expectWalletUnchanged();
      await expectCouponsAndPointsUnchanged();
    });

    it.each([
      ['a coupon the customer holds, whose minimum the order does not reach', () => f.coupons.claimed.id, 'COUPON_NOT_APPLICABLE'],
      ['a coupon the customer never claimed', () => f.coupons.unclaimed.id, 'COUPON_UNAVAILABLE'],
    ] as const)('%s → PRECONDITION_FAILED, data.reason %s; no order, and the coupon is not held', async (_name, couponId, reason) => {
      expect(f.productA.price).toBeLessThan(HIGH_MINIMUM);
      const err = expectError(await send('orders.place', { ...valid(), couponId: couponId() }, { token: f.customer.token }), 'PRECONDITION_FAILED');
      expect(err.data.reason).toBe(reason);
      await expectNoOrders();
      await expectWalletUnchanged();
      await expectCouponsAndPointsUnchanged(); // the held coupon still AVAILABLE, with no order
    });

    it('points within the total but above the live balance are not bad input: accepted (the worker refuses them later)', async () => {
      const [other, { product }] = await Promise.all([newAccount(api, 'CUSTOMER'), newProduct(api, { stock: 5, price: 700 })]);
      const order = { ...valid(), idempotencyKey: 'bad-input-points-order', items: [{ productId: product.id, quantity: 1 }], points: product.price };
      const placed = await ok('orders.place', order, other.token);
      expect(placed).toEqual({ orderId: expect.any(String) as string, status: 'PENDING' });
      await expectNoOrders();
      await expectCouponsAndPointsUnchanged();
    });

    it('fromCart with an empty cart → BAD_REQUEST naming fromCart, and no order', async () => {
      const { items: _i, ...v } = valid();
      const err = expectError(await send('orders.place', { ...v, fromCart: true }, { token: f.customer.token }), 'BAD_REQUEST', ['fromCart']);
      expect(err.message).toContain('cart is empty');
      await expectNoOrders();
      await expectWalletUnchanged();
      await expectCartEmpty();
    });
  });

  describe('orders.get', () => {
    const valid = () => ({ orderId: UNKNOWN_ULID });
    const c = caseFor<ReturnType<typeof valid>>();
    table('orders.get', () => f.customer.token, valid, [
      ...junk<ReturnType<typeof valid>>(),
      c('orderId missing', () => ({}), 'orderId'),
      c('orderId short', () => ({ orderId: 'abc' }), 'orderId'),
      c('orderId lower case', () => ({ orderId: UNKNOWN_ULID.toLowerCase() }), 'orderId'),
      c('orderId 27 characters', () => ({ orderId: `${UNKNOWN_ULID}0` }), 'orderId'),
      c('orderId with a U (not Crockford base32)', () => ({ orderId: `${UNKNOWN_ULID.slice(0, 25)}U` }), 'orderId'),
      c('orderId SQL-ish', () => ({ orderId: "' OR 1=1 -- xxxxxxxxxxxxxx" }), 'orderId'),
      c('orderId a number', () => ({ orderId: 123 }), 'orderId'),
      c('orderId huge', () => ({ orderId: 'A'.repeat(5000) }), 'orderId'),
    ]);

    it('an unknown order → NOT_FOUND', async () => {
      expectError(await send('orders.get', { orderId: UNKNOWN_ULID }, { token: f.customer.token }), 'NOT_FOUND');
    });
  });

  describe('orders.cancel', () => {
    const valid = () => ({ orderId: UNKNOWN_ULID });
    const c = caseFor<ReturnType<typeof valid>>();
    table(
      'orders.cancel',
      () => f.customer.token,
      valid,
      [
        ...junk<ReturnType<typeof valid>>(),
        c('orderId missing', () => ({}), 'orderId'),
        c('orderId short', () => ({ orderId: 'abc' }), 'orderId'),
        c('orderId empty', () => ({ orderId: '' }), 'orderId'),
        c('orderId lower case', () => ({ orderId: UNKNOWN_ULID.toLowerCase() }), 'orderId'),
        c('orderId 27 characters', () => ({ orderId: `${UNKNOWN_ULID}0` }), 'orderId'),
        c('orderId with a U (not Crockford base32)', () => ({ orderId: `${UNKNOWN_ULID.slice(0, 25)}U` }), 'orderId'),
        c('orderId SQL-ish', () => ({ orderId: "' OR 1=1 -- xxxxxxxxxxxxxx" }), 'orderId'),
        c('orderId a Redis key pattern', () => ({ orderId: '*'.repeat(26) }), 'orderId'),
        c('orderId a number', () => ({ orderId: 123 }), 'orderId'),
        c('orderId null', () => ({ orderId: null }), 'orderId'),
        c('orderId an array', () => ({ orderId: [UNKNOWN_ULID] }), 'orderId'),
        c('orderId huge', () => ({ orderId: 'A'.repeat(5000) }), 'orderId'),
        c('a reason field', (v) => ({ ...v, reason: 'ADMIN' }), 'reason'),
        c('a userId field', (v) => ({ ...v, userId: 1 }), 'userId'),
      ],
      async () => {
        await expectNoOrders();
        await expectWalletUnchanged();
      },
    );

    it('an unknown order → NOT_FOUND', async () => {
      expectError(await send('orders.cancel', { orderId: UNKNOWN_ULID }, { token: f.customer.token }), 'NOT_FOUND');
      await expectNoOrders();
    });

    it("another customer's order → NOT_FOUND, and it stays as it was", async () => {
      const other = await newAccount(api, 'CUSTOMER');
      const { product } = await newProduct(api, { stock: 5, price: 100 });
      await other.client.wallet.charge.mutate({ amount: 1_000, idempotencyKey: 'bad-input-other-charge' });
      const placed = await other.client.orders.place.mutate({
        idempotencyKey: 'bad-input-other-order',
        items: [{ productId: product.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });
      const before = await other.client.orders.get.query({ orderId: placed.orderId });
      expectError(await send('orders.cancel', { orderId: placed.orderId }, { token: f.customer.token }), 'NOT_FOUND');
      expect(await other.client.orders.get.query({ orderId: placed.orderId })).toEqual(before);
      await expectNoOrders();
    });
  });

  describe('orders.list', () => {
    const valid = () => ({ limit: 10 });
    const c = caseFor<ReturnType<typeof valid>>();
    table(
      'orders.list',
      () => f.customer.token,
      valid,
      [
        ...junk<ReturnType<typeof valid>>().filter((k) => k.name !== 'no input'), // no input means the defaults
        c('cursor not an order id', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
        c('cursor lower case', (v) => ({ ...v, cursor: UNKNOWN_ULID.toLowerCase() }), 'cursor'),
        c('cursor SQL-ish', (v) => ({ ...v, cursor: "0' OR '1'='1" }), 'cursor'),
        c('cursor empty', (v) => ({ ...v, cursor: '' }), 'cursor'),
        c('cursor a number', (v) => ({ ...v, cursor: 1 }), 'cursor'),
        c('cursor huge', (v) => ({ ...v, cursor: 'C'.repeat(5000) }), 'cursor'),
        c('limit zero', () => ({ limit: 0 }), 'limit'),
        c('limit 101', () => ({ limit: 101 }), 'limit'),
        c('limit fractional', () => ({ limit: 1.5 }), 'limit'),
      ],
      expectNoOrders,
    );
  });

  describe('cart.add', () => {
    const valid = () => ({ productId: f.sellerA.productId, quantity: 1 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'cart.add',
      () => f.customer.token,
      valid,
      [
        ...junk<V>(),
        ...idCases<V>('productId'),
        ...quantityCases<V>(),
        c('a unitPrice field', (v) => ({ ...v, unitPrice: 1 }), 'unitPrice'),
        c('a userId field', (v) => ({ ...v, userId: 1 }), 'userId'),
        c('several fields at once', () => ({ productId: 'one', quantity: 0 }), 'productId', 'quantity'),
      ],
      expectCartEmpty,
    );

    it('an unknown product → NOT_FOUND; the cart stays empty', async () => {
      expectError(await send('cart.add', { productId: UNKNOWN_ID, quantity: 1 }, { token: f.customer.token }), 'NOT_FOUND');
      expectError(await send('cart.add', { productId: Number.MAX_SAFE_INTEGER, quantity: 1 }, { token: f.customer.token }), 'NOT_FOUND');
      await expectCartEmpty();
    });

    it(`adding past ${LIMITS.maxQuantityPerLine} on one line → BAD_REQUEST naming quantity (not the CHECK constraint), and the line stays`, async () => {
      const other = await newAccount(api, 'CUSTOMER');
      await ok('cart.add', { productId: f.sellerA.productId, quantity: 60 }, other.token);
      const err = expectError(await send('cart.add', { productId: f.sellerA.productId, quantity: 40 }, { token: other.token }), 'BAD_REQUEST', ['quantity']);
      expect(err.message).not.toMatch(/chk_|constraint/i);
      const cart = (await ok('cart.list', NONE, other.token)) as { items: { productId: number; quantity: number }[] };
      expect(cart.items.map((l) => [l.productId, l.quantity])).toEqual([[f.sellerA.productId, 60]]);
      await expectCartEmpty();
      await expectProductsUnchanged();
    });
  });

  describe('cart.setQuantity', () => {
    const valid = () => ({ productId: f.sellerA.productId, quantity: 2 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'cart.setQuantity',
      () => f.customer.token,
      valid,
      [
        ...junk<V>(),
        ...idCases<V>('productId'),
        ...quantityCases<V>(),
        c('a userId field', (v) => ({ ...v, userId: 1 }), 'userId'),
        c('several fields at once', () => ({ productId: -1, quantity: 100 }), 'productId', 'quantity'),
      ],
      expectCartEmpty,
    );

    it('a product not in the cart, or unknown → NOT_FOUND; no line is created', async () => {
      expectError(await send('cart.setQuantity', { productId: f.sellerA.productId, quantity: 1 }, { token: f.customer.token }), 'NOT_FOUND');
      expectError(await send('cart.setQuantity', { productId: UNKNOWN_ID, quantity: 1 }, { token: f.customer.token }), 'NOT_FOUND');
      await expectCartEmpty();
    });
  });

  describe('cart.remove', () => {
    const valid = () => ({ productId: f.sellerA.productId });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'cart.remove',
      () => f.customer.token,
      valid,
      [...junk<V>(), ...idCases<V>('productId'), c('a quantity field', (v) => ({ ...v, quantity: 1 }), 'quantity')],
      expectCartEmpty,
    );

    it('a product not in the cart, or unknown → NOT_FOUND', async () => {
      expectError(await send('cart.remove', { productId: f.sellerA.productId }, { token: f.customer.token }), 'NOT_FOUND');
      expectError(await send('cart.remove', { productId: UNKNOWN_ID }, { token: f.customer.token }), 'NOT_FOUND');
      await expectCartEmpty();
    });
  });

  describe('questions.ask', () => {
    const valid = () => ({ productId: f.sellerA.productId, body: 'Never asked?' });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'questions.ask',
      () => f.customer.token,
      valid,
      [
        ...junk<V>(),
        ...idCases<V>('productId'),
        ...bodyCases<V>(),
        c('a customerId field', (v) => ({ ...v, customerId: 1 }), 'customerId'),
        c('an answer field', (v) => ({ ...v, answer: 'Yes.' }), 'answer'),
        c('several fields at once', () => ({ productId: 0, body: '' }), 'productId', 'body'),
      ],
      expectQuestionsUnchanged,
    );

    it('an unknown product → NOT_FOUND; no question created', async () => {
      expectError(await send('questions.ask', { productId: UNKNOWN_ID, body: 'Anyone?' }, { token: f.customer.token }), 'NOT_FOUND');
      await expectQuestionsUnchanged();
    });
  });

  describe('questions.answer', () => {
    const valid = () => ({ questionId: f.question.id, body: 'Never answered' });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'questions.answer',
      () => f.sellerA.token,
      valid,
      [
        ...junk<V>(),
        ...idCases<V>('questionId'),
        ...bodyCases<V>(),
        c('a productId field', (v) => ({ ...v, productId: f.sellerA.productId }), 'productId'),
        c('an answeredBy field', (v) => ({ ...v, answeredBy: 1 }), 'answeredBy'),
        c('several fields at once', () => ({ questionId: 'one', body: null }), 'questionId', 'body'),
      ],
      expectQuestionsUnchanged,
    );

    it("an unknown question → NOT_FOUND; a question on another seller's product → FORBIDDEN; still unanswered", async () => {
      expectError(await send('questions.answer', { questionId: UNKNOWN_ID, body: 'Hm.' }, { token: f.sellerA.token }), 'NOT_FOUND');
      expectError(await send('questions.answer', { questionId: f.question.id, body: 'Mine now.' }, { token: f.sellerB.token }), 'FORBIDDEN');
      await expectQuestionsUnchanged();
    });
  });

  describe('questions.list', () => {
    const valid = () => ({ productId: f.sellerA.productId, limit: 10 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table('questions.list', () => undefined, valid, [
      ...junk<V>(),
      ...idCases<V>('productId'),
      c('cursor not a number', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
      c('cursor zero', (v) => ({ ...v, cursor: '0' }), 'cursor'),
      c('cursor with a leading zero', (v) => ({ ...v, cursor: '01' }), 'cursor'),
      c('cursor negative', (v) => ({ ...v, cursor: '-1' }), 'cursor'),
      c('cursor fractional', (v) => ({ ...v, cursor: '1.5' }), 'cursor'),
      c('cursor in exponent notation', (v) => ({ ...v, cursor: '1e3' }), 'cursor'),
      c('cursor with a space', (v) => ({ ...v, cursor: ' 1' }), 'cursor'),
      c('cursor 17 digits', (v) => ({ ...v, cursor: '1'.repeat(17) }), 'cursor'),
      c('cursor SQL-ish', (v) => ({ ...v, cursor: '1 OR 1=1' }), 'cursor'),
      c('cursor empty', (v) => ({ ...v, cursor: '' }), 'cursor'),
      c('cursor a number', (v) => ({ ...v, cursor: 5 }), 'cursor'),
      c('cursor null', (v) => ({ ...v, cursor: null }), 'cursor'),
      c('limit zero', (v) => ({ ...v, limit: 0 }), 'limit'),
      c('limit 101', (v) => ({ ...v, limit: 101 }), 'limit'),
      c('limit negative', (v) => ({ ...v, limit: -1 }), 'limit'),
      c('limit fractional', (v) => ({ ...v, limit: 2.5 }), 'limit'),
      c('limit a string', (v) => ({ ...v, limit: '10' }), 'limit'),
      c('a page field', (v) => ({ ...v, page: 2 }), 'page'),
    ]);

    it('an unknown product → NOT_FOUND', async () => {
      expectError(await send('questions.list', { productId: UNKNOWN_ID }), 'NOT_FOUND');
      expectError(await send('questions.list', { productId: Number.MAX_SAFE_INTEGER }), 'NOT_FOUND');
    });

    it('the largest cursor the contract takes (16 digits, past safe integers) → a page, not a 500', async () => {
      expect(await ok('questions.list', { productId: f.sellerA.productId, cursor: '9'.repeat(16) })).toEqual({ items: [f.question], nextCursor: null });
    });
  });

  describe('coupons.create', () => {
    const valid = () => ({
      storeId: f.sellerA.storeId,
      name: 'Never created',
      kind: 'PERCENT',
      value: 10,
      maxDiscount: 500,
      minOrderAmount: 0,
      quantity: 10,
      validFrom: inDays(-1),
      validUntil: inDays(7),
    });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'coupons.create',
      () => f.sellerA.token,
      valid,
      [
        ...junk<V>(),
        c('storeId zero', (v) => ({ ...v, storeId: 0 }), 'storeId'),
        c('storeId a string', (v) => ({ ...v, storeId: String(v.storeId) }), 'storeId'),
        c('storeId null', (v) => ({ ...v, storeId: null }), 'storeId'),
        c('name missing', ({ name: _n, ...v }) => v, 'name'),
        c('name empty', (v) => ({ ...v, name: '' }), 'name'),
        c('name only spaces', (v) => ({ ...v, name: '   ' }), 'name'),
        c('name 101 characters', (v) => ({ ...v, name: 'n'.repeat(101) }), 'name'),
        c('kind unknown', (v) => ({ ...v, kind: 'BOGO' }), 'kind'),
        c('kind lower case', (v) => ({ ...v, kind: 'percent' }), 'kind'),
        c('kind missing', ({ kind: _k, ...v }) => v, 'kind'),
        c('PERCENT value 0', (v) => ({ ...v, value: 0 }), 'value'),
        c('PERCENT value 101', (v) => ({ ...v, value: 101 }), 'value'),
        c('PERCENT value fractional', (v) => ({ ...v, value: 12.5 }), 'value'),
        c('FIXED value 0', ({ maxDiscount: _m, ...v }) => ({ ...v, kind: 'FIXED', value: 0 }), 'value'),
        c('FIXED value over the limit', ({ maxDiscount: _m, ...v }) => ({ ...v, kind: 'FIXED', value: COUPON_LIMITS.maxAmount + 1 }), 'value'),
        c('value a string', (v) => ({ ...v, value: '10' }), 'value'),
        c('maxDiscount on FIXED', (v) => ({ ...v, kind: 'FIXED', value: 1_000 }), 'maxDiscount'),
        c('maxDiscount 0', (v) => ({ ...v, maxDiscount: 0 }), 'maxDiscount'),
        c('minOrderAmount negative', (v) => ({ ...v, minOrderAmount: -1 }), 'minOrderAmount'),
        c('minOrderAmount fractional', (v) => ({ ...v, minOrderAmount: 0.5 }), 'minOrderAmount'),
        c('minOrderAmount missing', ({ minOrderAmount: _m, ...v }) => v, 'minOrderAmount'),
        c('quantity 0', (v) => ({ ...v, quantity: 0 }), 'quantity'),
        c('quantity fractional', (v) => ({ ...v, quantity: 1.5 }), 'quantity'),
        c(`quantity past ${COUPON_LIMITS.maxQuantity}`, (v) => ({ ...v, quantity: COUPON_LIMITS.maxQuantity + 1 }), 'quantity'),
        c('quantity 1e400 (Infinity)', (v) => new Raw(JSON.stringify({ ...v, quantity: 0 }).replace('"quantity":0', '"quantity":1e400')), 'quantity'),
        c('validFrom not a date', (v) => ({ ...v, validFrom: 'tomorrow' }), 'validFrom'),
        c('validFrom without an offset', (v) => ({ ...v, validFrom: v.validFrom.replace('Z', '') }), 'validFrom'),
        c('validFrom a number', (v) => ({ ...v, validFrom: Date.now() }), 'validFrom'),
        c('validUntil before validFrom', (v) => ({ ...v, validFrom: inDays(2), validUntil: inDays(1) }), 'validUntil'),
        c('validUntil equal to validFrom', (v) => ({ ...v, validFrom: v.validUntil }), 'validUntil'),
        c('validUntil in the past', (v) => ({ ...v, validFrom: inDays(-2), validUntil: inDays(-1) }), 'validUntil'),
        c('validUntil missing', ({ validUntil: _u, ...v }) => v, 'validUntil'),
        c('a claimed field', (v) => ({ ...v, claimed: 0 }), 'claimed'),
        c('a createdBy field', (v) => ({ ...v, createdBy: f.sellerB.userId }), 'createdBy'),
        c('several fields at once', (v) => ({ ...v, name: '', kind: 'BOGO', quantity: 0 }), 'name', 'kind', 'quantity'),
      ],
      expectCouponsAndPointsUnchanged,
    );

    it("an unknown store → NOT_FOUND; another seller's store, a platform coupon by a seller, a store coupon by an admin → FORBIDDEN; no coupon", async () => {
      const { storeId: _s, ...platform } = valid();
      expectError(await send('coupons.create', { ...valid(), storeId: UNKNOWN_ID }, { token: f.sellerA.token }), 'NOT_FOUND');
      expectError(await send('coupons.create', { ...valid(), storeId: f.sellerB.storeId }, { token: f.sellerA.token }), 'FORBIDDEN');
      expectError(await send('coupons.create', platform, { token: f.sellerA.token }), 'FORBIDDEN');
      expectError(await send('coupons.create', valid(), { token: f.admin.token }), 'FORBIDDEN');
      await expectCouponsAndPointsUnchanged();
    });
  });

  describe('coupons.claim', () => {
    const valid = () => ({ couponId: f.coupons.unclaimed.id });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'coupons.claim',
      () => f.customer.token,
      valid,
      [...junk<V>(), ...idCases<V>('couponId'), c('a userId field', (v) => ({ ...v, userId: f.customer.userId }), 'userId')],
      expectCouponsAndPointsUnchanged,
    );

    it('an unknown coupon → NOT_FOUND; nothing claimed', async () => {
      expectError(await send('coupons.claim', { couponId: UNKNOWN_ID }, { token: f.customer.token }), 'NOT_FOUND');
      expectError(await send('coupons.claim', { couponId: Number.MAX_SAFE_INTEGER }, { token: f.customer.token }), 'NOT_FOUND');
      await expectCouponsAndPointsUnchanged();
    });
  });

  /** A page's cursor and limit (listInput: cursor 1..200 characters, limit 1..100). */
  function pageCases<V extends object>(): Case<V>[] {
    const c = caseFor<V>();
    return [
      c('cursor not one the API made', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
      c('cursor not base64url', (v) => ({ ...v, cursor: 'not a cursor!' }), 'cursor'),
      c('cursor SQL-ish', (v) => ({ ...v, cursor: "0' OR '1'='1" }), 'cursor'),
      c('cursor empty', (v) => ({ ...v, cursor: '' }), 'cursor'),
      c('cursor a number', (v) => ({ ...v, cursor: 5 }), 'cursor'),
      c('cursor null', (v) => ({ ...v, cursor: null }), 'cursor'),
      c('cursor 201 characters', (v) => ({ ...v, cursor: 'c'.repeat(201) }), 'cursor'),
      c('limit zero', (v) => ({ ...v, limit: 0 }), 'limit'),
      c('limit 101', (v) => ({ ...v, limit: 101 }), 'limit'),
      c('limit negative', (v) => ({ ...v, limit: -1 }), 'limit'),
      c('limit fractional', (v) => ({ ...v, limit: 2.5 }), 'limit'),
      c('limit a string', (v) => ({ ...v, limit: '10' }), 'limit'),
      c('an offset field', (v) => ({ ...v, offset: 20 }), 'offset'),
    ];
  }
  /** A well-formed cursor (base64url JSON) with this payload. */
  const forged = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64url');

  describe('coupons.list', () => {
    const valid = () => ({ storeId: f.sellerA.storeId, limit: 10 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table('coupons.list', () => undefined, valid, [
      // No input is left out: the contract refuses it (no defaults), though docs/api.md gives {storeId?} as the input.
      ...junk<V>().filter((k) => k.name !== 'no input'),
      ...pageCases<V>(),
      c('storeId zero', (v) => ({ ...v, storeId: 0 }), 'storeId'),
      c('storeId a string', (v) => ({ ...v, storeId: String(v.storeId) }), 'storeId'),
      c('storeId beyond safe integers', (v) => ({ ...v, storeId: 2 ** 53 }), 'storeId'),
      c('cursor of coupons.mine', (v) => ({ ...v, cursor: forged({ c: 1 }) }), 'cursor'),
      c('cursor with a negative key', (v) => ({ ...v, cursor: forged({ u: -1, i: 1 }) }), 'cursor'),
      c('cursor with an SQL-ish key', (v) => ({ ...v, cursor: forged({ u: '0 OR 1=1', i: 1 }) }), 'cursor'),
      c('cursor with id zero', (v) => ({ ...v, cursor: forged({ u: 1, i: 0 }) }), 'cursor'),
      c('cursor with an extra key', (v) => ({ ...v, cursor: forged({ u: 1, i: 1, s: 1 }) }), 'cursor'),
      // Past 9999-12-31 (what a DATETIME holds) no cursor of the API's can point.
      c('cursor with a key in the year 10000', (v) => ({ ...v, cursor: forged({ u: Date.parse('9999-12-31T23:59:59.999Z') + 1, i: 1 }) }), 'cursor'),
      c('cursor with a key past any date', (v) => ({ ...v, cursor: forged({ u: Number.MAX_SAFE_INTEGER, i: 1 }) }), 'cursor'),
    ]);

    it('a well-formed cursor of any date a DATETIME holds → a page, not a 500', async () => {
      for (const u of [0, Date.parse('9999-12-31T23:59:59.999Z')]) {
        expect(await ok('coupons.list', { storeId: f.sellerA.storeId, cursor: forged({ u, i: Number.MAX_SAFE_INTEGER }) })).toEqual({
          items: [],
          nextCursor: null,
        });
      }
    });

    it('an unknown store → an empty page', async () => {
      expect(await ok('coupons.list', { storeId: UNKNOWN_ID })).toEqual({ items: [], nextCursor: null });
    });
  });

  describe('coupons.mine', () => {
    const valid = () => ({ limit: 10 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'coupons.mine',
      () => f.customer.token,
      valid,
      [
        // No input is left out: the contract refuses it (no defaults), though docs/api.md says coupons.mine takes none.
        ...junk<V>().filter((k) => k.name !== 'no input'),
        ...pageCases<V>(),
        c('cursor of coupons.list', (v) => ({ ...v, cursor: forged({ u: 1, i: 1 }) }), 'cursor'),
        c('cursor with claim id zero', (v) => ({ ...v, cursor: forged({ c: 0 }) }), 'cursor'),
        c('cursor with a fractional claim id', (v) => ({ ...v, cursor: forged({ c: 1.5 }) }), 'cursor'),
        c('cursor with a claim id beyond safe integers', (v) => ({ ...v, cursor: forged({ c: 2 ** 53 }) }), 'cursor'),
        c('a userId field', (v) => ({ ...v, userId: f.sellerA.userId }), 'userId'),
      ],
      expectCouponsAndPointsUnchanged,
    );

    it('the largest cursor the contract takes → a page, not a 500', async () => {
      const page = (await ok('coupons.mine', { cursor: forged({ c: Number.MAX_SAFE_INTEGER }) }, f.customer.token)) as { items: { couponId: number }[] };
      expect(page.items.map((m) => m.couponId)).toEqual([f.coupons.claimed.id]);
    });
  });

  describe('points.history', () => {
    const valid = () => ({ limit: 10 });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'points.history',
      () => f.customer.token,
      valid,
      [
        ...junk<V>().filter((k) => k.name !== 'no input'), // no input means the defaults
        ...pageCases<V>(),
        c('cursor zero', (v) => ({ ...v, cursor: '0' }), 'cursor'),
        c('cursor with a leading zero', (v) => ({ ...v, cursor: '01' }), 'cursor'),
        c('cursor negative', (v) => ({ ...v, cursor: '-1' }), 'cursor'),
        c('cursor fractional', (v) => ({ ...v, cursor: '1.5' }), 'cursor'),
        c('cursor in exponent notation', (v) => ({ ...v, cursor: '1e3' }), 'cursor'),
        c('cursor with a space', (v) => ({ ...v, cursor: ' 1' }), 'cursor'),
        c('cursor 17 digits', (v) => ({ ...v, cursor: '1'.repeat(17) }), 'cursor'),
        c('a userId field', (v) => ({ ...v, userId: f.sellerA.userId }), 'userId'),
      ],
      expectCouponsAndPointsUnchanged,
    );

    it('no input → the first page; the largest cursor the contract takes (16 digits) → a page, not a 500', async () => {
      expect(await ok('points.history', NONE, f.customer.token)).toEqual({ items: [], nextCursor: null });
      expect(await ok('points.history', { cursor: '9'.repeat(16) }, f.customer.token)).toEqual({ items: [], nextCursor: null });
    });
  });

  describe('points.grant', () => {
    const valid = () => ({ userId: f.customer.userId, amount: 1_000, expiresAt: inDays(30), reason: 'Never granted' });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    table(
      'points.grant',
      () => f.admin.token,
      valid,
      [
        ...junk<V>(),
        ...idCases<V>('userId'),
        c('amount missing', ({ amount: _a, ...v }) => v, 'amount'),
        c('amount zero', (v) => ({ ...v, amount: 0 }), 'amount'),
        c('amount negative', (v) => ({ ...v, amount: -1_000 }), 'amount'),
        c('amount fractional', (v) => ({ ...v, amount: 10.5 }), 'amount'),
        c(`amount past ${MAX_POINTS_GRANT}`, (v) => ({ ...v, amount: MAX_POINTS_GRANT + 1 }), 'amount'),
        c('amount 1e400 (Infinity)', (v) => new Raw(JSON.stringify({ ...v, amount: 0 }).replace('"amount":0', '"amount":1e400')), 'amount'),
        c('amount a string', (v) => ({ ...v, amount: '1000' }), 'amount'),
        c('expiresAt missing', ({ expiresAt: _e, ...v }) => v, 'expiresAt'),
        c('expiresAt in the past', (v) => ({ ...v, expiresAt: '2020-01-01T00:00:00Z' }), 'expiresAt'),
        c('expiresAt a second ago', (v) => ({ ...v, expiresAt: new Date(Date.now() - 1_000).toISOString() }), 'expiresAt'),
        c('expiresAt not a date', (v) => ({ ...v, expiresAt: 'next month' }), 'expiresAt'),
        c('expiresAt without an offset', (v) => ({ ...v, expiresAt: v.expiresAt.replace('Z', '') }), 'expiresAt'),
        c('expiresAt a date without a time', (v) => ({ ...v, expiresAt: v.expiresAt.slice(0, 10) }), 'expiresAt'),
        c('expiresAt a number', (v) => ({ ...v, expiresAt: Date.now() + 86_400_000 }), 'expiresAt'),
        c('reason missing', ({ reason: _r, ...v }) => v, 'reason'),
        c('reason empty', (v) => ({ ...v, reason: '' }), 'reason'),
        c('reason blank', (v) => ({ ...v, reason: ' \n\t ' }), 'reason'),
        c('reason 201 characters', (v) => ({ ...v, reason: 'r'.repeat(201) }), 'reason'),
        c('reason huge (500 kB)', (v) => ({ ...v, reason: 'r'.repeat(500_000) }), 'reason'),
        c('reason a number', (v) => ({ ...v, reason: 42 }), 'reason'),
        c('a lotId field', (v) => ({ ...v, lotId: 1 }), 'lotId'),
        c('an adminId field', (v) => ({ ...v, adminId: f.admin.userId }), 'adminId'),
        c('several fields at once', (v) => ({ ...v, userId: 'me', amount: 0, reason: '' }), 'userId', 'amount', 'reason'),
      ],
      expectCouponsAndPointsUnchanged,
    );

    it('an unknown user, a seller or an admin → NOT_FOUND; no points granted', async () => {
      for (const userId of [UNKNOWN_ID, Number.MAX_SAFE_INTEGER, f.sellerA.userId, f.admin.userId]) {
        const a = await send('points.grant', { ...valid(), userId }, { token: f.admin.token });
        expect({ userId, code: a.error?.data.code }).toEqual({ userId, code: 'NOT_FOUND' });
        expectError(a, 'NOT_FOUND');
      }
      await expectCouponsAndPointsUnchanged();
    });
  });

  describe('refunds.request', () => {
    const valid = () => ({ orderId: UNKNOWN_ULID, idempotencyKey: 'bad-input-refund-key', items: [{ orderItemId: 1, quantity: 1 }] });
    type V = ReturnType<typeof valid>;
    const c = caseFor<V>();
    const line = (v: V, patch: Record<string, unknown>) => ({ ...v, items: [{ ...v.items[0], ...patch }] });
    table(
      'refunds.request',
      () => f.customer.token,
      valid,
      [
        ...junk<V>(),
        c('orderId missing', ({ orderId: _o, ...v }) => v, 'orderId'),
        c('orderId lower case', (v) => ({ ...v, orderId: UNKNOWN_ULID.toLowerCase() }), 'orderId'),
        c('orderId SQL-ish', (v) => ({ ...v, orderId: "' OR 1=1 -- xxxxxxxxxxxxxx" }), 'orderId'),
        c('orderId a number', (v) => ({ ...v, orderId: 123 }), 'orderId'),
        c('idempotencyKey missing', ({ idempotencyKey: _k, ...v }) => v, 'idempotencyKey'),
        c('idempotencyKey 7 characters', (v) => ({ ...v, idempotencyKey: 'short-k' }), 'idempotencyKey'),
        c('idempotencyKey 65 characters', (v) => ({ ...v, idempotencyKey: 'k'.repeat(65) }), 'idempotencyKey'),
        c('idempotencyKey with a colon (the form orders.cancel uses)', (v) => ({ ...v, idempotencyKey: `cancel:${UNKNOWN_ULID}` }), 'idempotencyKey'),
        c('idempotencyKey non-ASCII', (v) => ({ ...v, idempotencyKey: '키키키키키키키키키' }), 'idempotencyKey'),
        c('items missing', ({ items: _i, ...v }) => v, 'items'),
        c('items empty', (v) => ({ ...v, items: [] }), 'items'),
        c('items not an array', (v) => ({ ...v, items: v.items[0] }), 'items'),
        c(
          `items more than ${LIMITS.maxLinesPerOrder} lines`,
          (v) => ({ ...v, items: Array.from({ length: LIMITS.maxLinesPerOrder + 1 }, (_, i) => ({ orderItemId: i + 1, quantity: 1 })) }),
          'items',
        ),
        c('a line named twice', (v) => ({ ...v, items: [v.items[0], v.items[0]] }), 'items.1.orderItemId'),
        c('orderItemId missing', (v) => ({ ...v, items: [{ quantity: 1 }] }), 'items.0.orderItemId'),
        c('orderItemId zero', (v) => line(v, { orderItemId: 0 }), 'items.0.orderItemId'),
        c('orderItemId negative', (v) => line(v, { orderItemId: -1 }), 'items.0.orderItemId'),
        c('orderItemId fractional', (v) => line(v, { orderItemId: 1.5 }), 'items.0.orderItemId'),
        c('orderItemId beyond safe integers', (v) => line(v, { orderItemId: 2 ** 53 }), 'items.0.orderItemId'),
        c('orderItemId a string', (v) => line(v, { orderItemId: '1' }), 'items.0.orderItemId'),
        c('quantity missing', (v) => ({ ...v, items: [{ orderItemId: 1 }] }), 'items.0.quantity'),
        c('quantity zero', (v) => line(v, { quantity: 0 }), 'items.0.quantity'),
        c('quantity negative', (v) => line(v, { quantity: -1 }), 'items.0.quantity'),
        c('quantity fractional', (v) => line(v, { quantity: 0.5 }), 'items.0.quantity'),
        c('quantity over the per-line limit', (v) => line(v, { quantity: LIMITS.maxQuantityPerLine + 1 }), 'items.0.quantity'),
        c('quantity 1e400 (Infinity)', (v) => new Raw(JSON.stringify(v).replace('"quantity":1', '"quantity":1e400')), 'items.0.quantity'),
        c('quantity a string', (v) => line(v, { quantity: '1' }), 'items.0.quantity'),
        c('an unknown field on a line', (v) => line(v, { cash: 1_000_000 }), 'items.0.cash'),
        c('an amount field', (v) => ({ ...v, amount: 1_000_000 }), 'amount'),
      ],
      expectNoRefunds,
    );

    it('an unknown order → NOT_FOUND, for the customer, a seller and an admin; no refund recorded', async () => {
      for (const token of [f.customer.token, f.sellerA.token, f.admin.token]) expectError(await send('refunds.request', valid(), { token }), 'NOT_FOUND');
      await expectNoRefunds();
    });
  });

  describe('refunds.get and refunds.list', () => {
    const ids = caseFor<{ refundId: string }>();
    table(
      'refunds.get',
      () => f.customer.token,
      () => ({ refundId: UNKNOWN_ULID }),
      [
        ...junk<{ refundId: string }>(),
        ids('refundId missing', () => ({}), 'refundId'),
        ids('refundId short', () => ({ refundId: 'abc' }), 'refundId'),
        ids('refundId a number', () => ({ refundId: 1 }), 'refundId'),
        ids('an orderId instead', () => ({ orderId: UNKNOWN_ULID }), 'refundId'),
      ],
    );
    const orders = caseFor<{ orderId: string }>();
    table(
      'refunds.list',
      () => f.customer.token,
      () => ({ orderId: UNKNOWN_ULID }),
      [
        ...junk<{ orderId: string }>(),
        orders('orderId missing', () => ({}), 'orderId'),
        orders('orderId lower case', () => ({ orderId: UNKNOWN_ULID.toLowerCase() }), 'orderId'),
        orders('orderId huge', () => ({ orderId: 'A'.repeat(5000) }), 'orderId'),
        orders('a cursor (refunds.list has no pages)', (v) => ({ ...v, cursor: 'x' }), 'cursor'),
      ],
    );

    it('an unknown refund or order → NOT_FOUND for every role', async () => {
      for (const token of [f.customer.token, f.sellerA.token, f.admin.token]) {
        expectError(await send('refunds.get', { refundId: UNKNOWN_ULID }, { token }), 'NOT_FOUND');
        expectError(await send('refunds.list', { orderId: UNKNOWN_ULID }, { token }), 'NOT_FOUND');
      }
    });
  });

  describe('stores.update, stores.close, stores.orders, stores.pickups and fulfillment.update', () => {
    const upd = caseFor<{ storeId: number; pickupLeadMinutes?: number }>();
    table(
      'stores.update',
      () => f.sellerA.token,
      () => ({ storeId: f.sellerA.storeId, pickupLeadMinutes: 30 }),
      [
        ...junk<{ storeId: number; pickupLeadMinutes?: number }>(),
        upd('nothing to change', (v) => ({ storeId: v.storeId }), 'storeId'),
        upd('storeId a string', (v) => ({ ...v, storeId: '1' }), 'storeId'),
        upd('lead time negative', (v) => ({ ...v, pickupLeadMinutes: -1 }), 'pickupLeadMinutes'),
        upd('lead time over a week', (v) => ({ ...v, pickupLeadMinutes: 7 * 24 * 60 + 1 }), 'pickupLeadMinutes'),
        upd('lead time fractional', (v) => ({ ...v, pickupLeadMinutes: 1.5 }), 'pickupLeadMinutes'),
        upd('a time zone that is not one', (v) => ({ ...v, timeZone: 'Not/AZone' }), 'timeZone'),
        upd('a time zone too long', (v) => ({ ...v, timeZone: 'z'.repeat(65) }), 'timeZone'),
        upd('hours: an unknown day', (v) => ({ ...v, openingHours: { FUNDAY: [] } }), 'openingHours.FUNDAY'),
        upd('hours: a time not HH:MM', (v) => ({ ...v, openingHours: { MON: [{ open: '9', close: '18:00' }] } }), 'openingHours.MON.0.open'),
        upd('hours: closing before opening', (v) => ({ ...v, openingHours: { MON: [{ open: '18:00', close: '09:00' }] } }), 'openingHours.MON.0.close'),
        upd(
          'hours: overlapping',
          (v) => ({
            ...v,
            openingHours: {
              TUE: [
                { open: '09:00', close: '13:00' },
                { open: '12:00', close: '18:00' },
              ],
            },
          }),
          'openingHours.TUE.1.open',
        ),
        upd(
          'hours: five intervals',
          (v) => ({ ...v, openingHours: { WED: Array.from({ length: 5 }, (_, i) => ({ open: `0${i}:00`, close: `0${i}:30` })) } }),
          'openingHours.WED',
        ),
        upd('hours: opening at 24:00', (v) => ({ ...v, openingHours: { THU: [{ open: '24:00', close: '24:00' }] } }), 'openingHours.THU.0.open'),
      ],
    );
    const st = caseFor<{ storeId: number }>();
    table(
      'stores.close',
      () => f.sellerA.token,
      () => ({ storeId: 987_654_321 }),
      [...junk<{ storeId: number }>(), st('storeId missing', () => ({}), 'storeId'), st('storeId zero', () => ({ storeId: 0 }), 'storeId')],
    );
    const inbox = caseFor<{ storeId: number }>();
    table(
      'stores.orders',
      () => f.sellerA.token,
      () => ({ storeId: f.sellerA.storeId }),
      [
        ...junk<{ storeId: number }>(),
        inbox('storeId missing', () => ({}), 'storeId'),
        inbox('an unknown status', (v) => ({ ...v, status: 'LOST' }), 'status'),
        inbox('an order status instead', (v) => ({ ...v, status: 'PAID' }), 'status'),
        inbox('limit 0', (v) => ({ ...v, limit: 0 }), 'limit'),
        inbox('limit 101', (v) => ({ ...v, limit: 101 }), 'limit'),
        inbox('a cursor not from the API', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
        inbox('a cursor huge', (v) => ({ ...v, cursor: 'A'.repeat(500) }), 'cursor'),
      ],
    );
    const day = caseFor<{ storeId: number }>();
    table(
      'stores.pickups',
      () => f.sellerA.token,
      () => ({ storeId: f.sellerA.storeId }),
      [
        ...junk<{ storeId: number }>(),
        day('date not a date', (v) => ({ ...v, date: 'today' }), 'date'),
        day('date with a time', (v) => ({ ...v, date: '2026-12-02T10:00:00Z' }), 'date'),
        day('date impossible', (v) => ({ ...v, date: '2026-02-30' }), 'date'),
      ],
    );
    const mv = caseFor<{ orderId: string; storeId: number; status: string; trackingNumber?: string }>();
    table(
      'fulfillment.update',
      () => f.sellerA.token,
      () => ({ orderId: UNKNOWN_ULID, storeId: f.sellerA.storeId, status: 'SHIPPED', trackingNumber: 'CJ-0000' }),
      [
        ...junk<{ orderId: string; storeId: number; status: string; trackingNumber?: string }>(),
        mv('orderId missing', ({ orderId: _o, ...v }) => v, 'orderId'),
        mv('orderId not a ULID', (v) => ({ ...v, orderId: 'order-1' }), 'orderId'),
        mv('storeId missing', ({ storeId: _s, ...v }) => v, 'storeId'),
        mv('status unknown', (v) => ({ ...v, status: 'LOST' }), 'status'),
        mv('status an order status', (v) => ({ ...v, status: 'REFUNDED' }), 'status'),
        mv('status lower case', (v) => ({ ...v, status: 'shipped' }), 'status'),
        mv('tracking number with spaces', (v) => ({ ...v, trackingNumber: 'CJ 0000' }), 'trackingNumber'),
        mv('tracking number too short', (v) => ({ ...v, trackingNumber: 'CJ' }), 'trackingNumber'),
        mv('tracking number huge', (v) => ({ ...v, trackingNumber: 'C'.repeat(5000) }), 'trackingNumber'),
        mv('SHIPPED without a tracking number', ({ trackingNumber: _t, ...v }) => v, 'trackingNumber'),
        mv('a tracking number on DELIVERED', (v) => ({ ...v, status: 'DELIVERED' }), 'trackingNumber'),
      ],
    );

    it("another seller's store → FORBIDDEN; an unknown store → NOT_FOUND; nothing changes", async () => {
      const before = await api.deps.catalog.findStore(f.sellerA.storeId);
      for (const [path, input] of [
        ['stores.update', { storeId: f.sellerA.storeId, pickupLeadMinutes: 999 }],
        ['stores.close', { storeId: f.sellerA.storeId }],
        ['stores.orders', { storeId: f.sellerA.storeId }],
        ['stores.pickups', { storeId: f.sellerA.storeId }],
        ['fulfillment.update', { orderId: UNKNOWN_ULID, storeId: f.sellerA.storeId, status: 'SHIPPED', trackingNumber: 'CJ-0000' }],
      ] as const) {
        expectError(await send(path, input, { token: f.sellerB.token }), 'FORBIDDEN');
        expectError(await send(path, { ...input, storeId: 987_654_321 }, { token: f.sellerA.token }), 'NOT_FOUND');
      }
      expect(await api.deps.catalog.findStore(f.sellerA.storeId)).toEqual(before);
    });
  });

  describe('subscriptions.registerCard', () => {
    const rc = caseFor<{ authKey: string }>();
    table(
      'subscriptions.registerCard',
      () => f.customer.token,
      () => ({ authKey: 'test_auth_bad-input-sweep' }),
      [
        ...junk<{ authKey: string }>(),
        rc('authKey missing', () => ({}), 'authKey'),
        rc('authKey empty', (v) => ({ ...v, authKey: '' }), 'authKey'),
        rc('authKey 301 characters', (v) => ({ ...v, authKey: 'a'.repeat(301) }), 'authKey'),
        rc('authKey with a space', (v) => ({ ...v, authKey: 'test_auth_a b' }), 'authKey'),
        rc('authKey not ASCII', (v) => ({ ...v, authKey: 'test_auth_카드' }), 'authKey'),
        rc('authKey a number', (v) => ({ ...v, authKey: 42 }), 'authKey'),
        rc('authKey null', (v) => ({ ...v, authKey: null }), 'authKey'),
        rc('authKey an array', (v) => ({ ...v, authKey: [v.authKey] }), 'authKey'),
        rc('a customerKey of its own', (v) => ({ ...v, customerKey: 'ck_mine' }), 'customerKey'),
      ],
      async () => {
        const [row] = await selectRows<{ n: number | string }>(api.deps.ds, 'SELECT COUNT(*) AS n FROM billing_keys WHERE user_id = ?', [f.customer.userId]);
        expect(Number(row?.n)).toBe(0);
      },
    );

    it("the customerKey is the caller's own, stable, opaque, and not their user id", async () => {
      const a = (await ok('subscriptions.cardCustomerKey', NONE, f.customer.token)) as { customerKey: string };
      expect(await ok('subscriptions.cardCustomerKey', NONE, f.customer.token)).toEqual(a);
      expect(a.customerKey).toMatch(/^ck_[A-Za-z0-9_-]{24}$/);
      const other = await newAccount(api, 'CUSTOMER');
      const b = (await ok('subscriptions.cardCustomerKey', NONE, other.token)) as { customerKey: string };
      expect(b.customerKey).not.toBe(a.customerKey);
    });
  });

  describe('chat.*', () => {
    const expectChatUnchanged = async () => {
      expect(await countRows()).toEqual(f.rows);
      const h = (await ok('chat.history', { threadId: f.chat.threadId }, f.customer.token)) as { items: { id: number }[] };
      expect(h.items.map((m) => m.id)).toEqual([f.chat.messageId]);
    };
    table(
      'chat.open',
      () => f.customer.token,
      () => ({ storeId: f.sellerB.storeId }),
      [...junk<{ storeId: number }>(), ...idCases<{ storeId: number }>('storeId')],
      expectChatUnchanged,
    );
    type Send = { threadId: number; body: string; clientMessageId: string };
    const snd = caseFor<Send>();
    table(
      'chat.send',
      () => f.customer.token,
      () => ({ threadId: f.chat.threadId, body: 'hello', clientMessageId: 'bad-input-never-sent' }),
      [
        ...junk<Send>(),
        ...idCases<Send>('threadId'),
        snd('body missing', ({ body: _b, ...v }) => v, 'body'),
        snd('body empty', (v) => ({ ...v, body: '' }), 'body'),
        snd('body only spaces', (v) => ({ ...v, body: ' \n\t ' }), 'body'),
        snd('body 2,001 characters', (v) => ({ ...v, body: 'b'.repeat(2001) }), 'body'),
        snd('body huge (500 kB)', (v) => ({ ...v, body: 'b'.repeat(500_000) }), 'body'),
        snd('body a number', (v) => ({ ...v, body: 42 }), 'body'),
        snd('body an object', (v) => ({ ...v, body: { text: 'hi' } }), 'body'),
        snd('clientMessageId missing', ({ clientMessageId: _c, ...v }) => v, 'clientMessageId'),
        snd('clientMessageId too short', (v) => ({ ...v, clientMessageId: 'abc' }), 'clientMessageId'),
        snd('clientMessageId 65 characters', (v) => ({ ...v, clientMessageId: 'c'.repeat(65) }), 'clientMessageId'),
        snd('clientMessageId with spaces', (v) => ({ ...v, clientMessageId: 'has spaces in it' }), 'clientMessageId'),
        snd('clientMessageId a number', (v) => ({ ...v, clientMessageId: 12345678 }), 'clientMessageId'),
      ],
      expectChatUnchanged,
    );
    type History = { threadId: number; cursor?: string; limit?: number };
    const his = caseFor<History>();
    table(
      'chat.history',
      () => f.customer.token,
      () => ({ threadId: f.chat.threadId }),
      [
        ...junk<History>(),
        ...idCases<History>('threadId'),
        his('cursor not a message id', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
        his('cursor negative', (v) => ({ ...v, cursor: '-1' }), 'cursor'),
        his('cursor a number', (v) => ({ ...v, cursor: 5 }), 'cursor'),
        his('cursor huge', (v) => ({ ...v, cursor: '9'.repeat(500) }), 'cursor'),
        his('limit 0', (v) => ({ ...v, limit: 0 }), 'limit'),
        his('limit 101', (v) => ({ ...v, limit: 101 }), 'limit'),
      ],
    );
    type Threads = { cursor?: string; limit?: number };
    const thr = caseFor<Threads>();
    table(
      'chat.threads',
      () => f.customer.token,
      () => ({ limit: 10 }),
      [
        ...junk<Threads>(),
        thr('cursor not one the API returned', (v) => ({ ...v, cursor: 'abc' }), 'cursor'),
        thr('cursor with SQL in it', (v) => ({ ...v, cursor: "1:1' OR 1=1 --" }), 'cursor'),
        thr('limit 101', (v) => ({ ...v, limit: 101 }), 'limit'),
      ],
    );
    type Read = { threadId: number; messageId: number };
    const rd = caseFor<Read>();
    table(
      'chat.markRead',
      () => f.customer.token,
      () => ({ threadId: f.chat.threadId, messageId: f.chat.messageId }),
      [
        ...junk<Read>(),
        ...idCases<Read>('threadId'),
        ...idCases<Read>('messageId'),
        rd('a message of no thread', (v) => ({ ...v, messageId: UNKNOWN_ID }), 'messageId'),
      ],
      expectChatUnchanged,
    );

    it("another customer, another seller and an admin → NOT_FOUND on the thread; the store's seller reads it; nothing changes", async () => {
      const { threadId, messageId } = f.chat;
      const calls: [string, unknown][] = [
        ['chat.send', { threadId, body: 'not yours', clientMessageId: 'bad-input-intruder' }],
        ['chat.history', { threadId }],
        ['chat.markRead', { threadId, messageId }],
      ];
      const other = await newAccount(api, 'CUSTOMER');
      for (const token of [other.token, f.sellerB.token, f.admin.token]) {
        for (const [path, input] of calls) expectError(await send(path, input, { token }), 'NOT_FOUND');
        expect(await ok('chat.threads', { limit: 10 }, token)).toEqual({ items: [], nextCursor: null });
      }
      // An unknown thread answers the same as someone else's: nothing tells them apart.
      const unknown = expectError(await send('chat.history', { threadId: UNKNOWN_ID }, { token: other.token }), 'NOT_FOUND');
      const foreign = expectError(await send('chat.history', { threadId }, { token: other.token }), 'NOT_FOUND');
      expect(foreign.message.replace(String(threadId), 'N')).toBe(unknown.message.replace(String(UNKNOWN_ID), 'N'));
      expectError(await send('chat.open', { storeId: UNKNOWN_ID }, { token: f.customer.token }), 'NOT_FOUND');
      const seen = (await ok('chat.history', { threadId }, f.sellerA.token)) as { items: { id: number }[] };
      expect(seen.items.map((m) => m.id)).toEqual([messageId]);
      await expectChatUnchanged();
    });

    it('a clientMessageId reused with another body → CONFLICT; the same body → the same message', async () => {
      const { threadId, messageId } = f.chat;
      expectError(await send('chat.send', { threadId, body: 'something else', clientMessageId: 'bad-input-setup-1' }, { token: f.customer.token }), 'CONFLICT');
      const again = (await ok('chat.send', { threadId, body: 'Is it in stock?', clientMessageId: 'bad-input-setup-1' }, f.customer.token)) as { id: number };
      expect(again.id).toBe(messageId);
      await expectChatUnchanged();
    });
  });

  describe('waitingRoom.*', () => {
    const expectNoEvent = async () => {
      const [row] = await selectRows<{ n: number | string }>(api.deps.ds, 'SELECT COUNT(*) n FROM waiting_room_events WHERE created_by IN (?, ?)', [
        f.sellerA.userId,
        f.admin.userId,
      ]);
      expect(Number(row!.n)).toBe(0);
    };
    type Create = { productIds: number[]; opensAt: string; closesAt?: string; admitPerSecond: number; maxActive?: number; tokenTtlSeconds?: number };
    const ev = caseFor<Create>();
    table(
      'waitingRoom.createEvent',
      () => f.sellerA.token,
      () => ({ productIds: [f.sellerA.productId], opensAt: inDays(30), admitPerSecond: 10 }),
      [
        ...junk<Create>(),
        ev('productIds missing', ({ productIds: _p, ...v }) => v, 'productIds'),
        ev('productIds empty', (v) => ({ ...v, productIds: [] }), 'productIds'),
        ev('51 products', (v) => ({ ...v, productIds: Array.from({ length: 51 }, (_, i) => i + 1) }), 'productIds'),
        ev('a product twice', (v) => ({ ...v, productIds: [f.sellerA.productId, f.sellerA.productId] }), 'productIds'),
        ev('a product id a string', (v) => ({ ...v, productIds: ['1'] }), 'productIds.0'),
        ev('a product id negative', (v) => ({ ...v, productIds: [-1] }), 'productIds.0'),
        ev('an unknown product', (v) => ({ ...v, productIds: [f.sellerA.productId, UNKNOWN_ID] }), 'productIds.1'),
        ev('opensAt missing', ({ opensAt: _o, ...v }) => v, 'opensAt'),
        ev('opensAt not a date', (v) => ({ ...v, opensAt: 'tomorrow' }), 'opensAt'),
        ev('opensAt without an offset', (v) => ({ ...v, opensAt: '2030-01-01T09:00:00' }), 'opensAt'),
        ev('opensAt a number', (v) => ({ ...v, opensAt: Date.now() }), 'opensAt'),
        ev('closesAt before opensAt', (v) => ({ ...v, closesAt: inDays(29) }), 'closesAt'),
        ev('closesAt 31 days after opensAt', (v) => ({ ...v, closesAt: inDays(61) }), 'closesAt'),
        ev('the whole event in the past', (v) => ({ ...v, opensAt: inDays(-3), closesAt: inDays(-2) }), 'closesAt'),
        ev('admitPerSecond 0', (v) => ({ ...v, admitPerSecond: 0 }), 'admitPerSecond'),
        ev('admitPerSecond 10,001', (v) => ({ ...v, admitPerSecond: 10_001 }), 'admitPerSecond'),
        ev('admitPerSecond fractional', (v) => ({ ...v, admitPerSecond: 1.5 }), 'admitPerSecond'),
        ev('maxActive 0', (v) => ({ ...v, maxActive: 0 }), 'maxActive'),
        ev('tokenTtlSeconds 29', (v) => ({ ...v, tokenTtlSeconds: 29 }), 'tokenTtlSeconds'),
        ev('tokenTtlSeconds 3,601', (v) => ({ ...v, tokenTtlSeconds: 3_601 }), 'tokenTtlSeconds'),
      ],
      expectNoEvent,
    );
    for (const path of ['waitingRoom.enter', 'waitingRoom.status']) {
      table(
        path,
        () => f.customer.token,
        () => ({ eventId: UNKNOWN_ID }),
        [...junk<{ eventId: number }>(), ...idCases<{ eventId: number }>('eventId')],
        expectNoEvent,
      );
    }
    table(
      'waitingRoom.get',
      () => undefined,
      () => ({ eventId: UNKNOWN_ID }),
      [...junk<{ eventId: number }>(), ...idCases<{ eventId: number }>('eventId')],
    );

    it("another seller's product → FORBIDDEN; an unknown event → NOT_FOUND; nothing is created", async () => {
      expectError(
        await send('waitingRoom.createEvent', { productIds: [f.sellerB.productId], opensAt: inDays(30), admitPerSecond: 10 }, { token: f.sellerA.token }),
        'FORBIDDEN',
      );
      for (const path of ['waitingRoom.enter', 'waitingRoom.status'])
        expectError(await send(path, { eventId: UNKNOWN_ID }, { token: f.customer.token }), 'NOT_FOUND');
      expectError(await send('waitingRoom.get', { eventId: UNKNOWN_ID }), 'NOT_FOUND');
      await expectNoEvent();
    });
  });

  describe('authentication and roles', () => {
    /** Every protected procedure, with a valid input and the role it is for ('any': every signed-in role, checked per order). */
    type Role = 'customer' | 'seller' | 'admin' | 'any';
    const PROTECTED: [path: string, role: Role, input: () => unknown][] = [
      ['auth.me', 'customer', () => NONE],
      ['auth.logout', 'customer', () => NONE],
      ['wallet.balance', 'customer', () => NONE],
      ['wallet.charge', 'customer', () => ({ amount: 100, idempotencyKey: 'auth-test-charge' })],
      ['wallet.history', 'customer', () => ({ limit: 10 })],
      ['stores.create', 'seller', () => ({ name: 'Never created' })],
      ['stores.mine', 'seller', () => NONE],
      ['products.create', 'seller', () => ({ storeId: f.sellerA.storeId, name: 'Never', description: '', price: 1, stock: 1 })],
      ['products.update', 'seller', () => ({ productId: f.sellerA.productId, name: 'Never renamed', price: 1 })],
      ['products.remove', 'seller', () => ({ productId: f.sellerA.productId })],
      ['products.restock', 'seller', () => ({ productId: f.sellerA.productId, quantity: 1 })],
      [
        'orders.place',
        'customer',
        () => ({
          idempotencyKey: 'auth-test-order',
          items: [{ productId: f.sellerA.productId, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
        }),
      ],
      ['orders.get', 'customer', () => ({ orderId: UNKNOWN_ULID })],
      ['orders.cancel', 'customer', () => ({ orderId: UNKNOWN_ULID })],
      ['orders.list', 'customer', () => ({ limit: 10 })],
      ['cart.list', 'customer', () => NONE],
      ['cart.add', 'customer', () => ({ productId: f.sellerA.productId, quantity: 1 })],
      ['cart.setQuantity', 'customer', () => ({ productId: f.sellerA.productId, quantity: 2 })],
      ['cart.remove', 'customer', () => ({ productId: f.sellerA.productId })],
      ['cart.clear', 'customer', () => NONE],
      ['questions.ask', 'customer', () => ({ productId: f.sellerA.productId, body: 'Never asked?' })],
      ['questions.answer', 'seller', () => ({ questionId: f.question.id, body: 'Never answered' })],
      [
        'coupons.create',
        'seller',
        () => ({
          storeId: f.sellerA.storeId,
          name: 'Never created',
          kind: 'FIXED',
          value: 100,
          minOrderAmount: 0,
          quantity: 1,
          validFrom: inDays(-1),
          validUntil: inDays(1),
        }),
      ],
      ['coupons.claim', 'customer', () => ({ couponId: f.coupons.unclaimed.id })],
      ['coupons.mine', 'customer', () => ({ limit: 10 })],
      ['points.balance', 'customer', () => NONE],
      ['points.history', 'customer', () => ({ limit: 10 })],
      ['points.grant', 'admin', () => ({ userId: f.customer.userId, amount: 1_000, expiresAt: inDays(30), reason: 'Never granted' })],
      ['refunds.request', 'any', () => ({ orderId: UNKNOWN_ULID, idempotencyKey: 'auth-test-refund', items: [{ orderItemId: 1, quantity: 1 }] })],
      ['refunds.get', 'any', () => ({ refundId: UNKNOWN_ULID })],
      ['refunds.list', 'any', () => ({ orderId: UNKNOWN_ULID })],
      ['stores.update', 'seller', () => ({ storeId: f.sellerA.storeId, pickupLeadMinutes: 30 })],
      ['stores.close', 'seller', () => ({ storeId: 987_654_321 })],
      ['stores.orders', 'seller', () => ({ storeId: f.sellerA.storeId })],
      ['stores.pickups', 'seller', () => ({ storeId: f.sellerA.storeId })],
      ['fulfillment.update', 'seller', () => ({ orderId: UNKNOWN_ULID, storeId: f.sellerA.storeId, status: 'SHIPPED', trackingNumber: 'CJ-0000' })],
      [
        'subscriptions.create',
        'customer',
        () => ({
          items: [{ productId: f.sellerA.productId, quantity: 1 }],
          paymentMethod: 'BALANCE',
          fulfillment: DELIVERY,
          every: { count: 1, unit: 'WEEK' },
          startAt: inDays(1),
        }),
      ],
      ['subscriptions.list', 'customer', () => ({ limit: 10 })],
      ['subscriptions.get', 'customer', () => ({ subscriptionId: 987_654_321 })],
      ['subscriptions.pause', 'customer', () => ({ subscriptionId: 987_654_321 })],
      ['subscriptions.resume', 'customer', () => ({ subscriptionId: 987_654_321 })],
      ['subscriptions.cancel', 'customer', () => ({ subscriptionId: 987_654_321 })],
      ['subscriptions.cardCustomerKey', 'customer', () => NONE],
      ['subscriptions.registerCard', 'customer', () => ({ authKey: 'test_auth_bad-input-sweep' })],
      ['chat.open', 'customer', () => ({ storeId: f.sellerB.storeId })],
      ['chat.send', 'any', () => ({ threadId: f.chat.threadId, body: 'never sent', clientMessageId: 'auth-test-message' })],
      ['chat.history', 'any', () => ({ threadId: f.chat.threadId })],
      ['chat.threads', 'any', () => ({ limit: 10 })],
      ['chat.markRead', 'any', () => ({ threadId: f.chat.threadId, messageId: f.chat.messageId })],
      ['waitingRoom.createEvent', 'seller', () => ({ productIds: [f.sellerA.productId], opensAt: inDays(30), admitPerSecond: 10 })],
      ['waitingRoom.enter', 'customer', () => ({ eventId: UNKNOWN_ID })],
      ['waitingRoom.status', 'customer', () => ({ eventId: UNKNOWN_ID })],
    ];
    /** The public ones: the rest of the router. */
    const PUBLIC = [
      'auth.signup',
      'auth.login',
      'stores.get',
      'products.get',
      'products.list',
      'products.popular',
      'questions.list',
      'coupons.list',
      'waitingRoom.get',
    ];
    /** Tokens of the roles a procedure is not for (sellerProcedure admits admins, so a seller's procedure has only the customer). */
    const WRONG_ROLES: Record<Role, () => [name: string, token: string][]> = {
      customer: () => [
        ['a SELLER', f.sellerA.token],
        ['an ADMIN', f.admin.token],
      ],
      seller: () => [['a CUSTOMER', f.customer.token]],
      admin: () => [
        ['a CUSTOMER', f.customer.token],
        ['a SELLER', f.sellerA.token],
      ],
      // Refunds admit every role; whose order it is decides (NOT_FOUND / FORBIDDEN per order, tested end to end).
      any: () => [],
    };

    it('every procedure is either protected (with its role) or public', () => {
      expect([...PROTECTED.map(([path]) => path), ...PUBLIC].sort()).toEqual(Object.keys(PROCEDURES).sort());
    });
    const BAD_CREDENTIALS: [name: string, authorization: () => string | undefined][] = [
      ['no Authorization header', () => undefined],
      ['Basic credentials', () => `Basic ${Buffer.from('user:pass').toString('base64')}`],
      ['another scheme', () => `Token ${f.customer.token}`],
      ['Bearer without a token', () => 'Bearer'],
      ['Bearer and spaces', () => 'Bearer     '],
      ['an unknown token', () => `Bearer ${randomBytes(32).toString('base64url')}`],
      ['a token with junk after it', () => `Bearer ${f.customer.token} junk`],
      ['a huge token', () => `Bearer ${'t'.repeat(5000)}`],
      ['a token after logout', () => `Bearer ${f.loggedOutToken}`],
    ];

    it.each(PROTECTED.flatMap(([path, , input]) => BAD_CREDENTIALS.map(([name, authorization]) => [path, name, input, authorization] as const)))(
      '%s with %s → UNAUTHORIZED',
      async (path, _name, input, authorization) => {
        expectError(await send(path, input(), { authorization: authorization() }), 'UNAUTHORIZED');
      },
    );

    it('UNAUTHORIZED comes before input validation (no schema details for strangers)', async () => {
      const err = expectError(await send('wallet.charge', { amount: -1, idempotencyKey: 'x' }), 'UNAUTHORIZED');
      expect(err.data.issues).toBeUndefined();
    });

    const WITH_INPUT = PROTECTED.filter(
      ([path]) =>
        !['auth.me', 'auth.logout', 'wallet.balance', 'stores.mine', 'cart.list', 'cart.clear', 'points.balance', 'subscriptions.cardCustomerKey'].includes(
          path,
        ),
    );

    it.each(WITH_INPUT)('%s: a stranger with bad input → UNAUTHORIZED, no schema details', async (path) => {
      const err = expectError(await send(path, { isAdmin: true }), 'UNAUTHORIZED');
      expect(err.data.issues).toBeUndefined();
    });

    it.each(WITH_INPUT)('%s: the wrong role with bad input → FORBIDDEN, no schema details', async (path, role) => {
      for (const [name, token] of WRONG_ROLES[role]()) {
        const a = await send(path, { isAdmin: true }, { token });
        expect({ name, code: a.error?.data.code }).toEqual({ name, code: 'FORBIDDEN' });
        const err = expectError(a, 'FORBIDDEN');
        expect(err.data.issues).toBeUndefined();
      }
    });

    it.each(PROTECTED.filter(([path, role]) => role === 'customer' && !path.startsWith('auth.')))(
      'a SELLER calling %s → FORBIDDEN',
      async (path, _role, input) => {
        expectError(await send(path, input(), { token: f.sellerA.token }), 'FORBIDDEN');
      },
    );

    it.each(PROTECTED.filter(([, role]) => role === 'seller'))('a CUSTOMER calling %s → FORBIDDEN', async (path, _role, input) => {
      expectError(await send(path, input(), { token: f.customer.token }), 'FORBIDDEN');
    });

    it.each(PROTECTED.filter(([path, role]) => role === 'customer' && !path.startsWith('auth.')))(
      'an ADMIN calling %s → FORBIDDEN',
      async (path, _role, input) => {
        expectError(await send(path, input(), { token: f.admin.token }), 'FORBIDDEN');
      },
    );

    it.each(PROTECTED.filter(([, role]) => role === 'admin'))('a CUSTOMER and a SELLER calling %s → FORBIDDEN', async (path, _role, input) => {
      for (const [name, token] of WRONG_ROLES.admin()) {
        const a = await send(path, input(), { token });
        expect({ name, code: a.error?.data.code }).toEqual({ name, code: 'FORBIDDEN' });
        expectError(a, 'FORBIDDEN');
      }
    });

    it.each([
      ['products.get', () => ({ productId: f.sellerA.productId })],
      ['questions.list', () => ({ productId: f.sellerA.productId })],
      ['products.list', () => ({ storeId: f.sellerA.storeId })],
      ['products.popular', () => NONE],
      ['coupons.list', () => ({ storeId: f.sellerA.storeId })],
    ])('public procedure %s ignores a bad Authorization header', async (path, input) => {
      for (const authorization of ['Bearer nope', 'Basic Zm9vOmJhcg==']) {
        const a = await send(path, input(), { authorization });
        expectNoLeak(a);
        expect(a.status).toBe(200);
      }
    });

    it('none of the refused calls changed anything', async () => {
      await expectWalletUnchanged();
      await expectNoOrders();
      await expectProductsUnchanged();
      await expectCartEmpty();
      await expectQuestionsUnchanged();
      await expectCouponsAndPointsUnchanged();
      await expectNoRefunds();
      const mine = (await ok('stores.mine', NONE, f.sellerA.token)) as { id: number }[];
      expect(mine.map((s) => s.id)).toEqual([f.sellerA.storeId]);
      // The customer's own session survived every refused logout.
      expect(await ok('auth.me', NONE, f.customer.token)).toMatchObject({ email: f.customer.email, role: 'CUSTOMER' });
    });
  });

  describe('the wire', () => {
    it.each([['nope.nope'], ['auth'], ['auth.signup.x'], ['auth.admin'], ['__proto__'], ['auth.constructor'], ['toString']])(
      'an unknown procedure path %s → NOT_FOUND',
      async (path) => {
        expectError(await send(path, {}, { kind: 'mutation' }), 'NOT_FOUND');
        expectError(await send(path, {}, { kind: 'query' }), 'NOT_FOUND');
      },
    );

    it('a query sent as POST and a mutation sent as GET → METHOD_NOT_SUPPORTED', async () => {
      expectError(await send('products.get', { productId: f.sellerA.productId }, { kind: 'mutation' }), 'METHOD_NOT_SUPPORTED');
      expectError(
        await send('wallet.charge', { amount: 1, idempotencyKey: 'method-test' }, { kind: 'query', token: f.customer.token }),
        'METHOD_NOT_SUPPORTED',
      );
      await expectWalletUnchanged();
    });

    it('a body over the size limit → 413, and it leaks nothing', async () => {
      const a = await send('stores.create', { name: 'x'.repeat(api.deps.config.API_BODY_LIMIT_BYTES) }, { token: f.sellerA.token });
      expect(a.status).toBe(413);
      expectNoLeak(a);
    });
  });
});
