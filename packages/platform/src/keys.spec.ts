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
    expect(k.bullPrefix('orders')).toBe('{bz:bull:orders}');
  });

  it('gives each BullMQ queue a slot of its own', () => {
    expect(hashTag(`${k.bullPrefix('orders')}:orders:wait`)).toBe('bz:bull:orders');
    expect(hashTag(k.bullPrefix('orders'))).not.toBe(hashTag(k.bullPrefix('refunds')));
  });

  it('puts the keys each script, MULTI or MGET touches together in one slot', () => {
    const together = [
      [
        k.gateAvailable(1),
        k.gateAvailable(2),
        k.gateReservations(1),
        k.gateReservedProducts,
        k.gateEvent(2),
        k.gateTokensUsed(0),
        k.gateTokensUsedLog(7),
        k.gateReturned('x'),
      ],
      [k.viewsPending, k.viewsBatch, k.viewsBatchData, k.viewsFlushed],
      [k.catalogVersion, k.viewCountsVersion],
      [k.productDetail(5), k.productDetailVersion(5), k.productDetailLock(5)],
      [k.roomMeta(3), k.roomLine(3), k.roomSeen(3), k.roomAdmitted(3), k.roomGrants(3)],
      [k.couponMeta(9), k.couponHolders(9)],
      [k.acceptedOrder(70, 'o'), k.orderView(70, 'o'), k.pendingOrders(orderShardOf(70)), k.userPendingOrders(70), k.orderIdempotency(70, 'i')],
    ];
    for (const keys of together) expect(new Set(keys.map(hashTag)).size).toBe(1);
  });
});
