import type { QuestionView } from '@bazaar/contracts';
import type { BazaarClient } from '../../../scripts/lib/client';
import { newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';
import { expectCode, expectBadField } from '../../../test/support/trpc-expect';

/** questions.*: customers ask, only the product's seller answers, anyone lists (newest first, paginated). */
describe('questions', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi();
  });

  afterAll(async () => {
    await api?.close();
  });

  const deleteProduct = (id: number) => api.deps.ds.query(`UPDATE products SET status = 'DELETED' WHERE id = ?`, [id]);

  /** Every page of a product's questions, following nextCursor. */
  async function allPages(client: BazaarClient, productId: number, limit: number): Promise<QuestionView[][]> {
    const pages: QuestionView[][] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await client.questions.list.query({ productId, limit, cursor });
      pages.push(page.items);
      if (!page.nextCursor) return pages;
      cursor = page.nextCursor;
    }
  }

  it('every procedure, happy path: ask, list (also signed out), answer, answer again (replaces)', async () => {
    const { product, seller } = await newProduct(api, { stock: 10, price: 1_000 });
    const customer = await newAccount(api, 'CUSTOMER');

    const asked = await customer.client.questions.ask.mutate({ productId: product.id, body: '  Does it come in blue?  ' });
    expect(asked).toEqual({
      id: expect.any(Number) as number,
      productId: product.id,
      body: 'Does it come in blue?',
      answer: null,
      answeredAt: null,
      createdAt: expect.any(String) as string,
    });

    expect(await api.client().questions.list.query({ productId: product.id })).toEqual({ items: [asked], nextCursor: null });

    const answered = await seller.client.questions.answer.mutate({ questionId: asked.id, body: 'Only in red, sorry.' });
    expect(answered).toEqual({ ...asked, answer: 'Only in red, sorry.', answeredAt: expect.any(String) as string });

    const again = await seller.client.questions.answer.mutate({ questionId: asked.id, body: 'Blue arrives next week!' });
    expect(again).toMatchObject({ id: asked.id, body: 'Does it come in blue?', answer: 'Blue arrives next week!' });
    expect(Date.parse(again.answeredAt!)).toBeGreaterThanOrEqual(Date.parse(answered.answeredAt!));

    const { items } = await customer.client.questions.list.query({ productId: product.id });
    expect(items).toEqual([again]);
    // The question's author is recorded, and the answer's.
    const [row] = await api.deps.ds.query<{ customer_id: number | string; answered_by: number | string }[]>(
      'SELECT customer_id, answered_by FROM questions WHERE id = ?',
      [asked.id],
    );
    expect({ customer: Number(row!.customer_id), answeredBy: Number(row!.answered_by) }).toEqual({ customer: customer.user.id, answeredBy: seller.user.id });
  });

  it("only the product's seller answers: another seller → FORBIDDEN, a customer → FORBIDDEN, signed out → UNAUTHORIZED; nothing changes", async () => {
    const { product } = await newProduct(api, { stock: 10, price: 1_000 });
    const { seller: otherSeller } = await newProduct(api, { stock: 10, price: 1_000 });
    const customer = await newAccount(api, 'CUSTOMER');
    const q = await customer.client.questions.ask.mutate({ productId: product.id, body: 'Is it waterproof?' });

    const err = await expectCode(otherSeller.client.questions.answer.mutate({ questionId: q.id, body: 'Yes!' }), 'FORBIDDEN');
    expect(err.data?.httpStatus).toBe(403);
    await expectCode(customer.client.questions.answer.mutate({ questionId: q.id, body: 'Yes!' }), 'FORBIDDEN');
    await expectCode(api.client().questions.answer.mutate({ questionId: q.id, body: 'Yes!' }), 'UNAUTHORIZED');

    expect((await api.client().questions.list.query({ productId: product.id })).items).toEqual([q]);
  });

  it('only signed-in customers ask: signed out → UNAUTHORIZED, a seller → FORBIDDEN', async () => {
    const { product, seller } = await newProduct(api, { stock: 10, price: 1_000 });
    await expectCode(api.client().questions.ask.mutate({ productId: product.id, body: 'hello?' }), 'UNAUTHORIZED');
    await expectCode(seller.client.questions.ask.mutate({ productId: product.id, body: 'hello?' }), 'FORBIDDEN');
    expect((await api.client().questions.list.query({ productId: product.id })).items).toEqual([]);
  });

  it('an unknown or deleted product, or an unknown question → NOT_FOUND', async () => {
    const UNKNOWN = 987_654_321;
    const customer = await newAccount(api, 'CUSTOMER');
    const { product, seller } = await newProduct(api, { stock: 10, price: 1_000 });

    await expectCode(customer.client.questions.ask.mutate({ productId: UNKNOWN, body: 'anyone?' }), 'NOT_FOUND');
    await expectCode(api.client().questions.list.query({ productId: UNKNOWN }), 'NOT_FOUND');
    await expectCode(seller.client.questions.answer.mutate({ questionId: UNKNOWN, body: 'hm' }), 'NOT_FOUND');

    const q = await customer.client.questions.ask.mutate({ productId: product.id, body: 'Still sold?' });
    await deleteProduct(product.id);
    const err = await expectCode(customer.client.questions.ask.mutate({ productId: product.id, body: 'anyone?' }), 'NOT_FOUND');
    expect(err.data?.httpStatus).toBe(404);
    await expectCode(api.client().questions.list.query({ productId: product.id }), 'NOT_FOUND');
    await expectCode(seller.client.questions.answer.mutate({ questionId: q.id, body: 'No longer.' }), 'NOT_FOUND');
    const [row] = await api.deps.ds.query<{ n: number | string }[]>('SELECT COUNT(*) AS n FROM questions WHERE product_id = ?', [product.id]);
    expect(Number(row!.n)).toBe(1);
  });

  it('bad input → BAD_REQUEST naming the field (extra fields, wrong types, empty or 2001-character body), and nothing is written', async () => {
    const { product, seller } = await newProduct(api, { stock: 10, price: 1_000 });
    const customer = await newAccount(api, 'CUSTOMER');
    const q = await customer.client.questions.ask.mutate({ productId: product.id, body: 'first' });
    const productId = product.id;
    const ask = customer.client.questions.ask;
    const answer = seller.client.questions.answer;
    const list = api.client().questions.list;

    await expectBadField(ask.mutate({ productId, body: 'hi', customerId: 1 } as never), 'customerId');
    await expectBadField(ask.mutate({ productId: String(productId), body: 'hi' } as never), 'productId');
    await expectBadField(ask.mutate({ productId, body: 42 } as never), 'body');
    await expectBadField(ask.mutate({ productId } as never), 'body');
    await expectBadField(ask.mutate({ productId, body: '' }), 'body');
    await expectBadField(ask.mutate({ productId, body: '   \n\t ' }), 'body');
    await expectBadField(ask.mutate({ productId, body: 'x'.repeat(2001) }), 'body');

    await expectBadField(answer.mutate({ questionId: q.id, body: 'ok', productId } as never), 'productId');
    await expectBadField(answer.mutate({ questionId: 'one', body: 'ok' } as never), 'questionId');
    await expectBadField(answer.mutate({ questionId: q.id, body: '' }), 'body');
    await expectBadField(answer.mutate({ questionId: q.id, body: 'y'.repeat(2001) }), 'body');

    await expectBadField(list.query({ productId, page: 2 } as never), 'page');
    await expectBadField(list.query({ productId: 'x' } as never), 'productId');
    await expectBadField(list.query({ productId, limit: 0 }), 'limit');
    await expectBadField(list.query({ productId, limit: 101 }), 'limit');
    await expectBadField(list.query({ productId, cursor: 'abc' }), 'cursor');

    expect((await list.query({ productId })).items).toEqual([q]);

    // The bounds themselves are fine: 2000 characters (after trimming).
    const long = await ask.mutate({ productId, body: ` ${'z'.repeat(2000)} ` });
    expect(long.body).toHaveLength(2000);
    expect((await answer.mutate({ questionId: long.id, body: 'a'.repeat(2000) })).answer).toHaveLength(2000);
  });

  it('list: 25 questions, limit 10 → 3 pages (10, 10, 5), newest first, no duplicates; default limit 20', async () => {
    const { product } = await newProduct(api, { stock: 10, price: 1_000 });
    const customer = await newAccount(api, 'CUSTOMER');
    const asked: QuestionView[] = [];
    for (let i = 0; i < 25; i++) asked.push(await customer.client.questions.ask.mutate({ productId: product.id, body: `question ${i}` }));
    // Another product's questions never show.
    const { product: other } = await newProduct(api, { stock: 10, price: 1_000 });
    await customer.client.questions.ask.mutate({ productId: other.id, body: 'elsewhere' });

    const pages = await allPages(api.client(), product.id, 10);
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    const all = pages.flat();
    expect(new Set(all.map((q) => q.id)).size).toBe(25);
    expect(all.map((q) => q.body)).toEqual(asked.map((q) => q.body).reverse());
    for (let i = 1; i < all.length; i++) expect(all[i]!.id).toBeLessThan(all[i - 1]!.id);

    const first = await api.client().questions.list.query({ productId: product.id });
    expect(first.items).toHaveLength(20);
    expect(first.items[0]!.body).toBe('question 24');
    expect(first.nextCursor).toBe(String(first.items[19]!.id));

    // Exactly one full page: no further page.
    const exact = await api.client().questions.list.query({ productId: product.id, limit: 25 });
    expect(exact.items).toHaveLength(25);
    expect(exact.nextCursor).toBeNull();
  });
});
