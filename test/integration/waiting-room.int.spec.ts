import { randomBytes } from 'node:crypto';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WaitingRoomStatus } from '@bazaar/contracts';
import { WaitingRoomRepository, execute, selectRows } from '@bazaar/db';
import { createLogger } from '@bazaar/platform';
import { WaitingRoomStore } from '@bazaar/queue';
import { AdmitWaitingRoomsLoop } from '@bazaar/scheduler';
import { AdmissionTokens } from '@bazaar/api/hosting';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { DELIVERY, newProduct, startTestApi, type TestApi } from '../support/api-harness';
import { expectBadField, expectCode, refusalData } from '../support/trpc-expect';

/**
 * waitingRoom.* and orders.place's admission tokens, through the real HTTP API against the run's MariaDB and
 * Redis. The admission loop (the scheduler's) is driven here one step at a time, so each step's effect is seen.
 */
/** The scheduler's admission loop over this api's Redis and MySQL, stepped by the test (syncMs 0: every step re-reads the events). */
function admissionLoop(api: TestApi, abandonAfterMs: number): AdmitWaitingRoomsLoop {
  const d = api.deps;
  return new AdmitWaitingRoomsLoop(
    d.redis,
    d.keys,
    new WaitingRoomRepository(d.ds),
    new WaitingRoomStore(d.redis, d.keys),
    d.gate,
    d.metrics,
    createLogger('test', 'silent'),
    {
      tickMs: 100,
      abandonAfterMs,
      syncMs: 0,
    },
  );
}

