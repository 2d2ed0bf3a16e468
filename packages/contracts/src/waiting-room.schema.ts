import { z } from 'zod';
import { id } from './common';

/** Waiting-room bounds (issue 12). */
export const WAITING_ROOM_LIMITS = {
  maxProducts: 50,
  maxAdmitPerSecond: 10_000,
  maxActive: 1_000_000,
  minTokenTtlSeconds: 30,
  maxTokenTtlSeconds: 3_600,
  defaultTokenTtlSeconds: 300,
  /** An event lasts at most this long (closesAt − opensAt). */
  maxDurationSeconds: 30 * 86_400,
  /** Without closesAt an event closes this long after it opens. */
  defaultDurationSeconds: 86_400,
  /** An admission token as the API hands it out (it is opaque to clients). */
  maxTokenLength: 200,
} as const;

const isoDateTime = z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time with an offset, e.g. 2026-01-31T09:00:00+09:00' });

/**
 * waitingRoom.createEvent, by the products' seller (every product from one of the caller's stores) or an admin.
 * From opensAt until closesAt an order for one of the products needs an admission token from this event's line.
 * maxActive: at most this many admitted-and-unused tokens at once (default: admitPerSecond × tokenTtlSeconds,
 * i.e. no limit beyond the rate).
 */
export const waitingRoomCreateInput = z
  .strictObject({
    productIds: z.array(id).min(1).max(WAITING_ROOM_LIMITS.maxProducts),
    opensAt: isoDateTime,
    closesAt: isoDateTime.optional(),
    admitPerSecond: z.number().int().min(1).max(WAITING_ROOM_LIMITS.maxAdmitPerSecond),
    maxActive: z.number().int().min(1).max(WAITING_ROOM_LIMITS.maxActive).optional(),
    tokenTtlSeconds: z.number().int().min(WAITING_ROOM_LIMITS.minTokenTtlSeconds).max(WAITING_ROOM_LIMITS.maxTokenTtlSeconds).optional(),
  })
  .superRefine((v, ctx) => {
    if (new Set(v.productIds).size !== v.productIds.length) {
      ctx.addIssue({ code: 'custom', path: ['productIds'], message: 'each product once' });
    }
    const opens = Date.parse(v.opensAt);
    const closes = v.closesAt === undefined ? opens + WAITING_ROOM_LIMITS.defaultDurationSeconds * 1000 : Date.parse(v.closesAt);
    if (closes <= opens) ctx.addIssue({ code: 'custom', path: ['closesAt'], message: 'must be after opensAt' });
    else if (closes - opens > WAITING_ROOM_LIMITS.maxDurationSeconds * 1000) {
      ctx.addIssue({ code: 'custom', path: ['closesAt'], message: `at most ${WAITING_ROOM_LIMITS.maxDurationSeconds / 86_400} days after opensAt` });
    } else if (closes <= Date.now())
      ctx.addIssue({ code: 'custom', path: [v.closesAt === undefined ? 'opensAt' : 'closesAt'], message: 'the event would be over already' });
  });
export type WaitingRoomCreateInput = z.infer<typeof waitingRoomCreateInput>;

export const waitingRoomEventInput = z.strictObject({ eventId: id });
export type WaitingRoomEventInput = z.infer<typeof waitingRoomEventInput>;

export const admissionToken = z.string().min(1).max(WAITING_ROOM_LIMITS.maxTokenLength);

/** The line's state as the caller sees it (waitingRoom.enter and waitingRoom.status). */
export type WaitingRoomStatus =
  /**
   * In line: position 1 is next; etaSeconds is the wait at the admission rate (counting the time until opensAt);
   * pollAfterSeconds is when to ask again (a fifth of the wait, 2 s to a third of WAITING_ROOM_ABANDON_SECONDS) (rarely far back, often near the front; polling sooner gains nothing).
   */
  | { state: 'WAITING'; position: number; etaSeconds: number; pollAfterSeconds: number }
  /** Admitted: pass admissionToken to orders.place before expiresAt; one order per token. */
  | { state: 'ADMITTED'; admissionToken: string; expiresAt: string; position: 0 }
  /** The event's products are sold out: the room admits nobody (it resumes if units come back). */
  | { state: 'SOLD_OUT' }
  /** Not in line: never entered, left it by not polling, or the token was used or expired. enter puts you at the end. */
  | { state: 'NOT_IN_LINE' }
  /** The event has closed (closesAt passed): its products sell without a token. */
  | { state: 'CLOSED' };

export interface WaitingRoomEventView {
  id: number;
  productIds: number[];
  opensAt: string;
  closesAt: string;
  admitPerSecond: number;
  maxActive: number;
  tokenTtlSeconds: number;
  /** OPEN (admitting or about to), SOLD_OUT, CLOSED. */
  state: 'SCHEDULED' | 'OPEN' | 'SOLD_OUT' | 'CLOSED';
  waiting: number;
  admitted: number;
}
