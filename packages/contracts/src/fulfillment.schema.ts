import { z } from 'zod';
import { id, listInput, ulid } from './common';
import { FULFILLMENT_STATUSES, type FulfillmentStatus, type FulfillmentType, type OrderStatus, type StoreStatus } from './enums';
import type { Fulfillment } from './orders.schema';

const clock = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'a time HH:MM');
const interval = z.strictObject({ open: clock, close: clock });
const day = z.array(interval).max(4);
/** A store's weekly hours in its own time zone: for each weekday, intervals of local time; a weekday left out is closed. */
export const weeklyHoursInput = z.strictObject({
  MON: day.optional(),
  TUE: day.optional(),
  WED: day.optional(),
  THU: day.optional(),
  FRI: day.optional(),
  SAT: day.optional(),
  SUN: day.optional(),
});
export type WeeklyHoursInput = z.infer<typeof weeklyHoursInput>;

export const storeUpdateInput = z
  .strictObject({
    storeId: id,
    name: z.string().trim().min(1).max(100).optional(),
    openingHours: weeklyHoursInput.optional(),
    /** An IANA time zone name, e.g. Asia/Seoul. */
    timeZone: z.string().min(1).max(64).optional(),
    /** How long the store needs to prepare a pickup order (0 to 7 days). */
    pickupLeadMinutes: z.number().int().min(0).max(7 * 24 * 60).optional(),
  })
  .refine((v) => Object.keys(v).length > 1, { path: ['storeId'], error: 'give at least one of name, openingHours, timeZone, pickupLeadMinutes' });
export type StoreUpdateInput = z.infer<typeof storeUpdateInput>;

export const storeCloseInput = z.strictObject({ storeId: id });

export const storeOrdersInput = z.strictObject({ storeId: id, status: z.enum(FULFILLMENT_STATUSES).optional(), ...listInput });
export type StoreOrdersInput = z.infer<typeof storeOrdersInput>;

export const storePickupsInput = z.strictObject({
  storeId: id,
  /** A local calendar date in the store's time zone (YYYY-MM-DD); today there when absent. */
  date: z.iso.date().optional(),
});

export const fulfillmentUpdateInput = z.strictObject({
  orderId: ulid,
  storeId: id,
  status: z.enum(FULFILLMENT_STATUSES),
  trackingNumber: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9-]{4,64}$/, '4 to 64 characters of A-Z a-z 0-9 -')
    .optional(),
});
export type FulfillmentUpdateInput = z.infer<typeof fulfillmentUpdateInput>;

/** One store's part of an order: where its fulfillment stands. */
export interface StorePartView {
  storeId: number;
  fulfillmentType: FulfillmentType;
  status: FulfillmentStatus;
  trackingNumber: string | null;
  pickupAt: string | null;
  updatedAt: string;
  /** What the store may move it to next (empty when done). */
  next: FulfillmentStatus[];
}

/** A line of the store's part, with what refunds have taken from it. */
export interface InboxLineView {
  orderItemId: number;
  productId: number;
  productName: string;
  unitPrice: number;
  quantity: number;
  subtotal: number;
  discount: number;
  points: number;
  cash: number;
  refundedQuantity: number;
  refundPendingQuantity: number;
}

/** An order as its store's seller sees it in the inbox: only that store's part. */
export interface InboxOrderView {
  orderId: string;
  orderStatus: OrderStatus;
  customerId: number;
  acceptedAt: string;
  /** The customer's delivery address or pickup time. */
  fulfillment: Fulfillment;
  part: StorePartView;
  lines: InboxLineView[];
  /** The store's lines' totals: what was paid for them, and what refunds gave back so far (units). */
  totals: { subtotal: number; discount: number; points: number; cash: number; units: number; refundedUnits: number };
}

export interface StoreSettingsView {
  status: StoreStatus;
  openingHours: WeeklyHoursInput;
  timeZone: string;
  pickupLeadMinutes: number;
}
