import { ORDER_SHARDS, orderShardOf, redisKeys } from './keys';

/** Redis Cluster hashes only what is inside the first {...}: keys one script touches must share it. */
const hashTag = (key: string) => /\{([^}]+)\}/.exec(key)?.[1] ?? key;

describe('redis keys', () => {
  const k = redisKeys('bz');

  it('puts a customer’s idempotency record, accepted orders and pending indexes in one slot', () => {
    for (const userId of [1, 2, 63, 64, 12345]) {
      const tags = new Set([
        hashTag(k.orderIdempotency(userId, 'key-12345678')),
        hashTag(k.acceptedOrder(userId, '01ARZ3NDEKTSV4RRFFQ69G5FAV')),
        hashTag(k.pendingOrders(orderShardOf(userId))),
        hashTag(k.userPendingOrders(userId)),
      ]);
      expect(tags.size).toBe(1);
    }
  });

  it('spreads customers over all shards', () => {
    const shards = new Set(Array.from({ length: 1000 }, (_, i) => orderShardOf(i + 1)));
    expect(shards.size).toBe(ORDER_SHARDS);
  });

  it('keeps every key under the prefix', () => {
    expect(k.session('x').startsWith('bz:')).toBe(true);
    expect(k.pendingOrders(3)).toBe('{bz:os3}:pending');
    expect(k.bullPrefix).toBe('bz:bull');
  });
});
