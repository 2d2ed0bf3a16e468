import { z } from 'zod';
import { LIMITS, idempotencyKey, listInput } from './common';
import type { WalletEntryKind } from './enums';

export const walletChargeInput = z.strictObject({
  amount: z.number().int().min(1).max(LIMITS.maxWalletCharge),
  idempotencyKey,
});
export type WalletChargeInput = z.infer<typeof walletChargeInput>;

export const walletHistoryInput = z.strictObject({ ...listInput }).default({ limit: 20 });

export interface WalletEntryView {
  id: number;
  kind: WalletEntryKind;
  amount: number;
  balanceAfter: number;
  ref: string;
  createdAt: string;
}
