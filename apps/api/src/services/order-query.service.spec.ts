import { OrderStatus } from '@bazaar/contracts';
import type { FulfillmentRepository, OrdersRepository, SettledOrderRow } from '@bazaar/db';
import type { Metrics } from '@bazaar/platform';
import type { AcceptedOrderStore, AcceptedRecord } from '@bazaar/queue';
import { OrderQueryService } from './order-query.service';

const USER = 7;
const ORDER = '01J00000000000000000000001';
const DELIVERY = { type: 'DELIVERY' as const, address: { recipient: 'a', phone: '010-1111-2222', postalCode: '12345', line1: 'x' } };

const record = (status: OrderStatus): AcceptedRecord => ({
  order: {
    orderId: ORDER,
    userId: USER,
    requestId: 'req-1',
    idempotencyKey: 'key-00000001',
    acceptedAt: '2026-12-04T00:00:00.000Z',
    paymentMethod: 'BALANCE',
    fulfillment: DELIVERY,
    lines: [{ productId: 1, storeId: 1, name: 'p', unitPrice: 1_000, quantity: 1 }],
  },
  status,
  reason: null,
  rev: '1',
});

const settledRow: SettledOrderRow = {
  id: ORDER,
  userId: USER,
  status: OrderStatus.PAID,
  failureReason: null,
  paymentMethod: 'BALANCE',
  couponId: null,
  fulfillment: DELIVERY,
  itemsTotal: 1_000,
  discountTotal: 0,
  pointsUsed: 0,
  cashPaid: 1_000,
  pointsEarned: 10,
  cashRefunded: 0,
  acceptedAt: new Date('2026-12-04T00:00:00.000Z'),
  settledAt: new Date('2026-12-04T00:00:01.000Z'),
  items: [],
};

/**
 * The worker settles an order in two steps: the MySQL commit, then the Redis
 * record (status, and out of the customer's pending index). orders.list reads
 * both sides; `when` says where the settle falls among its reads.
 */
function world(when: 'before-index' | 'between-index-and-page' | 'after-page' | 'never') {
  let committed = when === 'before-index';
  let recordSettled = when === 'before-index';
  const calls: string[] = [];
  const store = {
    async pendingOfUser() {
      calls.push('index');
      const ids = recordSettled ? [] : [ORDER];
      if (when === 'between-index-and-page') committed = recordSettled = true;
      return ids;
    },
    async get() {
      calls.push('record');
      return record(recordSettled ? OrderStatus.PAID : OrderStatus.PENDING);
    },
  } as unknown as AcceptedOrderStore;
  const orders = {
    async listSettled() {
      calls.push('page');
      const rows = committed ? [settledRow] : [];
      if (when === 'after-page') committed = recordSettled = true;
      return rows;
    },
    async findSettled() {
      calls.push('row');
      return committed ? settledRow : null;
    },
  } as unknown as OrdersRepository;
  const parts = { partsOfOrders: async () => new Map(), partsOfOrder: async () => [] } as unknown as FulfillmentRepository;
  const metrics = { cacheRequests: { inc: () => undefined } } as unknown as Metrics;
  return { service: new OrderQueryService(store, orders, metrics, parts), calls };
}

describe('OrderQueryService.list', () => {
  it.each(['before-index', 'between-index-and-page', 'after-page', 'never'] as const)(
    'lists an order once, whose settle falls %s of its reads',
    async (when) => {
      const { service } = world(when);
      const page = await service.list(USER, undefined, 20);
      expect(page.items.map((o) => [o.id, o.status])).toEqual([[ORDER, when === 'never' ? OrderStatus.PENDING : OrderStatus.PAID]]);
    },
  );

  it('reads the pending index before the settled page', async () => {
    const { service, calls } = world('never');
    await service.list(USER, undefined, 20);
    expect(calls.slice(0, 2)).toEqual(['index', 'page']);
  });
});
