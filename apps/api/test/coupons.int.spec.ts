import { randomBytes } from 'node:crypto';
import { ClaimRefusal, CouponState, type CouponCreateInput } from '@bazaar/contracts';
import { execute, selectRows } from '@bazaar/db';
import { newId } from '@bazaar/platform';
import { CouponStore } from '@bazaar/queue';
import { bazaarClient, type BazaarClient } from '../../../scripts/lib/client';
import { startTestApi, type TestApi } from '../../../test/support/api-harness';
import { expectBadField, expectCode } from '../../../test/support/trpc-expect';

/**
 * coupons.*: first-come limited coupons that never over-issue. Through the real
 * HTTP API (tRPC client), against the run's MariaDB and Redis. Every test makes
 * its own coupons and users: customers in bulk by SQL, sessions issued directly
 * (argon2 sign-ups are far too slow for thousands).
 */
describe('coupons', () => {
  let api: TestApi;
  let store: CouponStore;

  beforeAll(async () => {
    api = await startTestApi();
    store = new CouponStore(api.deps.redis, api.deps.keys);
  });

  afterAll(async () => {
    await api?.close();
  });

  const tag = () => `${process.pid}-${randomBytes(6).toString('hex')}`;
  const iso = (fromNowMs: number) => new Date(Date.now() + fromNowMs).toISOString();
  const HOUR = 3_600_000;

  type Role = 'CUSTOMER' | 'SELLER' | 'ADMIN';
  interface Account {
    userId: number;
    client: BazaarClient;
  }

  /** n users of one role in one INSERT per 500, each with a session; clients unbatched (one HTTP request per call). */
  async function newUsers(n: number, role: Role): Promise<Account[]> {
    const t = tag();
    for (let start = 0; start < n; start += 500) {
      const count = Math.min(500, n - start);
      const rows = Array.from({ length: count }, (_, i) => [
        `${role.toLowerCase()}-${t}-${start + i}@test.bazaar`,
        'not-a-real-hash',
        role.toLowerCase(),
        role,
      ]);
      await execute(api.deps.ds, `INSERT INTO users (email, password_hash, name, role) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}`, rows.flat());
    }
    const ids = await selectRows<{ id: number | string }>(api.deps.ds, 'SELECT id FROM users WHERE email LIKE ? ORDER BY id', [`${role.toLowerCase()}-${t}-%`]);
    expect(ids).toHaveLength(n);
    return Promise.all(
      ids.map(async ({ id }) => {
        const userId = Number(id);
        const { token } = await api.deps.sessions.issue({ userId, role });
        return { userId, client: bazaarClient(api.url, { token, batch: false }) };
      }),
    );
  }
  const newUser = async (role: Role) => (await newUsers(1, role))[0]!;

  async function newSellerWithStore(): Promise<Account & { storeId: number }> {
    const seller = await newUser('SELLER');
    const res = await execute(api.deps.ds, 'INSERT INTO stores (seller_id, name) VALUES (?, ?)', [seller.userId, 'Coupon store']);
    return { ...seller, storeId: Number(res.insertId) };
  }

  let admin: Account | undefined;
  const theAdmin = async () => (admin ??= await newUser('ADMIN'));

  const couponInput = (over: Partial<CouponCreateInput> = {}): CouponCreateInput => ({
    name: 'Spring sale',
    kind: 'FIXED',
    value: 1_000,
    minOrderAmount: 0,
    quantity: 100,
    validFrom: iso(-60_000),
    validUntil: iso(HOUR),
    ...over,
  });

  /** A platform coupon made by the admin. */
  const platformCoupon = async (over: Partial<CouponCreateInput> = {}) => (await (await theAdmin()).client.coupons.create.mutate(couponInput(over))).coupon;

  const mysqlClaims = async (couponId: number) => {
    const rows = await selectRows<{ user_id: number | string }>(api.deps.ds, 'SELECT user_id FROM coupon_claims WHERE coupon_id = ? ORDER BY user_id', [
      couponId,
    ]);
    return rows.map((r) => Number(r.user_id));
  };
  const mysqlClaimed = async (couponId: number) =>
    Number((await selectRows<{ claimed: number | string }>(api.deps.ds, 'SELECT claimed FROM coupons WHERE id = ?', [couponId]))[0]!.claimed);

  const reasonOf = (err: { data?: unknown }) => (err.data as { reason?: string } | undefined)?.reason;

  async function expectRefused(p: Promise<unknown>, reason: ClaimRefusal): Promise<void> {
    const err = await expectCode(p, 'PRECONDITION_FAILED');
    expect(reasonOf(err)).toBe(reason);
  }

  describe('coupons.create', () => {
    it('refuses each bad input with BAD_REQUEST naming the field, and writes no coupon', async () => {
      const { client, userId, storeId } = await newSellerWithStore();
      const base = couponInput({ storeId });
      const cases: [string, Record<string, unknown>, string][] = [
        ['empty name', { name: '' }, 'name'],
        ['blank name', { name: '   ' }, 'name'],
        ['name of 101 characters', { name: 'x'.repeat(101) }, 'name'],
        ['unknown kind', { kind: 'BOGO' }, 'kind'],
        ['PERCENT value 0', { kind: 'PERCENT', value: 0 }, 'value'],
        ['PERCENT value 101', { kind: 'PERCENT', value: 101 }, 'value'],
        ['PERCENT value 12.5', { kind: 'PERCENT', value: 12.5 }, 'value'],
        ['FIXED value 0', { kind: 'FIXED', value: 0 }, 'value'],
        ['value a string', { value: '1000' }, 'value'],
        ['maxDiscount on FIXED', { kind: 'FIXED', maxDiscount: 500 }, 'maxDiscount'],
        ['maxDiscount 0', { kind: 'PERCENT', value: 10, maxDiscount: 0 }, 'maxDiscount'],
        ['minOrderAmount -1', { minOrderAmount: -1 }, 'minOrderAmount'],
        ['minOrderAmount 0.5', { minOrderAmount: 0.5 }, 'minOrderAmount'],
        ['quantity 0', { quantity: 0 }, 'quantity'],
        ['quantity 1.5', { quantity: 1.5 }, 'quantity'],
        ['quantity past the cap', { quantity: 1_000_001 }, 'quantity'],
        ['validFrom not a date', { validFrom: 'tomorrow' }, 'validFrom'],
        ['validFrom without an offset', { validFrom: '2030-01-01T00:00:00' }, 'validFrom'],
        ['validUntil before validFrom', { validFrom: iso(2 * HOUR), validUntil: iso(HOUR) }, 'validUntil'],
        ['validUntil equal to validFrom', { validFrom: base.validUntil, validUntil: base.validUntil }, 'validUntil'],
        ['validUntil in the past', { validFrom: iso(-2 * HOUR), validUntil: iso(-HOUR) }, 'validUntil'],
        ['storeId 0', { storeId: 0 }, 'storeId'],
        ['an unknown field', { code: 'SALE10' }, 'code'],
      ];
      for (const [, patch, field] of cases) {
        await expectBadField(client.coupons.create.mutate({ ...base, ...patch }), field);
      }
      expect(await selectRows(api.deps.ds, 'SELECT id FROM coupons WHERE created_by = ?', [userId])).toHaveLength(0);

      // The good input, with an offset other than Z and a capped PERCENT coupon, is taken.
      const made = await client.coupons.create.mutate({ ...base, kind: 'PERCENT', value: 15, maxDiscount: 5_000, validUntil: '2099-01-01T09:00:00+09:00' });
      expect(made.couponId).toBe(made.coupon.id);
      const ok = made.coupon;
      expect(ok).toMatchObject({
        storeId,
        kind: 'PERCENT',
        value: 15,
        maxDiscount: 5_000,
        quantity: 100,
        remaining: 100,
        validUntil: '2099-01-01T00:00:00.000Z',
      });
    });

    it('roles and ownership: the store’s seller for a store coupon, an admin for a platform coupon', async () => {
      const owner = await newSellerWithStore();
      const other = await newSellerWithStore();
      const customer = await newUser('CUSTOMER');
      const adm = await theAdmin();

      await expectCode(customer.client.coupons.create.mutate(couponInput({ storeId: owner.storeId })), 'FORBIDDEN');
      await expectCode(customer.client.coupons.create.mutate(couponInput()), 'FORBIDDEN');
      await expectCode(other.client.coupons.create.mutate(couponInput({ storeId: owner.storeId })), 'FORBIDDEN');
      await expectCode(owner.client.coupons.create.mutate(couponInput()), 'FORBIDDEN');
      await expectCode(owner.client.coupons.create.mutate(couponInput({ storeId: 2_000_000_000 })), 'NOT_FOUND');
      // A store coupon is the store's seller's alone.
      await expectCode(adm.client.coupons.create.mutate(couponInput({ storeId: owner.storeId })), 'FORBIDDEN');
      await expectCode(bazaarClient(api.url).coupons.create.mutate(couponInput()), 'UNAUTHORIZED');
      expect(await selectRows(api.deps.ds, 'SELECT id FROM coupons WHERE store_id IN (?, ?)', [owner.storeId, other.storeId])).toHaveLength(0);

      const storeCoupon = (await owner.client.coupons.create.mutate(couponInput({ storeId: owner.storeId, quantity: 7 }))).coupon;
      expect(storeCoupon).toMatchObject({ storeId: owner.storeId, remaining: 7 });
      const platform = (await adm.client.coupons.create.mutate(couponInput({ name: '  Platform  ' }))).coupon;
      expect(platform).toMatchObject({ storeId: null, name: 'Platform', kind: 'FIXED', value: 1_000, maxDiscount: null, quantity: 100, remaining: 100 });
      // The Redis copy is written at create, expiring with the coupon.
      expect(await store.remaining(platform.id)).toBe(100);
      const expireAt = Number(await api.deps.redis.call('PEXPIRETIME', api.deps.keys.couponMeta(platform.id)));
      expect(expireAt).toBe(Date.parse(platform.validUntil));
      expect(await store.terms(platform.id)).toEqual({
        kind: 'FIXED',
        value: 1_000,
        maxDiscount: null,
        minOrderAmount: 0,
        storeId: null,
        validFromMs: Date.parse(platform.validFrom),
        validUntilMs: Date.parse(platform.validUntil),
      });
    });
  });

  describe('coupons.claim', () => {
    it('who may claim: unknown coupon → NOT_FOUND, anonymous → UNAUTHORIZED, a seller → FORBIDDEN', async () => {
      const c = await newUser('CUSTOMER');
      await expectCode(c.client.coupons.claim.mutate({ couponId: 2_000_000_000 }), 'NOT_FOUND');
      const coupon = await platformCoupon();
      await expectCode(bazaarClient(api.url).coupons.claim.mutate({ couponId: coupon.id }), 'UNAUTHORIZED');
      await expectCode(bazaarClient(api.url).coupons.mine.query({}), 'UNAUTHORIZED');
      await expectCode((await newSellerWithStore()).client.coupons.claim.mutate({ couponId: coupon.id }), 'FORBIDDEN');
      await expectBadField(c.client.coupons.claim.mutate({ couponId: -1 }), 'couponId');
    });

    it('once per customer: the second claim → COUPON_ALREADY_CLAIMED; before validFrom → COUPON_NOT_ACTIVE', async () => {
      const [a, b] = await newUsers(2, 'CUSTOMER');
      const coupon = await platformCoupon({ quantity: 5 });
      const yes = await a!.client.coupons.claim.mutate({ couponId: coupon.id });
      expect(yes.couponId).toBe(coupon.id);
      expect(Date.parse(yes.claimedAt)).toBeLessThanOrEqual(Date.now());
      await expectRefused(a!.client.coupons.claim.mutate({ couponId: coupon.id }), ClaimRefusal.COUPON_ALREADY_CLAIMED);
      // Also when Redis lost the holders: MySQL's unique key says so, the unit Redis took comes back, the holder is learnt again.
      await api.deps.redis.del(api.deps.keys.couponHolders(coupon.id));
      await expectRefused(a!.client.coupons.claim.mutate({ couponId: coupon.id }), ClaimRefusal.COUPON_ALREADY_CLAIMED);
      await b!.client.coupons.claim.mutate({ couponId: coupon.id });
      expect(await mysqlClaims(coupon.id)).toEqual([a!.userId, b!.userId]);
      expect(await store.remaining(coupon.id)).toBe(3);
      expect(await store.holders(coupon.id)).toEqual({ [a!.userId]: 'A', [b!.userId]: 'A' });

      const later = await platformCoupon({ validFrom: iso(HOUR), validUntil: iso(2 * HOUR) });
      await expectRefused(a!.client.coupons.claim.mutate({ couponId: later.id }), ClaimRefusal.COUPON_NOT_ACTIVE);
      expect(await mysqlClaims(later.id)).toEqual([]);
      expect(await store.remaining(later.id)).toBe(100);
    });

    /**
     * 2,000 customers, 5 claims each, shuffled, STORM_CONCURRENCY in flight at once, each its own HTTP request.
     * `onDone(n)` runs after the n-th answer (not awaited by the storm).
     */
    const STORM_CONCURRENCY = 400;
    async function storm(couponId: number, customers: Account[], perCustomer: number, onDone?: (n: number) => void) {
      const calls = customers.flatMap((c) => Array.from({ length: perCustomer }, () => c));
      for (let i = calls.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [calls[i], calls[j]] = [calls[j]!, calls[i]!];
      }
      const yes: number[] = [];
      const refusals: Record<string, number> = {};
      const errors: string[] = [];
      let next = 0;
      let done = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: STORM_CONCURRENCY }, async () => {
          while (next < calls.length) {
            const c = calls[next++]!;
            try {
              await c.client.coupons.claim.mutate({ couponId });
              yes.push(c.userId);
            } catch (e) {
              const err = e as { data?: { code?: string; reason?: string }; message?: string };
              if (err.data?.code === 'PRECONDITION_FAILED' && err.data.reason) refusals[err.data.reason] = (refusals[err.data.reason] ?? 0) + 1;
              else errors.push(`${err.data?.code ?? 'no code'}: ${err.message ?? String(e)}`);
            }
            onDone?.(++done);
          }
        }),
      );
      return { yes, refusals, errors, ms: Date.now() - started };
    }

    const counter = async (outcome: string) => (await api.deps.metrics.couponClaims.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

    it('10,000 concurrent claims by 2,000 customers on 100 units: exactly 100 yes, 100 distinct customers, MySQL and Redis agree', async () => {
      const customers = await newUsers(2_000, 'CUSTOMER');
      const coupon = await platformCoupon({ quantity: 100 });
      const before = { issued: await counter('issued'), sold_out: await counter('sold_out'), duplicate: await counter('duplicate') };

      const { yes, refusals, errors, ms } = await storm(coupon.id, customers, 5);
      console.log(`coupon storm: 10,000 claims in ${ms} ms; yes ${yes.length}, refusals ${JSON.stringify(refusals)}, errors ${errors.length}`);

      expect(errors).toEqual([]);
      expect(yes).toHaveLength(100);
      expect(new Set(yes).size).toBe(100);
      expect(yes.length + (refusals[ClaimRefusal.COUPON_SOLD_OUT] ?? 0) + (refusals[ClaimRefusal.COUPON_ALREADY_CLAIMED] ?? 0)).toBe(10_000);
      expect(Object.keys(refusals).sort()).toEqual([ClaimRefusal.COUPON_ALREADY_CLAIMED, ClaimRefusal.COUPON_SOLD_OUT].filter((r) => refusals[r]));
      expect(refusals[ClaimRefusal.COUPON_SOLD_OUT]).toBeGreaterThan(0);

      const inMysql = await mysqlClaims(coupon.id);
      expect(inMysql).toEqual([...yes].sort((x, y) => x - y));
      expect(await mysqlClaimed(coupon.id)).toBe(100);
      expect(await store.remaining(coupon.id)).toBe(0);
      const holders = await store.holders(coupon.id);
      expect(
        Object.keys(holders)
          .map(Number)
          .sort((x, y) => x - y),
      ).toEqual(inMysql);
      expect(new Set(Object.values(holders))).toEqual(new Set(['A']));

      expect((await counter('issued')) - before.issued).toBe(100);
      expect((await counter('sold_out')) - before.sold_out).toBe(refusals[ClaimRefusal.COUPON_SOLD_OUT]);
      expect((await counter('duplicate')) - before.duplicate).toBe(refusals[ClaimRefusal.COUPON_ALREADY_CLAIMED] ?? 0);
    }, 60_000);

    it('the same storm with the coupon’s Redis keys deleted several times mid-storm: still exactly 100, every yes in MySQL, nobody twice', async () => {
      const customers = await newUsers(2_000, 'CUSTOMER');
      const coupon = await platformCoupon({ quantity: 100 });
      const keys = [api.deps.keys.couponMeta(coupon.id), api.deps.keys.couponHolders(coupon.id)];
      // While units are still being taken (the first few hundred answers), and later.
      const deleteAt = new Set([5, 30, 60, 100, 150, 250, 600, 2_000, 6_000]);
      const deletions: Promise<number>[] = [];
      const rebuilds = jest.spyOn(CouponStore.prototype, 'rebuild');
      const confirms = jest.spyOn(CouponStore.prototype, 'confirm');
      let result, written: (number | null)[], repaired: number;
      try {
        result = await storm(coupon.id, customers, 5, (n) => {
          if (deleteAt.has(n)) deletions.push(api.deps.redis.del(...keys));
        });
        await Promise.all(deletions);
        // What each rebuild wrote (null: another had written the copy first), and the confirms that had to record a holder.
        written = await Promise.all(rebuilds.mock.results.map((r) => r.value as Promise<number | null>));
        repaired = (await Promise.all(confirms.mock.results.map((r) => r.value as Promise<boolean>))).filter(Boolean).length;
      } finally {
        rebuilds.mockRestore();
        confirms.mockRestore();
      }
      const { yes, refusals, errors, ms } = result;
      console.log(
        `coupon storm with ${deletions.length} deletions: ${ms} ms; yes ${yes.length}, refusals ${JSON.stringify(refusals)}, errors ${errors.length}; ` +
          `rebuilds wrote remaining ${JSON.stringify(written)}; confirms that recorded a lost holder: ${repaired}`,
      );

      expect(deletions).toHaveLength(deleteAt.size);
      expect(written.filter((w) => w !== null).length).toBeGreaterThanOrEqual(3);
      expect(errors).toEqual([]);
      const inMysql = await mysqlClaims(coupon.id);
      expect(inMysql).toHaveLength(100);
      expect(await mysqlClaimed(coupon.id)).toBe(100);
      expect(new Set(yes).size).toBe(yes.length);
      expect([...yes].sort((x, y) => x - y)).toEqual(inMysql);

      // After the dust settles (one more claim rebuilds a copy deleted last), Redis holds exactly MySQL's claims.
      await expectRefused((await newUser('CUSTOMER')).client.coupons.claim.mutate({ couponId: coupon.id }), ClaimRefusal.COUPON_SOLD_OUT);
      expect(await store.remaining(coupon.id)).toBe(0);
      expect(
        Object.keys(await store.holders(coupon.id))
          .map(Number)
          .sort((x, y) => x - y),
      ).toEqual(inMysql);
    }, 60_000);
  });

  describe('coupons.list and coupons.mine', () => {
    it('list: open coupons of a store with what is left, soonest ending first, in keyset pages; mine: AVAILABLE, RESERVED, EXPIRED; an ended coupon → COUPON_NOT_ACTIVE', async () => {
      const seller = await newSellerWithStore();
      const [a, b] = await newUsers(2, 'CUSTOMER');
      const make = async (over: Partial<CouponCreateInput>) => (await seller.client.coupons.create.mutate(couponInput({ storeId: seller.storeId, ...over }))).coupon;
      const short = await make({ name: 'Short', quantity: 3, validUntil: iso(1_500) });
      const mid = await make({ name: 'Mid', quantity: 10, validUntil: iso(2 * HOUR) });
      const long = await make({ name: 'Long', kind: 'PERCENT', value: 10, maxDiscount: 2_000, quantity: 2, validUntil: iso(3 * HOUR) });
      const upcoming = await make({ name: 'Upcoming', validFrom: iso(3 * HOUR), validUntil: iso(4 * HOUR) });

      await a!.client.coupons.claim.mutate({ couponId: short.id });
      await a!.client.coupons.claim.mutate({ couponId: long.id });
      await b!.client.coupons.claim.mutate({ couponId: long.id });
      await a!.client.coupons.claim.mutate({ couponId: mid.id });

      const anon = bazaarClient(api.url);
      const page1 = await anon.coupons.list.query({ storeId: seller.storeId, limit: 2 });
      expect(page1.items.map((c) => [c.name, c.remaining])).toEqual([
        ['Short', 2],
        ['Mid', 9],
      ]);
      expect(page1.nextCursor).toEqual(expect.any(String));
      const page2 = await anon.coupons.list.query({ storeId: seller.storeId, limit: 2, cursor: page1.nextCursor! });
      expect(page2.items.map((c) => [c.name, c.remaining])).toEqual([
        ['Long', 0],
        ['Upcoming', 100],
      ]);
      expect(page2.items[0]).toMatchObject({ kind: 'PERCENT', value: 10, maxDiscount: 2_000, quantity: 2, storeId: seller.storeId });
      expect(page2.nextCursor).toBeNull();
      await expectBadField(anon.coupons.list.query({ storeId: seller.storeId, cursor: 'not-a-cursor' }), 'cursor');
      // Without a store filter the store's coupons are there too (walk every page).
      const seen = new Set<number>();
      for (let cursor: string | undefined; ;) {
        const p = await anon.coupons.list.query({ limit: 100, ...(cursor ? { cursor } : {}) });
        p.items.forEach((c) => seen.add(c.id));
        if (!p.nextCursor) break;
        cursor = p.nextCursor;
      }
      for (const c of [short, mid, long, upcoming]) expect(seen.has(c.id)).toBe(true);

      // A reservation by a waiting order shows at once (Redis), and goes with its release.
      const orderId = newId();
      expect(await api.deps.coupons.reserveForOrder(a!.userId, mid.id, orderId, Date.now())).toBe('ok');
      let mine = await a!.client.coupons.mine.query({});
      expect(mine.items.map((m) => [m.name, m.state, m.orderId])).toEqual([
        ['Mid', CouponState.RESERVED, orderId],
        ['Long', CouponState.AVAILABLE, null],
        ['Short', CouponState.AVAILABLE, null],
      ]);
      expect(await api.deps.coupons.releaseForOrder(a!.userId, mid.id, orderId)).toBe(true);
      expect(await api.deps.coupons.releaseForOrder(a!.userId, mid.id, orderId)).toBe(false);

      // The short coupon ends: claims are refused, it leaves the list, and mine shows it EXPIRED.
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(short.validUntil) - Date.now() + 50)));
      await expectRefused(b!.client.coupons.claim.mutate({ couponId: short.id }), ClaimRefusal.COUPON_NOT_ACTIVE);
      expect(await api.deps.coupons.reserveForOrder(a!.userId, short.id, newId(), Date.now())).toBe('NOT_ACTIVE');
      expect((await anon.coupons.list.query({ storeId: seller.storeId })).items.map((c) => c.name)).toEqual(['Mid', 'Long', 'Upcoming']);
      mine = await a!.client.coupons.mine.query({ limit: 2 });
      expect(mine.items.map((m) => [m.name, m.state])).toEqual([
        ['Mid', CouponState.AVAILABLE],
        ['Long', CouponState.AVAILABLE],
      ]);
      const rest = await a!.client.coupons.mine.query({ limit: 2, cursor: mine.nextCursor! });
      expect(rest.items.map((m) => [m.name, m.state, m.couponId])).toEqual([['Short', CouponState.EXPIRED, short.id]]);
      expect(rest.nextCursor).toBeNull();
      expect(rest.items[0]).toMatchObject({ storeId: seller.storeId, kind: 'FIXED', value: 1_000, claimedAt: expect.any(String) as string });
      expect((await b!.client.coupons.mine.query({})).items.map((m) => m.name)).toEqual(['Long']);

      // terms: immutable, from the process, Redis or MySQL.
      expect(await api.deps.coupons.terms(long.id)).toEqual({
        id: long.id,
        kind: 'PERCENT',
        value: 10,
        maxDiscount: 2_000,
        minOrderAmount: 0,
        storeId: seller.storeId,
        validFrom: new Date(long.validFrom),
        validUntil: new Date(long.validUntil),
      });
      expect(await api.deps.coupons.terms(2_000_000_000)).toBeNull();
    }, 20_000);
  });

  describe('CouponStore (Redis): the order path’s transitions', () => {
    let seq = 0;
    const fresh = async (over: { quantity?: number; validFromMs?: number; validUntilMs?: number } = {}) => {
      const id = 1_900_000_000 + process.pid * 100 + seq++;
      await store.init({
        id,
        quantity: over.quantity ?? 10,
        claimed: 0,
        validFromMs: over.validFromMs ?? Date.now() - 60_000,
        validUntilMs: over.validUntilMs ?? Date.now() + HOUR,
        terms: { kind: 'FIXED', value: 500, maxDiscount: null, minOrderAmount: 0, storeId: null },
      });
      return id;
    };

    it('reserve / release / markUsed / returnUsed: each a compare-and-set, idempotent where it should be', async () => {
      const c = await fresh();
      const now = Date.now();
      const [o1, o2, o3] = [newId(), newId(), newId()];
      expect(await store.reserve(c, 7, o1, now)).toBe('UNAVAILABLE'); // not claimed
      expect(await store.claim(c, 7, now)).toBe('ok');
      expect(await store.claim(c, 7, now)).toBe('ALREADY');
      expect(await store.reserve(c, 7, o1, now)).toBe('ok');
      expect(await store.reserve(c, 7, o1, now)).toBe('ok'); // the same order again
      expect(await store.reserve(c, 7, o2, now)).toBe('UNAVAILABLE'); // held by o1
      expect(await store.release(c, 7, o2)).toBe(false);
      expect(await store.release(c, 7, o1)).toBe(true);
      expect(await store.release(c, 7, o1)).toBe(false); // exactly once
      expect(await store.holders(c)).toEqual({ 7: 'A' });

      expect(await store.reserve(c, 7, o2, now)).toBe('ok');
      expect(await store.markUsed(c, 7, o2)).toBe(true);
      expect(await store.markUsed(c, 7, o2)).toBe(false); // already
      expect(await store.holders(c)).toEqual({ 7: `U:${o2}` });
      expect(await store.reserve(c, 7, o3, now)).toBe('UNAVAILABLE');
      expect(await store.release(c, 7, o2)).toBe(false); // not reserved any more
      expect(await store.giveBack(c, 7)).toBe(false); // a used holder stays
      expect(await store.returnUsed(c, 7, o3)).toBe(false);
      expect(await store.returnUsed(c, 7, o2)).toBe(true);
      expect(await store.returnUsed(c, 7, o2)).toBe(false);
      expect(await store.holders(c)).toEqual({ 7: 'A' });
      // markUsed is unconditional on a holder (MySQL says PAID), but never invents one.
      expect(await store.markUsed(c, 7, o3)).toBe(true);
      expect(await store.markUsed(c, 8, o3)).toBe(false);
      expect(await store.holders(c)).toEqual({ 7: `U:${o3}` });
      expect(await store.holderStates([c, c + 1_000_000], 7)).toEqual([`U:${o3}`, null]);
      expect(await store.remaining(c)).toBe(9);
    });

    it('two concurrent reserves of one holder for two orders: exactly one ok', async () => {
      for (let round = 0; round < 20; round++) {
        const c = await fresh();
        expect(await store.claim(c, 42, Date.now())).toBe('ok');
        const orders = [newId(), newId()];
        const answers = await Promise.all(orders.map((o) => api.deps.coupons.reserveForOrder(42, c, o, Date.now())));
        expect(answers.filter((x) => x === 'ok')).toHaveLength(1);
        expect(answers.filter((x) => x === 'UNAVAILABLE')).toHaveLength(1);
        expect(await store.holders(c)).toEqual({ 42: `R:${orders[answers.indexOf('ok')]}` });
      }
    });

    it('window, sold out, give-backs, missing meta, and rebuild only where the copy is missing (never re-opening a claimed unit)', async () => {
      const now = Date.now();
      const c = await fresh({ quantity: 2, validFromMs: now + HOUR, validUntilMs: now + 2 * HOUR });
      expect(await store.claim(c, 1, now)).toBe('NOT_ACTIVE');
      expect(await store.claim(c, 1, now + HOUR)).toBe('ok');
      expect(await store.reserve(c, 1, newId(), now)).toBe('NOT_ACTIVE');
      expect(await store.reserve(c, 1, newId(), now + 2 * HOUR)).toBe('NOT_ACTIVE');
      expect(await store.claim(c, 2, now + HOUR)).toBe('ok');
      expect(await store.claim(c, 3, now + HOUR)).toBe('SOLD_OUT');
      expect(await store.giveBack(c, 2)).toBe(true);
      expect(await store.giveBack(c, 2)).toBe(false);
      expect(await store.remaining(c)).toBe(1);
      expect(await store.claim(c, 3, now + HOUR)).toBe('ok');
      await store.soldOut(c, 3);
      expect(await store.remaining(c)).toBe(0);
      expect(await store.holders(c)).toEqual({ 1: 'A' });
      // Every key expires with the coupon.
      for (const k of [api.deps.keys.couponMeta(c), api.deps.keys.couponHolders(c)]) {
        expect(Number(await api.deps.redis.call('PEXPIRETIME', k))).toBe(now + 2 * HOUR);
      }

      // A copy that exists is left as it is.
      const record = {
        id: c,
        quantity: 2,
        claimed: 0,
        validFromMs: now - 1,
        validUntilMs: now + HOUR,
        terms: { kind: 'FIXED' as const, value: 1, maxDiscount: null, minOrderAmount: 0, storeId: null },
      };
      expect(await store.rebuild(record, [])).toBeNull();
      expect(await store.remaining(c)).toBe(0);

      // Meta lost: every script says 'missing'; the rebuild counts MySQL's claims and the holders Redis still has
      // that MySQL does not know yet (in flight), keeps a Redis-only reservation, and takes MySQL's used state.
      const held = newId();
      expect(await store.reserve(c, 1, held, now + HOUR)).toBe('ok');
      await api.deps.redis.hset(api.deps.keys.couponHolders(c), '9', 'A'); // a claim in flight
      await api.deps.redis.del(api.deps.keys.couponMeta(c));
      expect(await store.claim(c, 5, now)).toBe('missing');
      expect(await store.reserve(c, 1, held, now)).toBe('missing');
      expect(await store.terms(c)).toBeNull();
      const paid = newId();
      const rebuilt = await store.rebuild({ ...record, quantity: 5, claimed: 2 }, [
        { userId: 1, state: 'A' },
        { userId: 4, state: `U:${paid}` },
      ]);
      expect(rebuilt).toBe(2); // 5 − 2 claimed − 1 in flight
      expect(await store.holders(c)).toEqual({ 1: `R:${held}`, 4: `U:${paid}`, 9: 'A' });

      // A claim MySQL committed after the snapshot the rebuild used: confirm records it and takes its unit.
      expect(await store.confirm(c, 6, now + HOUR)).toBe(true);
      expect(await store.confirm(c, 6, now + HOUR)).toBe(false);
      expect(await store.remaining(c)).toBe(1);
    });
  });
});
