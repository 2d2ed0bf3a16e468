import { OrderStatus } from '@bazaar/contracts';

/**
 * The order state machine as data: for each status, the statuses it may move
 * to. FAILED, REFUNDED and CANCELLED are terminal.
 */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = Object.freeze({
  [OrderStatus.PENDING]: Object.freeze([OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.CANCELLED]),
  [OrderStatus.PAID]: Object.freeze([OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED, OrderStatus.CANCELLED]),
  [OrderStatus.PARTIALLY_REFUNDED]: Object.freeze([OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED]),
  [OrderStatus.FAILED]: Object.freeze([]),
  [OrderStatus.REFUNDED]: Object.freeze([]),
  [OrderStatus.CANCELLED]: Object.freeze([]),
});

/** Thrown by {@link assertTransition} for a move the table does not allow. */
export class OrderTransitionError extends Error {
  override readonly name = 'OrderTransitionError';
  constructor(
    readonly from: OrderStatus,
    readonly to: OrderStatus,
  ) {
    super(`order cannot go from ${from} to ${to}`);
  }
}

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return ORDER_TRANSITIONS[from]?.includes(to) ?? false;
}

/** @throws OrderTransitionError unless `from → to` is in {@link ORDER_TRANSITIONS}. */
export function assertTransition(from: OrderStatus, to: OrderStatus): void {
  if (!canTransition(from, to)) throw new OrderTransitionError(from, to);
}

/** True for statuses with no way out (FAILED, REFUNDED, CANCELLED). */
export function isTerminalStatus(status: OrderStatus): boolean {
  return (ORDER_TRANSITIONS[status]?.length ?? 0) === 0;
}
