import { ChatRepository } from '@bazaar/db';
import { newAccount, newProduct, startTestApi, type TestApi } from '../../../test/support/api-harness';

/** ChatRepository on the real database (the procedures come later): open, send (idempotent, serialized), history, after, threads, markRead. */
describe('chat repository', () => {
  let api: TestApi;
  let chat: ChatRepository;

  beforeAll(async () => {
    api = await startTestApi();
    chat = new ChatRepository(api.deps.ds);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('open is one thread under concurrency; unknown store → null', async () => {
    const { store } = await newProduct(api, { stock: 1, price: 100 });
    const customer = await newAccount(api, 'CUSTOMER');
    const ids = await Promise.all(Array.from({ length: 20 }, () => chat.open(customer.user.id, store.id)));
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toEqual(expect.any(Number));
    expect(await chat.open(customer.user.id, 999_999_999)).toBeNull();
  });

  it('send, 50 concurrent duplicates → one message; history, after, threads with unread, markRead', async () => {
    const { store, seller } = await newProduct(api, { stock: 1, price: 100 });
    const customer = await newAccount(api, 'CUSTOMER');
    const threadId = (await chat.open(customer.user.id, store.id))!;
    const results = await Promise.all(Array.from({ length: 50 }, () => chat.send(threadId, customer.user.id, 'hello', 'client-msg-1')));
    const sent = results.filter((r) => r.kind === 'sent');
    expect(sent).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'duplicate')).toHaveLength(49);
    expect(await chat.send(threadId, customer.user.id, 'other', 'client-msg-1')).toEqual({ kind: 'CONFLICT' });
    const second = await chat.send(threadId, seller.user.id, 'hi back', 'client-msg-2');
    if (second.kind !== 'sent' || sent[0]?.kind !== 'sent') throw new Error('expected sent');
    expect(second.previousId).toBe(sent[0].message.id);

    const history = await chat.history(threadId, undefined, 1);
    expect(history.items.map((m) => m.body)).toEqual(['hi back']);
    expect((await chat.history(threadId, Number(history.nextCursor), 10)).items.map((m) => m.body)).toEqual(['hello']);
    expect((await chat.after(threadId, 0, 10)).map((m) => m.body)).toEqual(['hello', 'hi back']);

    const mine = await chat.threads(customer.user.id, undefined, 10);
    expect(mine.items).toHaveLength(1);
    expect(mine.items[0]).toMatchObject({ threadId, unread: 1, lastMessage: { body: 'hi back' } });
    expect((await chat.threads(seller.user.id, undefined, 10)).items[0]).toMatchObject({ threadId, unread: 1 });

    expect(await chat.markRead(threadId, customer.user.id, second.message.id)).toBe(true);
    expect(await chat.markRead(threadId, customer.user.id, sent[0].message.id)).toBe(true);
    expect((await chat.threads(customer.user.id, undefined, 10)).items[0]?.unread).toBe(0);
    expect(await chat.markRead(threadId, customer.user.id, 999_999_999)).toBe(false);
  });
});
