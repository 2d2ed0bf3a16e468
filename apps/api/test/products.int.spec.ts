import { DELIVERY, newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';

/** Sellers manage only their own products; a change reaches the order path at once. */
describe('products: update, remove, restock (real MariaDB and Redis)', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api?.close();
  });

  const code = (e: unknown) => (e as { data?: { code?: string } }).data?.code;

  it('updates name, description and price; the next order is priced at the new price', async () => {
    const { seller, product } = await newProduct(api, { stock: 10, price: 1_000 });
    const updated = await seller.client.products.update.mutate({ productId: product.id, name: '새 이름 New name', price: 1_500 });
    expect(updated).toMatchObject({ id: product.id, name: '새 이름 New name', price: 1_500, description: product.description });
    expect(await api.client().products.get.query({ productId: product.id })).toMatchObject({ name: '새 이름 New name', price: 1_500 });

    const buyer = await newAccount(api, 'CUSTOMER');
    const { orderId } = await buyer.client.orders.place.mutate({
      idempotencyKey: 'price-after-update',
      items: [{ productId: product.id, quantity: 2 }],
      paymentMethod: 'BALANCE',
      fulfillment: DELIVERY,
    });
    const order = await buyer.client.orders.get.query({ orderId });
    expect(order.items[0]).toMatchObject({ unitPrice: 1_500, subtotal: 3_000 });
  });

  it('refuses an update with nothing to change, or out of bounds, naming the field', async () => {
    const { seller, product } = await newProduct(api, { stock: 1, price: 100 });
    await expect(seller.client.products.update.mutate({ productId: product.id })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    const err = await seller.client.products.update.mutate({ productId: product.id, price: -1 }).catch((e: unknown) => e);
    expect(code(err)).toBe('BAD_REQUEST');
    expect((err as { message: string }).message).toContain('price');
    expect((await api.client().products.get.query({ productId: product.id })).price).toBe(100);
  });

  it("refuses another seller's product and a customer", async () => {
    const { product } = await newProduct(api, { stock: 5, price: 100 });
    const other = await newAccount(api, 'SELLER');
    const customer = await newAccount(api, 'CUSTOMER');
    for (const call of [
      () => other.client.products.update.mutate({ productId: product.id, price: 1 }),
      () => other.client.products.remove.mutate({ productId: product.id }),
      () => other.client.products.restock.mutate({ productId: product.id, quantity: 1 }),
    ]) {
      expect(code(await call().catch((e: unknown) => e))).toBe('FORBIDDEN');
    }
    expect(code(await customer.client.products.update.mutate({ productId: product.id, price: 1 }).catch((e: unknown) => e))).toBe('FORBIDDEN');
    expect(await api.client().products.get.query({ productId: product.id })).toMatchObject({ price: 100, stock: 5, status: 'ACTIVE' });
  });

  it('removes a product: no longer shown, no longer sold, its orders keep it', async () => {
    const { seller, product } = await newProduct(api, { stock: 5, price: 700 });
    const buyer = await newAccount(api, 'CUSTOMER');
    await buyer.client.wallet.charge.mutate({ amount: 10_000, idempotencyKey: 'remove-topup' });
    await expect(seller.client.products.remove.mutate({ productId: product.id })).resolves.toEqual({ productId: product.id, status: 'DELETED' });
    expect(
      code(
        await api
          .client()
          .products.get.query({ productId: product.id })
          .catch((e: unknown) => e),
      ),
    ).toBe('NOT_FOUND');
    const err = await buyer.client.orders.place
      .mutate({ idempotencyKey: 'after-remove', items: [{ productId: product.id, quantity: 1 }], paymentMethod: 'BALANCE', fulfillment: DELIVERY })
      .catch((e: unknown) => e);
    expect(code(err)).toBe('BAD_REQUEST');
    expect((err as { data?: { issues?: { path: string }[] } }).data?.issues?.[0]?.path).toBe('items.0.productId');
    // Removing twice, updating or restocking a removed product: NOT_FOUND.
    expect(code(await seller.client.products.remove.mutate({ productId: product.id }).catch((e: unknown) => e))).toBe('NOT_FOUND');
    expect(code(await seller.client.products.update.mutate({ productId: product.id, price: 1 }).catch((e: unknown) => e))).toBe('NOT_FOUND');
    expect(code(await seller.client.products.restock.mutate({ productId: product.id, quantity: 1 }).catch((e: unknown) => e))).toBe('NOT_FOUND');
  });

  it('restock raises the stock and the sold-out gate, never past the stock limit', async () => {
    const { seller, product } = await newProduct(api, { stock: 0, price: 100 });
    const buyer = await newAccount(api, 'CUSTOMER');
    const place = (key: string) =>
      buyer.client.orders.place.mutate({
        idempotencyKey: key,
        items: [{ productId: product.id, quantity: 1 }],
        paymentMethod: 'BALANCE',
        fulfillment: DELIVERY,
      });
    await expect(place('restock-before')).rejects.toMatchObject({ data: { code: 'PRECONDITION_FAILED', reason: 'OUT_OF_STOCK' } });
    expect((await seller.client.products.restock.mutate({ productId: product.id, quantity: 3 })).stock).toBe(3);
    expect(await api.deps.gate.available(product.id)).toBe(3);
    await expect(place('restock-after')).resolves.toMatchObject({ status: 'PENDING' });
    const err = await seller.client.products.restock.mutate({ productId: product.id, quantity: 1_000_000 }).catch((e: unknown) => e);
    expect(code(err)).toBe('BAD_REQUEST');
  });
});
