import fc from 'fast-check';
import { FULFILLMENT_STATUSES, FulfillmentStatus, FulfillmentType } from '@bazaar/contracts';
import { FULFILLMENT_TRANSITIONS, canFulfill, fulfillmentStatusesOf, hasLeftPreparing, nextFulfillmentStatuses } from './fulfillment-state';

describe('fulfillment transitions', () => {
  it('delivery goes PREPARING → SHIPPED → DELIVERED, one step at a time', () => {
    expect(canFulfill(FulfillmentType.DELIVERY, FulfillmentStatus.PREPARING, FulfillmentStatus.SHIPPED)).toBe(true);
    expect(canFulfill(FulfillmentType.DELIVERY, FulfillmentStatus.SHIPPED, FulfillmentStatus.DELIVERED)).toBe(true);
    expect(canFulfill(FulfillmentType.DELIVERY, FulfillmentStatus.PREPARING, FulfillmentStatus.DELIVERED)).toBe(false);
    expect(canFulfill(FulfillmentType.DELIVERY, FulfillmentStatus.DELIVERED, FulfillmentStatus.SHIPPED)).toBe(false);
    expect(canFulfill(FulfillmentType.DELIVERY, FulfillmentStatus.PREPARING, FulfillmentStatus.READY_FOR_PICKUP)).toBe(false);
  });

  it('pickup goes PREPARING → READY_FOR_PICKUP → PICKED_UP, one step at a time', () => {
    expect(canFulfill(FulfillmentType.PICKUP, FulfillmentStatus.PREPARING, FulfillmentStatus.READY_FOR_PICKUP)).toBe(true);
    expect(canFulfill(FulfillmentType.PICKUP, FulfillmentStatus.READY_FOR_PICKUP, FulfillmentStatus.PICKED_UP)).toBe(true);
    expect(canFulfill(FulfillmentType.PICKUP, FulfillmentStatus.PREPARING, FulfillmentStatus.PICKED_UP)).toBe(false);
    expect(canFulfill(FulfillmentType.PICKUP, FulfillmentStatus.PREPARING, FulfillmentStatus.SHIPPED)).toBe(false);
  });

  it('every walk through the table is the type’s statuses in order, ending in a terminal one', () => {
    for (const type of [FulfillmentType.DELIVERY, FulfillmentType.PICKUP]) {
      const walk: FulfillmentStatus[] = [FulfillmentStatus.PREPARING];
      for (let next = nextFulfillmentStatuses(type, FulfillmentStatus.PREPARING); next.length > 0; next = nextFulfillmentStatuses(type, walk.at(-1)!)) {
        expect(next).toHaveLength(1);
        walk.push(next[0]!);
      }
      expect(walk).toEqual(fulfillmentStatusesOf(type));
    }
  });

  it('no move goes back, repeats, or crosses types (any pair of statuses)', () => {
    const status = fc.constantFrom(...FULFILLMENT_STATUSES);
    const type = fc.constantFrom(FulfillmentType.DELIVERY, FulfillmentType.PICKUP);
    fc.assert(
      fc.property(type, status, status, (t, from, to) => {
        const order = fulfillmentStatusesOf(t);
        const ok = canFulfill(t, from, to);
        expect(ok).toBe(order.includes(from) && order.indexOf(to) === order.indexOf(from) + 1);
      }),
    );
    expect(Object.isFrozen(FULFILLMENT_TRANSITIONS)).toBe(true);
  });

  it('only PREPARING still lets the whole order be cancelled', () => {
    expect(FULFILLMENT_STATUSES.filter((s) => !hasLeftPreparing(s))).toEqual([FulfillmentStatus.PREPARING]);
  });
});
