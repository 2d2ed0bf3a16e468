import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { ChatMessageView } from '@bazaar/contracts';
import { createDataSource, selectRows } from '@bazaar/db';
import { loadConfig, redisKeys } from '@bazaar/platform';
import { SessionService } from '@bazaar/api/hosting';
import { bazaarClient, type BazaarClient } from '../../scripts/lib/client';
import { eventually } from '../support/api-harness';
import { isolatedEnv } from '../support/isolated-env';
import { startProcess, type RunningProcess } from '../support/processes';

const THREADS = 50;
const STORES = 5;
const PER_THREAD = 100; // 50 × 100 = 5,000 messages
const SEND_CONCURRENCY = 48;

interface Account {
  id: number;
  token: string;
}

/** One SSE subscriber: every message it was handed, in arrival order, across reconnects. */
interface Listener {
  threadId: number;
  via: number;
  client: BazaarClient;
  got: ChatMessageView[];
  errors: unknown[];
  unsubscribe(): void;
}

/**
 * Buyer–seller chat through two real api processes: 200 SSE subscribers (the
 * customer and the seller of 50 threads, each on both processes), 5,000
 * messages sent through both; each subscriber gets its thread's messages
 * exactly once and in id order, one of them across a 2 s disconnect resumed
 * with lastEventId; strangers are told the thread does not exist.
 */
