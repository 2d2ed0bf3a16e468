import { FulfillmentStatus, FulfillmentType } from '@bazaar/contracts';

/**
 * Each store's part of an order moves through its own fulfillment states, as
 * data: per fulfillment type, the statuses each status may move to (one step
 * forward only). DELIVERED and PICKED_UP are terminal.
 */
export const FULFILLMENT_TRANSITIONS: Readonly<Record<FulfillmentType, Readonly<Partial<Record<FulfillmentStatus, readonly FulfillmentStatus[]>>>>> =
  Object.freeze({
    [FulfillmentType.DELIVERY]: Object.freeze({
      [FulfillmentStatus.PREPARING]: Object.freeze([FulfillmentStatus.SHIPPED]),
      [FulfillmentStatus.SHIPPED]: Object.freeze([FulfillmentStatus.DELIVERED]),
      [FulfillmentStatus.DELIVERED]: Object.freeze([]),
    }),
    [FulfillmentType.PICKUP]: Object.freeze({
      [FulfillmentStatus.PREPARING]: Object.freeze([FulfillmentStatus.READY_FOR_PICKUP]),
      [FulfillmentStatus.READY_FOR_PICKUP]: Object.freeze([FulfillmentStatus.PICKED_UP]),
      [FulfillmentStatus.PICKED_UP]: Object.freeze([]),
    }),
  });

/** The status every part starts in when its order is paid. */
export const INITIAL_FULFILLMENT_STATUS = FulfillmentStatus.PREPARING;

export function canFulfill(type: FulfillmentType, from: FulfillmentStatus, to: FulfillmentStatus): boolean {
  return FULFILLMENT_TRANSITIONS[type][from]?.includes(to) ?? false;
}

/** The statuses a part of this type may move to next (empty when it is done). */
export function nextFulfillmentStatuses(type: FulfillmentType, from: FulfillmentStatus): readonly FulfillmentStatus[] {
  return FULFILLMENT_TRANSITIONS[type][from] ?? [];
}

/** The statuses a part of this type can be in, first to last. */
export function fulfillmentStatusesOf(type: FulfillmentType): FulfillmentStatus[] {
  return Object.keys(FULFILLMENT_TRANSITIONS[type]) as FulfillmentStatus[];
}

/** A part that has left the store (shipped, or ready at the counter and beyond): the order can no longer be cancelled whole. */
export function hasLeftPreparing(status: FulfillmentStatus): boolean {
  return status !== FulfillmentStatus.PREPARING;
}

/** Moves that need a tracking number: shipping a delivery. */
export function needsTrackingNumber(to: FulfillmentStatus): boolean {
  return to === FulfillmentStatus.SHIPPED;
}