describe('waiting room', () => {
  let api: TestApi;
  let loop: AdmitWaitingRoomsLoop;

  beforeAll(async () => {
    api = await startTestApi();
    loop = newLoop(60_000);
  });
  afterAll(async () => {
    await api?.close();
  });

  const newLoop = (abandonAfterMs: number) => admissionLoop(api, abandonAfterMs);

  const iso = (fromNowMs: number) => new Date(Date.now() + fromNowMs).toISOString();

  type Customer = { userId: number; client: BazaarClient };

  /** n customers (bulk SQL, sessions issued directly) with 100,000 won each. */
  async function customers(n: number): Promise<Customer[]> {
    const t = `${process.pid}-${randomBytes(5).toString('hex')}`;
    const rows = Array.from({ length: n }, (_, i) => [`wr-${t}-${i}@test.bazaar`, 'not-a-real-hash', 'c', 'CUSTOMER']);
    await execute(api.deps.ds, `INSERT INTO users (email, password_hash, name, role) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}`, rows.flat());
    const ids = await selectRows<{ id: number | string }>(api.deps.ds, 'SELECT id FROM users WHERE email LIKE ? ORDER BY id', [`wr-${t}-%`]);
    return Promise.all(
      ids.map(async ({ id }) => {
        const userId = Number(id);
        const { token } = await api.deps.sessions.issue({ userId, role: 'CUSTOMER' });
        const client = bazaarClient(api.url, { token, batch: false });
        await client.wallet.charge.mutate({ amount: 100_000, idempotencyKey: `wr-topup-${userId}` });
        return { userId, client };
      }),
    );
  }

  const order = (c: BazaarClient, productId: number, key: string, admissionToken?: string) =>
    c.orders.place.mutate({
      idempotencyKey: key,
      items: [{ productId, quantity: 1 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
      ...(admissionToken ? { admissionToken } : {}),
    });

  const tokenOf = (s: WaitingRoomStatus): string => {
    if (s.state !== 'ADMITTED') throw new Error(`not admitted: ${JSON.stringify(s)}`);
    return s.admissionToken;
  };

  it('createEvent: only the products’ seller (or an admin), known products, no overlapping event, a sane window', async () => {
    const { seller, product } = await newProduct(api, { stock: 10, price: 1_000 });
    const other = await newProduct(api, { stock: 10, price: 1_000 });
    const [buyer] = await customers(1);
    const input = { productIds: [product.id], opensAt: iso(60_000), admitPerSecond: 10 };
    await expectCode(buyer!.client.waitingRoom.createEvent.mutate(input), 'FORBIDDEN');
    await expectCode(other.seller.client.waitingRoom.createEvent.mutate(input), 'FORBIDDEN');
    await expectBadField(seller.client.waitingRoom.createEvent.mutate({ ...input, productIds: [product.id, 999_999_999] }), 'productIds.1');
    await expectBadField(seller.client.waitingRoom.createEvent.mutate({ ...input, closesAt: iso(30_000) }), 'closesAt');
    await expectBadField(seller.client.waitingRoom.createEvent.mutate({ ...input, productIds: [product.id, product.id] }), 'productIds');
    await expectBadField(seller.client.waitingRoom.createEvent.mutate({ ...input, admitPerSecond: 0 }), 'admitPerSecond');

    const { eventId, event } = await seller.client.waitingRoom.createEvent.mutate({ ...input, tokenTtlSeconds: 120 });
    expect(event).toMatchObject({
      id: eventId,
      productIds: [product.id],
      admitPerSecond: 10,
      tokenTtlSeconds: 120,
      maxActive: 1_200,
      state: 'SCHEDULED',
      waiting: 0,
    });
    await expectCode(seller.client.waitingRoom.createEvent.mutate({ ...input, opensAt: iso(3_600_000) }), 'CONFLICT');
    expect(await api.client().waitingRoom.get.query({ eventId })).toMatchObject({ id: eventId, state: 'SCHEDULED' });
    await expectCode(api.client().waitingRoom.get.query({ eventId: 999_999_999 }), 'NOT_FOUND');
    // Before it opens, the product sells without a token.
    await expect(order(buyer!.client, product.id, `before-open-${eventId}`)).resolves.toMatchObject({ status: 'PENDING' });
  });

  it('first come first admitted at the loop’s pace, never above maxActive; one order per token; forged, foreign, expired and used tokens refused', async () => {
    const { seller, product } = await newProduct(api, { stock: 100, price: 1_000 });
    const people = await customers(6);
    const [a, b, c, d, e, late] = people as [Customer, Customer, Customer, Customer, Customer, Customer];
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({
      productIds: [product.id],
      opensAt: iso(-1_000),
      admitPerSecond: 1_000,
      maxActive: 3,
      tokenTtlSeconds: 60,
    });

    // Without a token: refused before the gate takes anything.
    const before = await api.deps.gate.available(product.id);
    expect(await refusalData(order(a.client, product.id, `no-token-${eventId}`))).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'ADMISSION_REQUIRED' });
    expect(await api.deps.gate.available(product.id)).toBe(before);

    // Entering in turn: positions 1..5; entering again keeps the place; status before entering: not in line.
    expect(await late.client.waitingRoom.status.query({ eventId })).toEqual({ state: 'NOT_IN_LINE' });
    for (const [i, p] of [a, b, c, d, e].entries())
      expect(await p.client.waitingRoom.enter.mutate({ eventId })).toMatchObject({ state: 'WAITING', position: i + 1 });
    expect(await c.client.waitingRoom.enter.mutate({ eventId })).toMatchObject({ state: 'WAITING', position: 3 });
    expect(await e.client.waitingRoom.status.query({ eventId })).toMatchObject({ state: 'WAITING', position: 5 });

    // One step: the first three (maxActive), in order; the others move up.
    await new Promise((r) => setTimeout(r, 50)); // credit for the step: 1,000/s
    await loop.step();
    const [ta, tb, tc] = (await Promise.all([a, b, c].map(async (p) => tokenOf(await p.client.waitingRoom.status.query({ eventId }))))) as [
      string,
      string,
      string,
    ];
    expect(await d.client.waitingRoom.status.query({ eventId })).toMatchObject({ state: 'WAITING', position: 1 });
    expect(await e.client.waitingRoom.status.query({ eventId })).toMatchObject({ state: 'WAITING', position: 2 });
    // Polling again gives the same token; entering again while admitted keeps the admission.
    expect(tokenOf(await a.client.waitingRoom.enter.mutate({ eventId }))).toBe(ta);
    await loop.step();
    expect((await api.client().waitingRoom.get.query({ eventId })).admitted).toBe(3); // maxActive holds

    // Refused tokens: another customer's, forged, expired, malformed.
    expect(await refusalData(order(d.client, product.id, `foreign-${eventId}`, tb))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });
    const forged = tb.slice(0, -2) + (tb.endsWith('AA') ? 'BB' : 'AA');
    expect(await refusalData(order(b.client, product.id, `forged-${eventId}`, forged))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });
    const expired = api.deps.admissionTokens.sign({ eventId, userId: b.userId, ticket: 2, expiresAtMs: Date.now() - 1 });
    expect(await refusalData(order(b.client, product.id, `expired-${eventId}`, expired))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });
    expect(await refusalData(order(b.client, product.id, `junk-token-${eventId}`, 'wr1.junk'))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });
    // A token of another event does not open this one.
    const elsewhere = api.deps.admissionTokens.sign({ eventId: eventId + 1_000_000, userId: b.userId, ticket: 2, expiresAtMs: Date.now() + 60_000 });
    expect(await refusalData(order(b.client, product.id, `other-event-${eventId}`, elsewhere))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });

    // A valid token: accepted once; the same request again answers the same order; another order with it is refused.
    const first = await order(a.client, product.id, `with-token-${eventId}`, ta);
    expect(first.status).toBe('PENDING');
    expect(await order(a.client, product.id, `with-token-${eventId}`, ta)).toEqual(first);
    expect(await refusalData(order(a.client, product.id, `second-${eventId}`, ta))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });
    // Concurrent orders with one token (different keys): exactly one accepted.
    const burst = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => order(b.client, product.id, `burst-${eventId}-${i}`, tb)));
    expect(burst.filter((r) => r.status === 'fulfilled')).toHaveLength(1);

    // The loop sees the two uses: two places free, d and e are admitted; a's and b's admissions are over.
    await loop.step();
    expect((await d.client.waitingRoom.status.query({ eventId })).state).toBe('ADMITTED');
    expect((await e.client.waitingRoom.status.query({ eventId })).state).toBe('ADMITTED');
    expect(await a.client.waitingRoom.status.query({ eventId })).toEqual({ state: 'NOT_IN_LINE' });
    const counts = await new WaitingRoomStore(api.deps.redis, api.deps.keys).counts(eventId);
    expect(counts).toMatchObject({ waiting: 0, active: 3, admittedTotal: 5 });
    expect(await order(c.client, product.id, `c-order-${eventId}`, tc)).toMatchObject({ status: 'PENDING' });
  });

  it('sold out at the gate: the room stops admitting and answers SOLD_OUT to everyone waiting; it resumes when units come back', async () => {
    const { seller, product } = await newProduct(api, { stock: 1, price: 1_000 });
    const [a, b, c] = (await customers(3)) as [Customer, Customer, Customer];
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({
      productIds: [product.id],
      opensAt: iso(-1_000),
      admitPerSecond: 1,
      tokenTtlSeconds: 60,
    });
    await a.client.waitingRoom.enter.mutate({ eventId });
    await b.client.waitingRoom.enter.mutate({ eventId });
    await new Promise((r) => setTimeout(r, 1_050));
    await loop.step(); // one credit: a only
    const ta = tokenOf(await a.client.waitingRoom.status.query({ eventId }));
    expect(await order(a.client, product.id, `last-unit-${eventId}`, ta)).toMatchObject({ status: 'PENDING' });
    await loop.step();
    expect(await b.client.waitingRoom.status.query({ eventId })).toEqual({ state: 'SOLD_OUT' });
    expect(await c.client.waitingRoom.enter.mutate({ eventId })).toEqual({ state: 'SOLD_OUT' });
    expect((await api.client().waitingRoom.get.query({ eventId })).state).toBe('SOLD_OUT');
    // Units back (as a failed order's would come back): admitting resumes, b first.
    await seller.client.products.restock.mutate({ productId: product.id, quantity: 1 });
    await new Promise((r) => setTimeout(r, 1_050));
    await loop.step();
    expect((await b.client.waitingRoom.status.query({ eventId })).state).toBe('ADMITTED');
  });

  it('a caller who stops polling loses the turn; the next is admitted', async () => {
    const { seller, product } = await newProduct(api, { stock: 10, price: 1_000 });
    const [gone, polling] = (await customers(2)) as [Customer, Customer];
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({ productIds: [product.id], opensAt: iso(1_200), admitPerSecond: 1 });
    await gone.client.waitingRoom.enter.mutate({ eventId });
    await polling.client.waitingRoom.enter.mutate({ eventId });
    const quick = newLoop(1_000);
    await new Promise((r) => setTimeout(r, 1_500));
    await polling.client.waitingRoom.status.query({ eventId }); // gone last seen 1.5 s ago, polling just now
    await new Promise((r) => setTimeout(r, 800));
    await api.deps.redis.del(api.deps.keys.cronLease(AdmitWaitingRoomsLoop.NAME)); // held by the other loop
    await quick.step();
    expect((await polling.client.waitingRoom.status.query({ eventId })).state).toBe('ADMITTED');
    expect(await gone.client.waitingRoom.status.query({ eventId })).toEqual({ state: 'NOT_IN_LINE' });
  });

  it('after closesAt the products sell without a token, and the room says CLOSED', async () => {
    const { seller, product } = await newProduct(api, { stock: 10, price: 1_000 });
    const [a] = await customers(1);
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({
      productIds: [product.id],
      opensAt: iso(-1_000),
      closesAt: iso(1_500),
      admitPerSecond: 5,
    });
    expect(await refusalData(order(a!.client, product.id, `during-${eventId}`))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });
    await new Promise((r) => setTimeout(r, 1_600));
    expect(await a!.client.waitingRoom.enter.mutate({ eventId })).toEqual({ state: 'CLOSED' });
    await expect(order(a!.client, product.id, `after-close-${eventId}`)).resolves.toMatchObject({ status: 'PENDING' });
  });

  it('a lost room and lost gate marks are rebuilt from MySQL', async () => {
    const { seller, product } = await newProduct(api, { stock: 10, price: 1_000 });
    const [a] = await customers(1);
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({ productIds: [product.id], opensAt: iso(-1_000), admitPerSecond: 5 });
    const k = api.deps.keys;
    await api.deps.redis.del(k.roomMeta(eventId), k.gateEvent(product.id));
    // The api re-creates the room on the next enter; the loop re-marks the gate on its next sync.
    expect(await a!.client.waitingRoom.enter.mutate({ eventId })).toMatchObject({ state: 'WAITING', position: 1 });
    await api.deps.redis.del(k.gateEvent(product.id));
    await loop.step();
    expect(await api.deps.gate.eventMark(product.id)).toMatch(new RegExp(`^${eventId}\\|`));
    expect(await refusalData(order(a!.client, product.id, `rebuilt-${eventId}`))).toMatchObject({ reason: 'ADMISSION_REQUIRED' });
  });

  it('token keys rotate from a file without a restart: new tokens by the new key, old ones verify until their key is dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bz-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, 'k1:first-secret-0123456789');
    const tokens = new AdmissionTokens('dev:unused-dev-secret-0000', file, undefined, 0);
    const claims = { eventId: 7, userId: 42, ticket: 3, expiresAtMs: Date.now() + 60_000 };
    const old = tokens.sign(claims);
    expect(old).toMatch(/^wr1\.k1\./);
    writeFileSync(file, 'k2:second-secret-0123456789,k1:first-secret-0123456789');
    const fresh = tokens.sign(claims);
    expect(fresh).toMatch(/^wr1\.k2\./);
    expect(tokens.verify(old, 42)).toMatchObject({ ok: true, claims });
    expect(tokens.verify(fresh, 42)).toMatchObject({ ok: true });
    expect(tokens.verify(fresh, 43)).toMatchObject({ ok: false });
    writeFileSync(file, 'k2:second-secret-0123456789');
    // mtime granularity: make sure the rewrite is seen as a change.
    const later = new Date(Date.now() + 5_000);
    utimesSync(file, later, later);
    const dropped = tokens.verify(old, 42);
    expect(dropped.ok).toBe(false);
    expect(!dropped.ok && dropped.why).toContain('no longer in use');
    expect(tokens.verify(fresh, 42)).toMatchObject({ ok: true });
    // A broken file keeps the ring in use.
    writeFileSync(file, 'garbage');
    const muchLater = new Date(Date.now() + 10_000);
    utimesSync(file, muchLater, muchLater);
    expect(tokens.verify(fresh, 42)).toMatchObject({ ok: true });
  });
});

