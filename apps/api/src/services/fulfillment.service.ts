import { TRPCError } from '@trpc/server';
import {
  FulfillmentRefusal,
  OrderStatus,
  Role,
  StoreStatus,
  type FulfillmentUpdateInput,
  type InboxOrderView,
  type Page,
  type StoreOrdersInput,
  type StorePartView,
  type StoreView,
} from '@bazaar/contracts';
import type { CatalogRepository, FulfillmentRepository, InboxRow, StoreEntity, StorePartRow } from '@bazaar/db';
import {
  DEFAULT_OPENING_HOURS,
  canFulfill,
  hoursProblems,
  isTimeZone,
  localDayRange,
  localTime,
  needsTrackingNumber,
  nextFulfillmentStatuses,
  type WeeklyHours,
} from '@bazaar/domain';
import type { Logger } from '@bazaar/platform';
import type { OrderOutcomePublisher } from '@bazaar/queue';
import { FieldError, badField, preconditionFailed } from '../errors';
import type { StoreProfileCache } from './store-profile.cache';

export interface Caller {
  userId: number;
  role: Role;
}

export const toStoreView = (s: StoreEntity): StoreView => ({
  id: s.id,
  sellerId: s.sellerId,
  name: s.name,
  createdAt: s.createdAt.toISOString(),
  status: s.status,
  openingHours: s.openingHours ?? DEFAULT_OPENING_HOURS,
  timeZone: s.timeZone,
  pickupLeadMinutes: s.pickupLeadMinutes,
});

export const toPartView = (p: StorePartRow): StorePartView => ({
  storeId: p.storeId,
  fulfillmentType: p.fulfillmentType,
  status: p.status,
  trackingNumber: p.trackingNumber,
  pickupAt: p.pickupAt ? p.pickupAt.toISOString() : null,
  updatedAt: p.updatedAt.toISOString(),
  next: [...nextFulfillmentStatuses(p.fulfillmentType, p.status)],
});

function toInboxView(r: InboxRow): InboxOrderView {
  const sum = (f: (l: InboxRow['lines'][number]) => number) => r.lines.reduce((n, l) => n + f(l), 0);
  return {
    orderId: r.orderId,
    orderStatus: r.orderStatus,
    customerId: r.userId,
    acceptedAt: r.acceptedAt.toISOString(),
    fulfillment: r.fulfillment,
    part: toPartView(r),
    lines: r.lines,
    totals: {
      subtotal: sum((l) => l.subtotal),
      discount: sum((l) => l.discount),
      points: sum((l) => l.points),
      cash: sum((l) => l.cash),
      units: sum((l) => l.quantity),
      refundedUnits: sum((l) => l.refundedQuantity),
    },
  };
}

const FULFILLABLE: ReadonlySet<OrderStatus> = new Set([OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED]);

/**
 * After checkout, the store's side: its settings (hours, zone, pickup lead
 * time, closing), its inbox (each order's part that belongs to it), today's
 * pickups, and moving its part of an order through the fulfillment table of
 * packages/domain. A move commits in MySQL first; then the customer's cached
 * order view is dropped (its revision moves) and orders.onStatus hears of it.
 */
export class FulfillmentService {
  constructor(
    private readonly catalog: CatalogRepository,
    private readonly parts: FulfillmentRepository,
    private readonly profiles: StoreProfileCache,
    /** The customer's cached view goes (its revision moves, so no stale copy is cached again) and onStatus re-reads. */
    private readonly outcomes: OrderOutcomePublisher,
    /** Pauses subscriptions that hold a closed store's products (subscriptions service), when present. */
    private readonly onStoreClosed?: (storeId: number) => Promise<unknown>,
  ) {}

  /** The store, if the caller is its seller (or an admin): NOT_FOUND for no store, FORBIDDEN for another's. */
  async ownStore(caller: Caller, storeId: number): Promise<StoreEntity> {
    const store = await this.catalog.findStore(storeId);
    if (!store) throw new TRPCError({ code: 'NOT_FOUND', message: `no store ${storeId}` });
    if (store.sellerId !== caller.userId && caller.role !== Role.ADMIN) throw new TRPCError({ code: 'FORBIDDEN', message: 'not your store' });
    return store;
  }

