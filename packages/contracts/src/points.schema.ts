import { z } from 'zod';
import { id, listInput } from './common';
import type { PointMovementKind } from './enums';

/** One admin grant at most: far inside the safe integer range, like every money amount. */
export const MAX_POINTS_GRANT = 100_000_000;

export const pointsHistoryInput = z.strictObject({ ...listInput }).default({ limit: 20 });

export const pointsGrantInput = z.strictObject({
  userId: id,
  amount: z.number().int().min(1).max(MAX_POINTS_GRANT),
  /** Any future instant (ISO 8601 with an offset). */
  expiresAt: z.iso.datetime({ offset: true }).refine((v) => Date.parse(v) > Date.now(), 'must be in the future'),
  reason: z.string().trim().min(1).max(200),
});
export type PointsGrantInput = z.infer<typeof pointsGrantInput>;

/** One movement of the points ledger: a signed change of one lot's remaining. */
export interface PointMovementView {
  id: number;
  kind: PointMovementKind;
  /** Signed: earn, restore, re-issue and grant add; spend, clawback and expire take away. */
  amount: number;
  lotId: number;
  /** What caused it: the order id (earn, spend), the operation (restore, re-issue, clawback), the grant, or `expiry`. */
  ref: string;
  /** A grant's reason, as the admin gave it. */
  reason: string | null;
  createdAt: string;
}