describe('waitingRoom.status fast path: the tRPC wire format, unchanged', () => {
  let fast: TestApi;
  let trpc: TestApi;
  beforeAll(async () => {
    [fast, trpc] = await Promise.all([startTestApi({ API_FAST_PATHS: 'true' }), startTestApi({ API_FAST_PATHS: 'false' })]);
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), trpc?.close()]);
  });

  const raw = async (api: TestApi, path: string, token?: string) => {
    const res = await fetch(`${api.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return { status: res.status, contentType: res.headers.get('content-type'), vary: res.headers.get('vary'), body: await res.text() };
  };
  const statusPath = (input: unknown) => `/trpc/waitingRoom.status?input=${encodeURIComponent(JSON.stringify(input))}`;

  it('WAITING, ADMITTED and NOT_IN_LINE answered by the fast path; errors by tRPC; the same status, headers and bytes', async () => {
    const { seller, product } = await newProduct(fast, { stock: 10, price: 1_000 });
    const { eventId } = await seller.client.waitingRoom.createEvent.mutate({
      productIds: [product.id],
      opensAt: new Date(Date.now() - 1_000).toISOString(),
      admitPerSecond: 1_000,
    });
    const issue = async () => (await fast.deps.sessions.issue({ userId: (await newCustomerId(fast)) ?? 0, role: 'CUSTOMER' })).token;
    const [first, second, outsider] = [await issue(), await issue(), await issue()];
    await bazaarClient(fast.url, { token: first, batch: false }).waitingRoom.enter.mutate({ eventId });
    await bazaarClient(fast.url, { token: second, batch: false }).waitingRoom.enter.mutate({ eventId });
    const timer = jest.spyOn(fast.deps.metrics.httpDuration, 'startTimer'); // only the tRPC middleware starts one

    const compare = async (path: string, token?: string) => {
      timer.mockClear();
      const a = await raw(fast, path, token);
      const servedHere = timer.mock.calls.length === 0;
      const b = await raw(trpc, path, token);
      expect(a).toEqual(b);
      return { ...a, servedHere };
    };
    // ETA is whole seconds; compare twice in a row quickly enough to agree.
    const waiting = await compare(statusPath({ eventId }), second);
    expect(waiting).toMatchObject({ status: 200, servedHere: true });
    expect(JSON.parse(waiting.body)).toEqual({ result: { data: { state: 'WAITING', position: 2, etaSeconds: 1, pollAfterSeconds: 2 } } });
    expect(await compare(statusPath({ eventId }), outsider)).toMatchObject({
      status: 200,
      servedHere: true,
      body: '{"result":{"data":{"state":"NOT_IN_LINE"}}}',
    });

    const d = fast.deps;
    await d.redis.del(d.keys.cronLease(AdmitWaitingRoomsLoop.NAME)); // another suite's loop may hold the lease
    await admissionLoop(fast, 60_000).step();
    const admitted = await compare(statusPath({ eventId }), first);
    expect(admitted.servedHere).toBe(true);
    expect(JSON.parse(admitted.body)).toMatchObject({ result: { data: { state: 'ADMITTED', position: 0 } } });

    // Left to tRPC: an unknown event, bad input, no session, a seller, a batch.
    for (const [path, token, code] of [
      [statusPath({ eventId: 999_999_999 }), first, 404],
      [statusPath({ eventId: 'x' }), first, 400],
      [statusPath({ eventId, extra: 1 }), first, 400],
      ['/trpc/waitingRoom.status?input=not-json', first, 400],
      [statusPath({ eventId }), undefined, 401],
      [statusPath({ eventId }), 'not-a-session', 401],
      [statusPath({ eventId }), seller.token, 403],
    ] as const) {
      const r = await compare(path, token);
      expect({ path, code: r.status, servedHere: r.servedHere }).toEqual({ path, code, servedHere: false });
    }
    timer.mockRestore();
  });

  async function newCustomerId(api: TestApi): Promise<number> {
    const email = `wr-fast-${process.pid}-${randomBytes(5).toString('hex')}@test.bazaar`;
    const r = await execute(api.deps.ds, `INSERT INTO users (email, password_hash, name, role) VALUES (?, 'x', 'c', 'CUSTOMER')`, [email]);
    return r.insertId;
  }
});
