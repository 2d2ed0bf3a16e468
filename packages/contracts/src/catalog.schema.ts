import { z } from 'zod';
import { LIMITS, id } from './common';
import type { ProductStatus, StoreStatus } from './enums';

export const storeCreateInput = z.strictObject({ name: z.string().trim().min(1).max(100) });
export const storeGetInput = z.strictObject({ storeId: id });

export const productCreateInput = z.strictObject({
  storeId: id,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).default(''),
  price: z.number().int().min(0).max(LIMITS.maxPrice),
  stock: z.number().int().min(0).max(LIMITS.maxStock),
});
export type ProductCreateInput = z.infer<typeof productCreateInput>;

export const productGetInput = z.strictObject({ productId: id });

export const productUpdateInput = z
  .strictObject({
    productId: id,
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(5000).optional(),
    price: z.number().int().min(0).max(LIMITS.maxPrice).optional(),
  })
  .refine((v) => v.name !== undefined || v.description !== undefined || v.price !== undefined, {
    path: ['name'],
    error: 'give at least one of name, description, price',
  });
export type ProductUpdateInput = z.infer<typeof productUpdateInput>;

export const productRemoveInput = z.strictObject({ productId: id });

export const productRestockInput = z.strictObject({
  productId: id,
  quantity: z.number().int().min(1).max(LIMITS.maxStock),
});

export interface StoreView {
  id: number;
  sellerId: number;
  name: string;
  createdAt: string;
  /** OPEN, or CLOSED (nothing on sale, subscriptions paused). */
  status: StoreStatus;
  /** Weekly hours in the store's time zone (pickups must fall inside them). */
  openingHours: Partial<Record<'MON' | 'TUE' | 'WED' | 'THU' | 'FRI' | 'SAT' | 'SUN', { open: string; close: string }[]>>;
  timeZone: string;
  pickupLeadMinutes: number;
}

/** A product as clients see it. The live figures (stock, viewCount) come last. */
export interface ProductView {
  id: number;
  storeId: number;
  name: string;
  description: string;
  price: number;
  status: ProductStatus;
  createdAt: string;
  updatedAt: string;
  /** Units still available to order. */
  stock: number;
  /** Views counted so far (flushed to MySQL or not yet). */
  viewCount: number;
}
