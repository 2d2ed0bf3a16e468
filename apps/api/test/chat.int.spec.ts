import type { ChatMessageView } from '@bazaar/contracts';
import { ChatRepository } from '@bazaar/db';
import { eventually, newAccount, startTestApi, type TestApi } from '../../../test/support/api-harness';

type Client = ReturnType<TestApi['client']>;
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (e: { data?: { code?: string; retryAfterSeconds?: number } }) => e.data,
  );

/**
 * chat.* through the real API (two in one process, sharing MySQL and Redis as
 * two api processes do): threads, history pages, read marks and unread counts,
 * onMessage's backlog and resume, a lost publish caught up, and the per-user
 * send limit held across both.
 */
describe('chat procedures', () => {
  const LIMIT = 10;
  let a: TestApi;
  let b: TestApi;

  beforeAll(async () => {
    const env = { CHAT_SEND_LIMIT: String(LIMIT), CHAT_SEND_WINDOW_SECONDS: '60' };
    [a, b] = await Promise.all([startTestApi(env), startTestApi(env)]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  async function thread() {
    const seller = await newAccount(a, 'SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Chat store' });
    const customer = await newAccount(a, 'CUSTOMER');
    const { threadId } = await customer.client.chat.open.mutate({ storeId: store.id });
    return { seller, store, customer, threadId };
  }
  let seq = 0;
  const send = (client: Client, threadId: number, body: string) => client.chat.send.mutate({ threadId, body, clientMessageId: `int-${Date.now()}-${seq++}` });

  function subscribe(client: Client, input: { threadId: number; lastEventId?: string }) {
    const got: ChatMessageView[] = [];
    const sub = client.chat.onMessage.subscribe(input, { onData: ({ data }) => got.push(data) });
    return { got, stop: () => sub.unsubscribe() };
  }

  it('opens one thread per customer and store, however many opens race', async () => {
    const { customer, store, threadId } = await thread();
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).client(customer.token).chat.open.mutate({ storeId: store.id })));
    expect(new Set(ids.map((r) => r.threadId))).toEqual(new Set([threadId]));
    const seller = await newAccount(a, 'SELLER');
    expect(await codeOf(seller.client.chat.open.mutate({ storeId: store.id }))).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('history pages newest first; threads list both sides with unread counts; markRead is monotonic', async () => {
    const { seller, customer, threadId } = await thread();
    const sent: ChatMessageView[] = [];
    for (let i = 0; i < 7; i++) sent.push(await send(i % 2 ? seller.client : customer.client, threadId, `m${i}`));
    const p1 = await customer.client.chat.history.query({ threadId, limit: 3 });
    expect(p1.items.map((m) => m.body)).toEqual(['m6', 'm5', 'm4']);
    const p2 = await seller.client.chat.history.query({ threadId, limit: 3, cursor: p1.nextCursor! });
    expect(p2.items.map((m) => m.body)).toEqual(['m3', 'm2', 'm1']);
    const p3 = await customer.client.chat.history.query({ threadId, limit: 3, cursor: p2.nextCursor! });
    expect({ bodies: p3.items.map((m) => m.body), next: p3.nextCursor }).toEqual({ bodies: ['m0'], next: null });

    // The customer has 3 from the seller unread (m1, m3, m5); the seller 4 from the customer.
    const mine = async (c: Client) => (await c.chat.threads.query({ limit: 10 })).items.find((t) => t.threadId === threadId)!;
    expect(await mine(customer.client)).toMatchObject({ unread: 3, lastMessage: { body: 'm6' } });
    expect(await mine(seller.client)).toMatchObject({ unread: 4, lastMessage: { body: 'm6' } });
    await customer.client.chat.markRead.mutate({ threadId, messageId: sent[3]!.id });
    expect((await mine(customer.client)).unread).toBe(1);
    // An older mark changes nothing; the seller's count is its own.
    await customer.client.chat.markRead.mutate({ threadId, messageId: sent[0]!.id });
    expect((await mine(customer.client)).unread).toBe(1);
    expect((await mine(seller.client)).unread).toBe(4);
    await seller.client.chat.markRead.mutate({ threadId, messageId: sent[6]!.id });
    expect((await mine(seller.client)).unread).toBe(0);
  });

  it("threads pages by last activity: a seller sees every store's threads, newest first", async () => {
    const seller = await newAccount(a, 'SELLER');
    const store = await seller.client.stores.create.mutate({ name: 'Busy store' });
    const threads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await newAccount(a, 'CUSTOMER');
      const { threadId } = await c.client.chat.open.mutate({ storeId: store.id });
      await send(c.client, threadId, `from customer ${i}`);
      threads.push(threadId);
    }
    // The oldest thread speaks again: it moves to the top.
    await send(seller.client, threads[0]!, 'reply');
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await seller.client.chat.threads.query({ limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((t) => t.threadId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([threads[0], threads[4], threads[3], threads[2], threads[1]]);
  });

  it('onMessage: the newest 20 then live ones; with lastEventId, exactly what came after it; a lost publish is caught up', async () => {
    const { seller, customer, threadId } = await thread();
    const sent: ChatMessageView[] = [];
    // The backlog written straight to MySQL (the API's send limit is 10 a minute here).
    const repo = new ChatRepository(a.deps.ds);
    for (let i = 0; i < 25; i++) {
      const r = await repo.send(threadId, customer.user.id, `m${i}`, `backlog-${threadId}-${i}`);
      if (r.kind !== 'sent') throw new Error(r.kind);
      sent.push(r.message);
    }
    const fresh = subscribe(seller.client, { threadId });
    const resumed = subscribe(b.client(customer.token), { threadId, lastEventId: String(sent[9]!.id) });
    await eventually(
      async () => [fresh.got.length, resumed.got.length],
      ([x, y]) => x === 20 && y === 15,
    );
    expect(fresh.got.map((m) => m.body)).toEqual(sent.slice(5).map((m) => m.body));
    expect(resumed.got.map((m) => m.id)).toEqual(sent.slice(10).map((m) => m.id));

    // A message committed without a publish (the api died in between), then one with: both arrive, in order.
    const silent = await repo.send(threadId, seller.user.id, 'never published', `silent-${Date.now()}`);
    expect(silent.kind).toBe('sent');
    const loud = await send(seller.client, threadId, 'published');
    await eventually(
      async () => [fresh.got.length, resumed.got.length],
      ([x, y]) => x === 22 && y === 17,
    );
    for (const s of [fresh, resumed]) {
      expect(s.got.slice(-2).map((m) => m.body)).toEqual(['never published', 'published']);
      expect(s.got[s.got.length - 1]!.id).toBe(loud.id);
      s.stop();
    }
  });

  it('streams over SSE telling the client to reconnect after 20 s of silence (the server pings every 15 s)', async () => {
    const { customer, threadId } = await thread();
    const ac = new AbortController();
    const res = await fetch(`${a.url}/trpc/chat.onMessage?input=${encodeURIComponent(JSON.stringify({ threadId }))}`, {
      headers: { authorization: `Bearer ${customer.token}` },
      signal: ac.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('\n\n')) text += decoder.decode((await reader.read()).value, { stream: true });
    ac.abort();
    expect(text).toMatch(/^event: connected\ndata: \{"reconnectAfterInactivityMs":20000\}/);
  });

  it(`sends at most ${LIMIT} per user per window across both apis: TOO_MANY_REQUESTS with retryAfterSeconds; others unaffected`, async () => {
    const { seller, customer, threadId } = await thread();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        codeOf((i % 2 ? b : a).client(customer.token).chat.send.mutate({ threadId, body: `burst ${i}`, clientMessageId: `burst-${threadId}-${i}` })),
      ),
    );
    const okCount = results.filter((r) => r === 'OK').length;
    const limited = results.filter((r) => r !== 'OK') as { code?: string; retryAfterSeconds?: number }[];
    expect(okCount).toBe(LIMIT);
    expect(limited).toHaveLength(30 - LIMIT);
    for (const r of limited) {
      expect(r.code).toBe('TOO_MANY_REQUESTS');
      expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(r.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
    // Only the sends that got through are stored; the seller's own budget is untouched.
    expect((await customer.client.chat.history.query({ threadId, limit: 100 })).items).toHaveLength(LIMIT);
    expect(await codeOf(send(seller.client, threadId, 'seller still talks'))).toBe('OK');
    const metrics = await a.deps.metrics.registry.getSingleMetricAsString('bazaar_chat_messages_total');
    expect(metrics).toMatch(/outcome="rate_limited"/);
    expect(metrics).toMatch(/outcome="sent"/);
  });
});
