import { z } from 'zod';
import { LIMITS, id } from './common';

const quantity = z.number().int().min(1).max(LIMITS.maxQuantityPerLine);

/** Adds to the line's quantity (a new line when the product is not in the cart yet); the line never exceeds LIMITS.maxQuantityPerLine. */
export const cartAddInput = z.strictObject({ productId: id, quantity });
export type CartAddInput = z.infer<typeof cartAddInput>;

/** Sets the quantity of a line already in the cart. */
export const cartSetQuantityInput = z.strictObject({ productId: id, quantity });
export type CartSetQuantityInput = z.infer<typeof cartSetQuantityInput>;

export const cartRemoveInput = z.strictObject({ productId: id });
export type CartRemoveInput = z.infer<typeof cartRemoveInput>;

/** One cart line, priced and stocked as the product is now (not as it was when added). */
export interface CartLineView {
  productId: number;
  name: string;
  storeId: number;
  /** The product's current price, in won. */
  unitPrice: number;
  /** The product's current stock. */
  stock: number;
  quantity: number;
  /** unitPrice × quantity. */
  subtotal: number;
  /** The product is on sale (not deleted) and its stock covers the quantity. */
  available: boolean;
  addedAt: string;
}

export interface CartView {
  /** Oldest line first. */
  items: CartLineView[];
  /** Sum of the subtotals of the available lines: what the cart would cost now. */
  total: number;
}