describe('chat fan-out across api processes', () => {
  jest.setTimeout(180_000);
  const apis: RunningProcess[] = [];
  let ds: DataSource;
  let redis: Redis;
  let sessions: SessionService;
  let urls: string[];

  beforeAll(async () => {
    const env = await isolatedEnv('chat');
    // The fan-out is under test here, not the send rate limit (chat.int.spec.ts tests that).
    apis.push(...(await Promise.all([0, 1].map(() => startProcess('api', { ...env, LOG_LEVEL: 'warn', CHAT_SEND_LIMIT: '100000' })))));
    urls = apis.map((a) => `http://127.0.0.1:${a.port}`);
    ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_POOL_SIZE: 4, MYSQL_REPLICA_URLS: [] });
    await ds.initialize();
    redis = new Redis(env.REDIS_URL);
    sessions = new SessionService(redis, redisKeys(env.REDIS_PREFIX), 3600);
  });
  afterAll(async () => {
    await Promise.all(apis.map((p) => p.stop()));
    await ds?.destroy();
    redis?.disconnect();
  });

  /** Accounts made fast: rows inserted directly, sessions issued by the API's own session service. */
  async function accounts(n: number, role: 'CUSTOMER' | 'SELLER'): Promise<Account[]> {
    const tag = `${role[0]}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const values = Array.from({ length: n }, (_, i) => [`chat-${tag}-${i}@test.bazaar`, 'not-a-real-hash', 'c', role]);
    await ds.query(`INSERT INTO users (email, password_hash, name, role) VALUES ${values.map(() => '(?, ?, ?, ?)').join(',')}`, values.flat());
    const rows = await selectRows<{ id: number }>(ds, 'SELECT id FROM users WHERE email LIKE ? ORDER BY id', [`chat-${tag}-%`]);
    return Promise.all(rows.map(async (r) => ({ id: Number(r.id), token: (await sessions.issue({ userId: Number(r.id), role })).token })));
  }
  const client = (via: number, token: string) => bazaarClient(urls[via]!, { token, batch: false });

  function listen(threadId: number, via: number, token: string, lastEventId?: string, into?: Listener): Listener {
    const l: Listener = into ?? { threadId, via, client: client(via, token), got: [], errors: [], unsubscribe: () => undefined };
    if (into) Object.assign(into, { via, client: client(via, token) });
    const sub = l.client.chat.onMessage.subscribe(
      { threadId, ...(lastEventId !== undefined ? { lastEventId } : {}) },
      {
        onData: ({ id, data }) => {
          expect(id).toBe(String(data.id));
          l.got.push(data);
        },
        onError: (e) => l.errors.push(e),
      },
    );
    l.unsubscribe = () => sub.unsubscribe();
    return l;
  }

  const threadIds = (threadId: number) =>
    selectRows<{ id: number }>(ds, 'SELECT id FROM chat_messages WHERE thread_id = ? ORDER BY id', [threadId]).then((rows) => rows.map((r) => Number(r.id)));

  it('200 subscribers on 2 processes each get every message of their thread once and in order, across a 2 s disconnect', async () => {
    const sellers = await accounts(STORES, 'SELLER');
    const customers = await accounts(THREADS, 'CUSTOMER');
    const stores = await Promise.all(sellers.map((s, i) => client(i % 2, s.token).stores.create.mutate({ name: `Chat store ${i}` })));
    const threads = await Promise.all(
      customers.map(async (c, i) => {
        const seller = sellers[i % STORES]!;
        const { threadId } = await client(i % 2, c.token).chat.open.mutate({ storeId: stores[i % STORES]!.id });
        // A first message: a subscriber that has it from the backlog is listening (it listens before it reads).
        await client(i % 2, c.token).chat.send.mutate({ threadId, body: 'hello', clientMessageId: `seed-000-${threadId}` });
        return { threadId, customer: c, seller };
      }),
    );
    // Both sides of every thread, on both processes: 200 subscribers.
    const listeners = threads.flatMap((t) => [0, 1].flatMap((via) => [listen(t.threadId, via, t.customer.token), listen(t.threadId, via, t.seller.token)]));
    expect(listeners).toHaveLength(200);
    await eventually(
      async () => listeners.filter((l) => l.got.length >= 1).length,
      (n) => n === listeners.length,
      30_000,
    );

    // 5,000 sends, shuffled across threads, alternating sender and process.
    const sends = threads.flatMap((t) =>
      Array.from({ length: PER_THREAD }, (_, k) => ({ t, k, from: k % 2 === 0 ? t.customer : t.seller, via: (k + t.threadId) % 2 })),
    );
    for (let i = sends.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [sends[i], sends[j]] = [sends[j]!, sends[i]!];
    }
    const senders = new Map<string, BazaarClient>();
    const sender = (via: number, token: string) => {
      const key = `${via}:${token}`;
      let c = senders.get(key);
      if (!c) senders.set(key, (c = client(via, token)));
      return c;
    };

    // One subscriber drops after its 20th message, stays away 2 s, and comes back with the last id it saw.
    const dropper = listeners[0]!;
    const dropperToken = threads[0]!.customer.token;
    let reconnected = false;
    const dropping = (async () => {
      await eventually(
        async () => dropper.got.length,
        (n) => n >= 20,
        60_000,
        5,
      );
      dropper.unsubscribe();
      const lastSeen = dropper.got[dropper.got.length - 1]!.id;
      const gotWhileAway = dropper.got.length;
      await new Promise((r) => setTimeout(r, 2_000));
      expect(dropper.got.length).toBe(gotWhileAway);
      // The thread moved on while it was away: the resume has something to catch up on.
      expect((await threadIds(dropper.threadId)).length).toBeGreaterThan(gotWhileAway);
      listen(dropper.threadId, 1 - dropper.via, dropperToken, String(lastSeen), dropper);
      reconnected = true;
    })();

    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: SEND_CONCURRENCY }, async () => {
        while (next < sends.length) {
          const s = sends[next++]!;
          const sent = await sender(s.via, s.from.token).chat.send.mutate({
            threadId: s.t.threadId,
            body: `message ${s.k} of thread ${s.t.threadId}`,
            clientMessageId: `message-${s.t.threadId}-${s.k}`,
          });
          expect(sent.threadId).toBe(s.t.threadId);
        }
      }),
    );
    const sentMs = Date.now() - started;
    await dropping;
    expect(reconnected).toBe(true);

    const expected = new Map<number, number[]>();
    for (const t of threads) expected.set(t.threadId, await threadIds(t.threadId));
    for (const ids of expected.values()) expect(ids).toHaveLength(PER_THREAD + 1);
    await eventually(
      async () => listeners.filter((l) => l.got.length >= PER_THREAD + 1).length,
      (n) => n === listeners.length,
      60_000,
    );
    // Exactly once and in order: each subscriber's ids are its thread's ids, ascending, no gaps, no repeats.
    for (const l of listeners) {
      expect({ threadId: l.threadId, errors: l.errors }).toEqual({ threadId: l.threadId, errors: [] });
      expect(l.got.map((m) => m.id)).toEqual(expected.get(l.threadId));
      expect(l.got.every((m) => m.threadId === l.threadId)).toBe(true);
    }
    // Nothing more arrives later (no late duplicates).
    await new Promise((r) => setTimeout(r, 500));
    expect(listeners.every((l) => l.got.length === PER_THREAD + 1)).toBe(true);
    for (const l of listeners) l.unsubscribe();
    process.stdout.write(`chat e2e: 5,000 messages sent in ${sentMs} ms to 200 subscribers on 2 processes\n`);

    // A retried send (same clientMessageId) through the other process is the same message, not a new one.
    const t0 = threads[0]!;
    const again = await client(1, t0.customer.token).chat.send.mutate({
      threadId: t0.threadId,
      body: 'message 0 of thread ' + t0.threadId,
      clientMessageId: `message-${t0.threadId}-0`,
    });
    expect(await threadIds(t0.threadId)).toEqual(expected.get(t0.threadId));
    expect(expected.get(t0.threadId)).toContain(again.id);
  });

  it("another customer's or seller's thread → NOT_FOUND, on send, history and onMessage, through either process", async () => {
    const [seller, stranger] = await accounts(2, 'SELLER');
    const [owner, other] = await accounts(2, 'CUSTOMER');
    const store = await client(0, seller!.token).stores.create.mutate({ name: 'Private store' });
    const { threadId } = await client(0, owner!.token).chat.open.mutate({ storeId: store.id });
    await client(1, owner!.token).chat.send.mutate({ threadId, body: 'private', clientMessageId: 'private-0001' });
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'OK',
        (e: { data?: { code?: string } }) => e.data?.code,
      );
    const subscribeCode = (via: number, token: string) =>
      new Promise<string | undefined>((resolve) => {
        const s = client(via, token).chat.onMessage.subscribe(
          { threadId },
          {
            onError: (e) => {
              s.unsubscribe();
              resolve((e as { data?: { code?: string } }).data?.code);
            },
            onData: () => {
              s.unsubscribe();
              resolve('DATA');
            },
          },
        );
      });
    for (const intruder of [other!, stranger!]) {
      for (const via of [0, 1]) {
        expect(await codeOf(client(via, intruder.token).chat.send.mutate({ threadId, body: 'hi', clientMessageId: `intruder-0${via}` }))).toBe('NOT_FOUND');
        expect(await codeOf(client(via, intruder.token).chat.history.query({ threadId }))).toBe('NOT_FOUND');
        expect(await subscribeCode(via, intruder.token)).toBe('NOT_FOUND');
      }
    }
    expect(await subscribeCode(1, seller!.token)).toBe('DATA');
    expect(await codeOf(bazaarClient(urls[0]!, { batch: false }).chat.history.query({ threadId }))).toBe('UNAUTHORIZED');
    expect(await threadIds(threadId)).toHaveLength(1);
  });
});
