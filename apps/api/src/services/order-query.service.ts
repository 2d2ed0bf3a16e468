import type { OrderLineView, OrderView, Page } from '@bazaar/contracts';
import { OrderStatus } from '@bazaar/contracts';
import type { FulfillmentRepository, OrdersRepository, SettledOrderRow, StorePartRow } from '@bazaar/db';
import { toPartView } from './fulfillment.service';
import type { AcceptedOrderStore, AcceptedRecord } from '@bazaar/queue';
import type { Metrics } from '@bazaar/platform';
import { DEFAULT_REWARD_BPS, cum, priceOrder, type PricedOrder } from '@bazaar/domain';

const NOTHING_REFUNDED = { cash: 0, points: 0, clawback: 0 };
const NOTHING_REFUNDED_ORDER = { ...NOTHING_REFUNDED, cashReturned: 0 };

/**
 * A waiting order, priced exactly as the worker will price it (packages/domain on the terms frozen at accept:
 * lines, coupon, points asked, reward rate).
 */
function fromAccepted(rec: AcceptedRecord): OrderView {
  const o = rec.order;
  const points = o.points ?? 0;
  const priced = priceOrder({ lines: o.lines, coupon: o.coupon ?? null, points, pointBalance: points, rewardBps: o.rewardBps ?? DEFAULT_REWARD_BPS });
  // The accept path refuses an order its pricing refuses; an order accepted before coupons existed is priced plainly.
  const p = priced.ok ? priced : (priceOrder({ lines: o.lines, pointBalance: 0, rewardBps: 0 }) as PricedOrder);
  const items: OrderLineView[] = o.lines.map((l, i) => {
    const line = p.lines[i]!;
    return {
      orderItemId: null,
      productId: l.productId,
      storeId: l.storeId,
      productName: l.name,
      unitPrice: l.unitPrice,
      quantity: l.quantity,
      ...line,
      refundedQuantity: 0,
      refunded: NOTHING_REFUNDED,
    };
  });
  return {
    id: o.orderId,
    status: OrderStatus.PENDING,
    failureReason: null,
    paymentMethod: o.paymentMethod,
    fulfillment: o.fulfillment,
    items,
    itemsTotal: p.itemsTotal,
    discount: p.discount,
    pointsUsed: p.pointsUsed,
    cashPaid: p.cashPaid,
    pointsEarned: p.earned,
    couponId: o.coupon?.couponId ?? null,
    refunded: NOTHING_REFUNDED_ORDER,
    stores: [],
    acceptedAt: o.acceptedAt,
    settledAt: null,
  };
}

function fromSettled(o: SettledOrderRow, parts: StorePartRow[]): OrderView {
  // What a line's refunded units gave back: refunds apply one after another, so the sum of their
  // cumulative-floor shares telescopes to cum(X, refundedQuantity) (money.md §4).
  const lineRefunded = (i: SettledOrderRow['items'][number]) => ({
    cash: cum(i.cash, i.refundedQuantity, i.quantity),
    points: cum(i.points, i.refundedQuantity, i.quantity),
    clawback: cum(i.earned, i.refundedQuantity, i.quantity),
  });
  const refunded = o.items.reduce(
    (t, i) => {
      const r = lineRefunded(i);
      return { ...t, cash: t.cash + r.cash, points: t.points + r.points, clawback: t.clawback + r.clawback };
    },
    { ...NOTHING_REFUNDED_ORDER, cashReturned: o.cashRefunded },
  );
  return {
    id: o.id,
    status: o.status,
    failureReason: o.failureReason,
    paymentMethod: o.paymentMethod,
    fulfillment: o.fulfillment,
    items: o.items.map((i) => ({
      orderItemId: i.id,
      productId: i.productId,
      storeId: i.storeId,
      productName: i.productName,
      unitPrice: i.unitPrice,
      quantity: i.quantity,
      subtotal: i.subtotal,
      discount: i.discount,
      points: i.points,
      cash: i.cash,
      earned: i.earned,
      refundedQuantity: i.refundedQuantity,
      refunded: lineRefunded(i),
    })),
    itemsTotal: o.itemsTotal,
    discount: o.discountTotal,
    pointsUsed: o.pointsUsed,
    cashPaid: o.cashPaid,
    pointsEarned: o.pointsEarned,
    couponId: o.couponId,
    refunded,
    stores: parts.map(toPartView),
    acceptedAt: o.acceptedAt.toISOString(),
    settledAt: o.settledAt ? o.settledAt.toISOString() : null,
  };
}

/**
 * Owner reads of orders: the accepted record while it waits, MySQL (the
 * primary: read-your-writes) once settled. The accepted record is looked up
 * under the caller's own keys, so another customer's order is simply not found.
 */
export class OrderQueryService {
  constructor(
    private readonly store: AcceptedOrderStore,
    private readonly orders: OrdersRepository,
    private readonly metrics: Metrics,
    private readonly parts: FulfillmentRepository,
  ) {}

  /**
   * The accepted record while it waits (a worker updates it right after its
   * MySQL commit); once settled, a cached view (dropped on every status
   * change) or MySQL's primary.
   */
  async get(userId: number, orderId: string): Promise<OrderView | null> {
    const rec = await this.store.get(userId, orderId);
    if (rec && rec.status === OrderStatus.PENDING) return fromAccepted(rec);
    if (rec) {
      const cached = await this.store.cachedView(userId, orderId);
      this.metrics.cacheRequests.inc({ cache: 'order_view', result: cached ? 'hit' : 'miss' });
      if (cached) return JSON.parse(cached) as OrderView;
    }
    const settled = await this.orders.findSettled(orderId);
    if (!settled || settled.userId !== userId) return null;
    const view = fromSettled(settled, await this.parts.partsOfOrder(orderId));
    // Cached only if nothing settled since the record was read (the view is as of that revision).
    if (rec && rec.status === view.status) await this.store.cacheView(userId, orderId, rec, JSON.stringify(view));
    return view;
  }

  /**
   * Newest first across waiting and settled orders; the cursor is the last order id of the page.
   * The waiting ids are read before MySQL: an order settled before that read is in MySQL's page (the worker
   * commits before it drops the order from the index), and one that settles while the page is read (its
   * record no longer PENDING when looked up, its row not in the page) is read from MySQL on its own. Read
   * at once, the two missed an order that settled between them.
   */
  async list(userId: number, cursor: string | undefined, limit: number): Promise<Page<OrderView>> {
    const pendingIds = await this.store.pendingOfUser(userId, 200);
    const settled = await this.orders.listSettled(userId, cursor, limit + 1);
    const parts = await this.parts.partsOfOrders(settled.map((o) => o.id));
    const byId = new Map<string, OrderView>(settled.map((o) => [o.id, fromSettled(o, parts.get(o.id) ?? [])]));
    const waiting = pendingIds.filter((id) => !byId.has(id) && (cursor === undefined || id < cursor));
    const records = await Promise.all(waiting.map((id) => this.store.get(userId, id)));
    for (const rec of records) {
      if (!rec) continue;
      if (rec.status === OrderStatus.PENDING) byId.set(rec.order.orderId, fromAccepted(rec));
      else {
        const o = await this.orders.findSettled(rec.order.orderId);
        if (o && o.userId === userId) byId.set(o.id, fromSettled(o, await this.parts.partsOfOrder(o.id)));
      }
    }
    const all = [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
    const items = all.slice(0, limit);
    return { items, nextCursor: all.length > limit ? (items[items.length - 1]?.id ?? null) : null };
  }
}
