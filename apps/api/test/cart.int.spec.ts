import { TRPCClientError } from '@trpc/client';
import { LIMITS } from '@bazaar/contracts';
import type { AppRouter } from '@bazaar/api';
import { bazaarClient, type BazaarClient } from '../../../scripts/lib/client';
import { newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { expectCode, expectBadField } from '../../../test/support/trpc-expect';

/** cart.*: the caller's own cart, current prices and stock, quantity bounds and merges, no lost updates. */
describe('cart', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi();
  });

  afterAll(async () => {
    await api?.close();
  });

  const customer = async () => (await newAccount(api, 'CUSTOMER')).client;
  const setProduct = (id: number, fields: { price?: number; stock?: number; status?: 'ACTIVE' | 'DELETED' }) =>
    api.deps.ds.query('UPDATE products SET price = COALESCE(?, price), stock = COALESCE(?, stock), status = COALESCE(?, status) WHERE id = ?', [
      fields.price ?? null,
      fields.stock ?? null,
      fields.status ?? null,
      id,
    ]);

  it('every procedure, happy path: add, add again (merges), setQuantity, remove, clear; list shows each state', async () => {
    const c = await customer();
    const { product: a, store } = await newProduct(api, { stock: 10, price: 1_000, name: 'Apple' });
    const { product: b } = await newProduct(api, { stock: 5, price: 2_500, name: 'Banana' });

    expect(await c.cart.list.query()).toEqual({ items: [], total: 0 });

    const afterAdd = await c.cart.add.mutate({ productId: a.id, quantity: 2 });
    expect(afterAdd).toEqual({
      items: [
        {
          productId: a.id,
          name: 'Apple',
          storeId: store.id,
          unitPrice: 1_000,
          stock: 10,
          quantity: 2,
          subtotal: 2_000,
          available: true,
          addedAt: expect.any(String) as string,
        },
      ],
      total: 2_000,
    });
    expect(await c.cart.list.query()).toEqual(afterAdd);

    const merged = await c.cart.add.mutate({ productId: a.id, quantity: 3 });
    expect(merged.items).toHaveLength(1);
    expect(merged.items[0]).toMatchObject({ productId: a.id, quantity: 5, subtotal: 5_000 });

    const two = await c.cart.add.mutate({ productId: b.id, quantity: 1 });
    expect(two.items.map((l) => [l.productId, l.quantity])).toEqual([
      [a.id, 5],
      [b.id, 1],
    ]);
    expect(two.total).toBe(5_000 + 2_500);

    const set = await c.cart.setQuantity.mutate({ productId: b.id, quantity: 4 });
    expect(set.items.find((l) => l.productId === b.id)).toMatchObject({ quantity: 4, subtotal: 10_000, available: true });
    expect(set.total).toBe(15_000);
    // Setting the quantity it already has is fine.
    expect((await c.cart.setQuantity.mutate({ productId: b.id, quantity: 4 })).total).toBe(15_000);

    const removed = await c.cart.remove.mutate({ productId: a.id });
    expect(removed.items.map((l) => l.productId)).toEqual([b.id]);
    expect(removed.total).toBe(10_000);

    expect(await c.cart.clear.mutate()).toEqual({ items: [], total: 0 });
    expect(await c.cart.list.query()).toEqual({ items: [], total: 0 });
    // Clearing an empty cart is fine too.
    expect(await c.cart.clear.mutate()).toEqual({ items: [], total: 0 });
  });

  it('shows current prices and stock: a price or stock change shows at once; a line the stock cannot cover is unavailable and left out of the total', async () => {
    const c = await customer();
    const { product: a } = await newProduct(api, { stock: 10, price: 1_000 });
    const { product: b } = await newProduct(api, { stock: 10, price: 300 });
    await c.cart.add.mutate({ productId: a.id, quantity: 3 });
    await c.cart.add.mutate({ productId: b.id, quantity: 2 });
    expect((await c.cart.list.query()).total).toBe(3_600);

    await setProduct(a.id, { price: 1_500 });
    let cart = await c.cart.list.query();
    expect(cart.items.find((l) => l.productId === a.id)).toMatchObject({ unitPrice: 1_500, subtotal: 4_500, stock: 10, available: true });
    expect(cart.total).toBe(4_500 + 600);

    await setProduct(a.id, { stock: 2 });
    cart = await c.cart.list.query();
    expect(cart.items.find((l) => l.productId === a.id)).toMatchObject({ unitPrice: 1_500, stock: 2, quantity: 3, subtotal: 4_500, available: false });
    expect(cart.total).toBe(600);

    // Exactly enough stock is available again.
    await setProduct(a.id, { stock: 3 });
    cart = await c.cart.list.query();
    expect(cart.items.find((l) => l.productId === a.id)).toMatchObject({ stock: 3, available: true });
    expect(cart.total).toBe(5_100);

    // A line may be added beyond the current stock: it is shown as unavailable.
    const { product: scarce } = await newProduct(api, { stock: 1, price: 100 });
    cart = await c.cart.add.mutate({ productId: scarce.id, quantity: 5 });
    expect(cart.items.find((l) => l.productId === scarce.id)).toMatchObject({ quantity: 5, stock: 1, available: false });
    expect(cart.total).toBe(5_100);
  });

  it(`quantities are 1..${LIMITS.maxQuantityPerLine}; a merge past ${LIMITS.maxQuantityPerLine} → BAD_REQUEST naming quantity, and the line stays`, async () => {
    const c = await customer();
    const { product } = await newProduct(api, { stock: 1_000, price: 10 });
    const productId = product.id;

    for (const quantity of [0, -1, LIMITS.maxQuantityPerLine + 1, 1.5]) {
      await expectBadField(c.cart.add.mutate({ productId, quantity }), 'quantity');
      await expectBadField(c.cart.setQuantity.mutate({ productId, quantity }), 'quantity');
    }
    expect((await c.cart.list.query()).items).toEqual([]);

    await c.cart.add.mutate({ productId, quantity: 60 });
    await expectBadField(c.cart.add.mutate({ productId, quantity: 40 }), 'quantity');
    expect((await c.cart.list.query()).items[0]).toMatchObject({ quantity: 60 });

    expect((await c.cart.add.mutate({ productId, quantity: 39 })).items[0]).toMatchObject({ quantity: LIMITS.maxQuantityPerLine });
    await expectBadField(c.cart.add.mutate({ productId, quantity: 1 }), 'quantity');
    expect((await c.cart.list.query()).items[0]).toMatchObject({ quantity: LIMITS.maxQuantityPerLine });

    // setQuantity may go down to 1 and back up to 99.
    expect((await c.cart.setQuantity.mutate({ productId, quantity: 1 })).items[0]).toMatchObject({ quantity: 1 });
    expect((await c.cart.setQuantity.mutate({ productId, quantity: LIMITS.maxQuantityPerLine })).items[0]).toMatchObject({
      quantity: LIMITS.maxQuantityPerLine,
    });
    // A new line can start at 99.
    const { product: other } = await newProduct(api, { stock: 1_000, price: 10 });
    expect((await c.cart.add.mutate({ productId: other.id, quantity: LIMITS.maxQuantityPerLine })).items[1]).toMatchObject({
      productId: other.id,
      quantity: LIMITS.maxQuantityPerLine,
    });
  });

  it('an unknown or deleted product → NOT_FOUND; a deleted product already in the cart shows as unavailable and can be removed', async () => {
    const c = await customer();
    const UNKNOWN = 987_654_321;
    await expectCode(c.cart.add.mutate({ productId: UNKNOWN, quantity: 1 }), 'NOT_FOUND');
    await expectCode(c.cart.setQuantity.mutate({ productId: UNKNOWN, quantity: 1 }), 'NOT_FOUND');
    await expectCode(c.cart.remove.mutate({ productId: UNKNOWN }), 'NOT_FOUND');

    const { product: gone } = await newProduct(api, { stock: 10, price: 700 });
    await setProduct(gone.id, { status: 'DELETED' });
    const err = await expectCode(c.cart.add.mutate({ productId: gone.id, quantity: 1 }), 'NOT_FOUND');
    expect(err.data?.httpStatus).toBe(404);
    expect((await c.cart.list.query()).items).toEqual([]);

    // Removed by its seller through products.remove.
    const { product: removed, seller } = await newProduct(api, { stock: 10, price: 700 });
    await c.cart.add.mutate({ productId: removed.id, quantity: 1 });
    await seller.client.products.remove.mutate({ productId: removed.id });
    await expectCode(c.cart.add.mutate({ productId: removed.id, quantity: 1 }), 'NOT_FOUND');
    expect((await c.cart.list.query()).items).toMatchObject([{ productId: removed.id, available: false }]);
    await c.cart.clear.mutate();

    // In the cart, then deleted.
    const { product: kept } = await newProduct(api, { stock: 10, price: 100 });
    const { product: later } = await newProduct(api, { stock: 10, price: 700 });
    await c.cart.add.mutate({ productId: kept.id, quantity: 1 });
    await c.cart.add.mutate({ productId: later.id, quantity: 2 });
    await setProduct(later.id, { status: 'DELETED' });
    const cart = await c.cart.list.query();
    expect(cart.items.find((l) => l.productId === later.id)).toMatchObject({ quantity: 2, available: false });
    expect(cart.total).toBe(100);
    await expectCode(c.cart.add.mutate({ productId: later.id, quantity: 1 }), 'NOT_FOUND');
    await expectCode(c.cart.setQuantity.mutate({ productId: later.id, quantity: 1 }), 'NOT_FOUND');
    expect((await c.cart.list.query()).items.find((l) => l.productId === later.id)).toMatchObject({ quantity: 2 });
    expect((await c.cart.remove.mutate({ productId: later.id })).items.map((l) => l.productId)).toEqual([kept.id]);

    // setQuantity and remove of a product that is not in the cart.
    const { product: notInCart } = await newProduct(api, { stock: 10, price: 100 });
    await expectCode(c.cart.setQuantity.mutate({ productId: notInCart.id, quantity: 1 }), 'NOT_FOUND');
    await expectCode(c.cart.remove.mutate({ productId: notInCart.id }), 'NOT_FOUND');
    expect((await c.cart.list.query()).items.map((l) => l.productId)).toEqual([kept.id]);
  });

  it("one customer neither sees nor changes another's cart", async () => {
    const [alice, bob] = [await customer(), await customer()];
    const { product: p } = await newProduct(api, { stock: 10, price: 100 });
    const { product: q } = await newProduct(api, { stock: 10, price: 200 });

    await alice.cart.add.mutate({ productId: p.id, quantity: 3 });
    await bob.cart.add.mutate({ productId: q.id, quantity: 1 });
    expect((await alice.cart.list.query()).items.map((l) => [l.productId, l.quantity])).toEqual([[p.id, 3]]);
    expect((await bob.cart.list.query()).items.map((l) => [l.productId, l.quantity])).toEqual([[q.id, 1]]);

    // Bob's procedures only ever reach Bob's lines.
    await expectCode(bob.cart.setQuantity.mutate({ productId: p.id, quantity: 9 }), 'NOT_FOUND');
    await expectCode(bob.cart.remove.mutate({ productId: p.id }), 'NOT_FOUND');
    // The same product in both carts: separate lines.
    expect((await bob.cart.add.mutate({ productId: p.id, quantity: 1 })).items.find((l) => l.productId === p.id)).toMatchObject({ quantity: 1 });
    await bob.cart.clear.mutate();
    expect(await bob.cart.list.query()).toEqual({ items: [], total: 0 });
    expect((await alice.cart.list.query()).items.map((l) => [l.productId, l.quantity])).toEqual([[p.id, 3]]);
  });

  it('only signed-in customers: no token → UNAUTHORIZED; a seller → FORBIDDEN', async () => {
    const { product, seller } = await newProduct(api, { stock: 10, price: 100 });
    const anon = api.client();
    await expectCode(anon.cart.list.query(), 'UNAUTHORIZED');
    await expectCode(anon.cart.add.mutate({ productId: product.id, quantity: 1 }), 'UNAUTHORIZED');
    await expectCode(seller.client.cart.list.query(), 'FORBIDDEN');
    await expectCode(seller.client.cart.add.mutate({ productId: product.id, quantity: 1 }), 'FORBIDDEN');
    await expectCode(seller.client.cart.clear.mutate(), 'FORBIDDEN');
  });

  it('bad input → BAD_REQUEST naming the field, and the cart is unchanged', async () => {
    const c = await customer();
    const { product } = await newProduct(api, { stock: 10, price: 100 });
    await c.cart.add.mutate({ productId: product.id, quantity: 1 });
    const before = await c.cart.list.query();
    const productId = product.id;

    await expectBadField(c.cart.add.mutate({ productId, quantity: 1, price: 1 } as never), 'price');
    await expectBadField(c.cart.add.mutate({ productId: String(productId), quantity: 1 } as never), 'productId');
    await expectBadField(c.cart.add.mutate({ productId, quantity: '1' } as never), 'quantity');
    await expectBadField(c.cart.add.mutate({ productId } as never), 'quantity');
    await expectBadField(c.cart.add.mutate({ productId: 0, quantity: 1 }), 'productId');
    await expectBadField(c.cart.setQuantity.mutate({ productId, quantity: 2, userId: 1 } as never), 'userId');
    await expectBadField(c.cart.setQuantity.mutate({ productId: null, quantity: 2 } as never), 'productId');
    await expectBadField(c.cart.remove.mutate({ productId, quantity: 1 } as never), 'quantity');
    await expectBadField(c.cart.remove.mutate({ productId: -3 }), 'productId');

    expect(await c.cart.list.query()).toEqual(before);
  });

  describe('concurrent adds by one customer (unbatched: every call its own request)', () => {
    let c: BazaarClient;
    beforeAll(async () => {
      c = bazaarClient(api.url, { token: (await newAccount(api, 'CUSTOMER')).token, batch: false });
    });

    it('50 concurrent cart.add of 1 → quantity exactly 50 (no lost update)', async () => {
      const { product } = await newProduct(api, { stock: 1_000, price: 10 });
      const answers = await Promise.all(Array.from({ length: 50 }, () => c.cart.add.mutate({ productId: product.id, quantity: 1 })));
      expect(answers).toHaveLength(50);
      const seen = answers.map((a) => a.items.find((l) => l.productId === product.id)?.quantity ?? 0);
      expect(Math.max(...seen)).toBe(50);
      const cart = await c.cart.list.query();
      expect(cart.items.find((l) => l.productId === product.id)).toMatchObject({ quantity: 50, subtotal: 500 });
    });

    it(`20 concurrent adds of 1 onto a line of 90 → exactly 9 accepted, 11 refused (BAD_REQUEST quantity), the line ends at ${LIMITS.maxQuantityPerLine}`, async () => {
      const { product } = await newProduct(api, { stock: 1_000, price: 10 });
      await c.cart.add.mutate({ productId: product.id, quantity: 90 });
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.cart.add.mutate({ productId: product.id, quantity: 1 })));
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(results.length - refused.length).toBe(9);
      expect(refused).toHaveLength(11);
      for (const r of refused) {
        expect(r.reason).toBeInstanceOf(TRPCClientError);
        const err = r.reason as TRPCClientError<AppRouter>;
        expect(err.data?.code).toBe('BAD_REQUEST');
        expect((err.data as { issues?: { path: string }[] }).issues?.map((i) => i.path)).toEqual(['quantity']);
      }
      expect((await c.cart.list.query()).items.find((l) => l.productId === product.id)).toMatchObject({ quantity: LIMITS.maxQuantityPerLine });
    });
  });
});