  async updateStore(
    caller: Caller,
    input: { storeId: number; name?: string; openingHours?: WeeklyHours; timeZone?: string; pickupLeadMinutes?: number },
  ): Promise<StoreView> {
    const problems = input.openingHours ? hoursProblems(input.openingHours) : [];
    if (input.timeZone !== undefined && !isTimeZone(input.timeZone)) problems.push([['timeZone'], 'an IANA time zone name, e.g. Asia/Seoul']);
    if (problems.length > 0) {
      const issues = problems.map(([path, message]) => ({ path: path[0] === 'timeZone' ? 'timeZone' : ['openingHours', ...path].join('.'), message }));
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `Invalid input: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        cause: new FieldError(issues),
      });
    }
    const store = await this.ownStore(caller, input.storeId);
    if (store.status === StoreStatus.CLOSED) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'the store is closed' });
    const { storeId: _id, ...change } = input;
    const updated = (await this.catalog.updateStore(store.id, change))!;
    await this.refreshProfile(updated);
    return toStoreView(updated);
  }

  /** Closes the store: its products leave sale at once (every api process within 2 s), its subscriptions pause. */
  async closeStore(caller: Caller, storeId: number, log: Logger): Promise<StoreView> {
    const store = await this.ownStore(caller, storeId);
    const closedNow = await this.catalog.closeStore(store.id);
    const closed = (await this.catalog.findStore(store.id))!;
    await this.refreshProfile(closed);
    if (closedNow) log.info({ storeId }, 'store closed');
    await this.onStoreClosed?.(store.id);
    return toStoreView(closed);
  }

  async inbox(caller: Caller, input: StoreOrdersInput): Promise<Page<InboxOrderView>> {
    if (input.cursor !== undefined && !/^[0-9A-Z]{26}$/.test(input.cursor)) throw badField(['cursor'], 'not a cursor this API returned');
    const store = await this.ownStore(caller, input.storeId);
    const rows = await this.parts.inbox(store.id, input.status, input.cursor, input.limit + 1);
    const items = rows.slice(0, input.limit).map(toInboxView);
    return { items, nextCursor: rows.length > input.limit ? (items.at(-1)?.orderId ?? null) : null };
  }

  /** The store's pickups of one local day (today in the store's zone by default), in pickup time order. */
  async pickups(caller: Caller, input: { storeId: number; date?: string }, now = new Date()) {
    const store = await this.ownStore(caller, input.storeId);
    const date = input.date ?? localTime(now, store.timeZone).date;
    const { from, to } = localDayRange(date, store.timeZone);
    const rows = await this.parts.pickups(store.id, from, to, 500);
    return { date, timeZone: store.timeZone, items: rows.map(toInboxView) };
  }

  async update(caller: Caller, input: FulfillmentUpdateInput, log: Logger): Promise<StorePartView> {
    const store = await this.ownStore(caller, input.storeId);
    if (needsTrackingNumber(input.status) && input.trackingNumber === undefined) throw badField(['trackingNumber'], 'shipping needs a tracking number');
    if (!needsTrackingNumber(input.status) && input.trackingNumber !== undefined) throw badField(['trackingNumber'], 'only for SHIPPED');
    const result = await this.parts.move<'NOT_FOUND' | TRPCError>(input.orderId, store.id, (found) => {
      if (!found) return { refused: 'NOT_FOUND' };
      const { part } = found;
      if (!canFulfill(part.fulfillmentType, part.status, input.status)) {
        const next = nextFulfillmentStatuses(part.fulfillmentType, part.status);
        return {
          refused: preconditionFailed(
            FulfillmentRefusal.TRANSITION_NOT_ALLOWED,
            `a ${part.fulfillmentType} part in ${part.status} can move to ${next.length > 0 ? next.join(' or ') : 'nothing (it is done)'}, not ${input.status}`,
          ),
        };
      }
      if (!FULFILLABLE.has(found.orderStatus) || found.unitsLeft === 0) {
        return {
          refused: preconditionFailed(
            FulfillmentRefusal.NOTHING_TO_FULFILL,
            FULFILLABLE.has(found.orderStatus) ? "every unit of this store's lines is refunded or being refunded" : `the order is ${found.orderStatus}`,
          ),
        };
      }
      return { to: input.status, trackingNumber: input.trackingNumber ?? null, actorId: caller.userId };
    });
    if ('refused' in result) {
      if (result.refused === 'NOT_FOUND') throw new TRPCError({ code: 'NOT_FOUND', message: `store ${store.id} has no part of order ${input.orderId}` });
      throw result.refused;
    }
    const part = result.moved;
    log.info({ orderId: input.orderId, storeId: store.id, status: part.status }, 'fulfillment moved');
    await this.outcomes.changed(part.userId, input.orderId).catch((err: unknown) => log.warn({ err, orderId: input.orderId }, 'order event not published'));
    return toPartView(part);
  }

  private async refreshProfile(s: StoreEntity): Promise<void> {
    await this.profiles.put({ id: s.id, status: s.status, openingHours: s.openingHours, timeZone: s.timeZone, pickupLeadMinutes: s.pickupLeadMinutes });
  }
}
