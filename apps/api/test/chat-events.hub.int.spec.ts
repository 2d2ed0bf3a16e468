import { createRedis } from '@bazaar/platform';
import { ChatEventsHub, type ChatEvent } from '../src/services/chat-events.hub';
import { eventually, startTestApi, type TestApi } from '../../../test/support/api-harness';

/** ChatEventsHub on real Redis: sharded pub/sub per thread, subscribed while it has local listeners. */
describe('chat events hub', () => {
  let api: TestApi;
  let hub: ChatEventsHub;

  beforeAll(async () => {
    api = await startTestApi();
    hub = new ChatEventsHub(createRedis(api.deps.config.REDIS_URL, 'worker'), api.deps.redis, api.deps.keys);
  });

  afterAll(async () => {
    await hub?.close();
    await api?.close();
  });

  const event = (threadId: number, id: number) => ({
    message: { id, threadId, senderId: 1, body: `m${id}`, clientMessageId: `client-${id}`, createdAt: new Date().toISOString() },
    previousId: id - 1,
  });

  it('delivers a thread’s events, in order, only to its listeners, from the moment listen resolves; unsubscribes when the last leaves', async () => {
    const ac = new AbortController();
    const a = await hub.listen(900_001, ac.signal);
    const b = await hub.listen(900_002, undefined);
    for (let i = 1; i <= 5; i++) await hub.publish(event(900_001, i));
    await hub.publish(event(900_002, 7));
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push(((await a.next()).value as ChatEvent).message.id);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(((await b.next()).value as ChatEvent).message.id).toBe(7);
    ac.abort();
    expect((await a.next()).done).toBe(true);
    await b.return?.();
    const channels = await eventually(
      () => api.deps.redis.call('PUBSUB', 'SHARDCHANNELS', `*chat:90000*`) as Promise<string[]>,
      (c) => c.length === 0,
      5_000,
    );
    expect(channels).toEqual([]);
  });
});
