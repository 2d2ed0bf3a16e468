import { z } from 'zod';

/** Upper bounds keep every sum far inside Number.MAX_SAFE_INTEGER. */
export const LIMITS = {
  maxPrice: 100_000_000, // 1억 won per unit
  maxStock: 1_000_000,
  maxQuantityPerLine: 99,
  maxLinesPerOrder: 50,
  maxWalletCharge: 10_000_000,
  maxWalletBalance: 1_000_000_000_000,
} as const;

export const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const ulid = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an id returned by the API');
export const won = z.number().int().min(0);
export const idempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, '8 to 64 characters of A-Z a-z 0-9 _ -');

export const listInput = {
  cursor: z.string().min(1).max(200).optional(),
  limit: z.number().int().min(1).max(100).default(20),
};

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
