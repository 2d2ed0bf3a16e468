import { ORDER_STATUSES, OrderStatus } from '@bazaar/contracts';
import { ORDER_TRANSITIONS, OrderTransitionError, assertTransition, canTransition, isTerminalStatus } from './order-state';

const allowed: ReadonlyArray<[OrderStatus, OrderStatus]> = [
  [OrderStatus.PENDING, OrderStatus.PAID],
  [OrderStatus.PENDING, OrderStatus.FAILED],
  [OrderStatus.PENDING, OrderStatus.CANCELLED],
  [OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED],
  [OrderStatus.PAID, OrderStatus.REFUNDED],
  [OrderStatus.PAID, OrderStatus.CANCELLED],
  [OrderStatus.PARTIALLY_REFUNDED, OrderStatus.PARTIALLY_REFUNDED],
  [OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED],
];

describe('order state machine', () => {
  it('has a row for every status', () => {
    expect(Object.keys(ORDER_TRANSITIONS).sort()).toEqual([...ORDER_STATUSES].sort());
  });

  it('allows exactly the transitions of the table', () => {
    for (const from of ORDER_STATUSES) {
      for (const to of ORDER_STATUSES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect([from, to, canTransition(from, to)]).toEqual([from, to, expected]);
        if (expected) expect(() => assertTransition(from, to)).not.toThrow();
        else expect(() => assertTransition(from, to)).toThrow(OrderTransitionError);
      }
    }
  });

  it('throws a typed error naming both statuses', () => {
    let thrown: unknown;
    try {
      assertTransition(OrderStatus.REFUNDED, OrderStatus.PAID);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ name: 'OrderTransitionError', from: OrderStatus.REFUNDED, to: OrderStatus.PAID });
    expect(canTransition('BOGUS' as OrderStatus, OrderStatus.PAID)).toBe(false);
  });

  it('marks FAILED, REFUNDED and CANCELLED as terminal', () => {
    expect(ORDER_STATUSES.filter(isTerminalStatus).sort()).toEqual([OrderStatus.CANCELLED, OrderStatus.FAILED, OrderStatus.REFUNDED].sort());
  });

  it('cannot be changed at runtime', () => {
    expect(Object.isFrozen(ORDER_TRANSITIONS)).toBe(true);
    expect(Object.isFrozen(ORDER_TRANSITIONS.PENDING)).toBe(true);
  });
});
