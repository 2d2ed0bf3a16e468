import type { DataSource, QueryRunner } from 'typeorm';
import { PointLotSource, PointMovementKind, type Page } from '@bazaar/contracts';
import { planGiveBack, type LotAmount, type PointLot } from '@bazaar/domain';
import { execute, inRetryingTransaction, selectRows } from '../data-source';
import { valuesList, type Statement } from './sql-batch';

/** One row of the points ledger, as points.history shows it. */
export interface PointMovementRow {
  id: number;
  lotId: number;
  kind: PointMovementKind;
  amount: number;
  ref: string;
  actorId: number | null;
  reason: string | null;
  createdAt: Date;
}

export interface PointLotRow {
  id: number;
  userId: number;
  source: PointLotSource;
  ref: string;
  amount: number;
  remaining: number;
  expiresAt: Date;
  createdAt: Date;
}

/** What a give-back did: points back to live lots, and the part re-issued as a new lot (0 when none). */
export interface GiveBackResult {
  restored: number;
  reissued: number;
  reissueLotId: number | null;
}

type Raw = Record<string, unknown>;
const num = (v: unknown) => Number(v);

const toLot = (r: Raw): PointLotRow => ({
  id: num(r.id),
  userId: num(r.user_id),
  source: r.source as PointLotSource,
  ref: String(r.ref),
  amount: num(r.amount),
  remaining: num(r.remaining),
  expiresAt: r.expires_at as Date,
  createdAt: r.created_at as Date,
});

const toMovement = (r: Raw): PointMovementRow => ({
  id: num(r.id),
  lotId: num(r.lot_id),
  kind: r.kind as PointMovementKind,
  amount: num(r.amount),
  ref: String(r.ref),
  actorId: r.actor_id === null || r.actor_id === undefined ? null : num(r.actor_id),
  reason: (r.reason ?? null) as string | null,
  createdAt: r.created_at as Date,
});

/** A new lot and the movement that explains its remaining, in two statements (the movement reads the lot by its unique key). */
function newLotStatements(lot: {
  userId: number;
  source: PointLotSource;
  ref: string;
  amount: number;
  expiresAt: Date;
  now: Date;
  movement: PointMovementKind;
  actorId?: number | null;
  reason?: string | null;
}): Statement[] {
  return [
    {
      sql: `INSERT INTO point_lots (user_id, source, ref, amount, remaining, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      params: [lot.userId, lot.source, lot.ref, lot.amount, lot.amount, lot.expiresAt, lot.now],
    },
    {
      sql: `INSERT INTO point_movements (user_id, lot_id, kind, amount, ref, actor_id, reason, created_at)
        SELECT user_id, id, ?, amount, ref, ?, ?, created_at FROM point_lots WHERE user_id = ? AND source = ? AND ref = ?`,
      params: [lot.movement, lot.actorId ?? null, lot.reason ?? null, lot.userId, lot.source, lot.ref],
    },
  ];
}

/**
 * The points ledger (money.md §3): lots, spends with their spend↔lot rows,
 * and one movement row for every change of a lot's remaining. The order
 * transaction takes its statements from here; everything else runs here.
 */
export class PointsRepository {
  constructor(private readonly ds: DataSource) {}

  // ---- statements for the order transaction ----

  /** The customer's live lots with something left, soonest expiry first, locked for this transaction. */
  static liveLotsForUpdate(userId: number, now: Date): Statement {
    return {
      sql: `SELECT id, remaining, expires_at FROM point_lots
        WHERE user_id = ? AND remaining > 0 AND expires_at > ? ORDER BY expires_at, id FOR UPDATE`,
      params: [userId, now],
    };
  }

  static toPointLots(rows: Raw[]): PointLot[] {
    return rows.map((r) => ({ id: num(r.id), remaining: num(r.remaining), expiresAt: r.expires_at as Date }));
  }

  /**
   * A spend of the planned lots: the spend row, one conditional decrement per
   * lot (never below 0, never an expired lot: each must change exactly one
   * row), the mapping rows and the SPEND movements. 3 + lots statements.
   */
  static spendStatements(userId: number, orderId: string, plan: readonly LotAmount[], now: Date): Statement[] {
    const total = plan.reduce((s, p) => s + p.amount, 0);
    return [
      { sql: `INSERT INTO point_spends (order_id, user_id, amount, created_at) VALUES (?, ?, ?, ?)`, params: [orderId, userId, total, now] },
      ...plan.map((p) => ({
        sql: `UPDATE point_lots SET remaining = remaining - ? WHERE id = ? AND user_id = ? AND remaining >= ? AND expires_at > ?`,
        params: [p.amount, p.lotId, userId, p.amount, now],
      })),
      {
        sql: `INSERT INTO point_spend_lots (order_id, seq, lot_id, amount) VALUES ${valuesList(plan.length, 4)}`,
        params: plan.flatMap((p, i) => [orderId, i, p.lotId, p.amount]),
      },
      {
        sql: `INSERT INTO point_movements (user_id, lot_id, kind, amount, ref, created_at) VALUES ${valuesList(plan.length, 6)}`,
        params: plan.flatMap((p) => [userId, p.lotId, PointMovementKind.SPEND, -p.amount, orderId, now]),
      },
    ];
  }

  /** Index, within spendStatements' results, of each lot's conditional decrement. */
  static spendDecrements(plan: readonly LotAmount[]): { from: number; to: number } {
    return { from: 1, to: 1 + plan.length };
  }

  /** The order's reward lot (ORDER_REWARD, ref = order id, unique) and its EARN movement: 2 statements. */
  static rewardLotStatements(userId: number, orderId: string, earned: number, expiresAt: Date, now: Date): Statement[] {
    return newLotStatements({ userId, source: PointLotSource.ORDER_REWARD, ref: orderId, amount: earned, expiresAt, now, movement: PointMovementKind.EARN });
  }

  // ---- give-backs inside a caller's transaction ----

  /**
   * Gives back `amount` points of the order's spend (money.md §4): the
   * mapping rows are undone from the last consumed lot backwards; points
   * whose lot is still live raise its remaining (RESTORE), the part whose lot
   * has expired is issued as one new lot valid until `reissueExpiresAt`
   * (REISSUE). `ref` names the operation (a refund id, a cancel): each
   * movement is unique per (lot, kind, ref), so a give-back applies once.
   */
  async giveBackSpend(
    q: QueryRunner,
    g: { userId: number; orderId: string; amount: number; ref: string; now: Date; reissueExpiresAt: Date },
  ): Promise<GiveBackResult> {
    if (g.amount === 0) return { restored: 0, reissued: 0, reissueLotId: null };
    const rows = await selectRows<Raw>(
      q,
      `SELECT m.seq, m.lot_id, m.amount - m.returned AS outstanding, l.expires_at
       FROM point_spend_lots m JOIN point_lots l ON l.id = m.lot_id
       WHERE m.order_id = ? ORDER BY m.seq FOR UPDATE`,
      [g.orderId],
    );
    const plan = planGiveBack(
      rows.map((r) => ({ lotId: num(r.lot_id), amount: num(r.outstanding), expiresAt: r.expires_at as Date })),
      g.amount,
      g.now,
    );
    for (const u of plan.undone) {
      const undone = await execute(q, `UPDATE point_spend_lots SET returned = returned + ? WHERE order_id = ? AND lot_id = ? AND returned + ? <= amount`, [
        u.amount,
        g.orderId,
        u.lotId,
        u.amount,
      ]);
      // The rows are locked above, so this always holds; if it ever did not, no lot may be credited for it.
      if (undone.affectedRows !== 1) throw new Error(`order ${g.orderId}: lot ${u.lotId} has fewer than ${u.amount} points of the spend left to give back`);
    }
    for (const b of plan.toLots) {
      await execute(q, `UPDATE point_lots SET remaining = remaining + ? WHERE id = ?`, [b.amount, b.lotId]);
      await execute(q, `INSERT INTO point_movements (user_id, lot_id, kind, amount, ref, created_at) VALUES (?, ?, ?, ?, ?, ?)`, [
        g.userId,
        b.lotId,
        PointMovementKind.RESTORE,
        b.amount,
        g.ref,
        g.now,
      ]);
    }
    let reissueLotId: number | null = null;
    if (plan.reissue > 0) {
      const [lot, movement] = newLotStatements({
        userId: g.userId,
        source: PointLotSource.REFUND_REISSUE,
        ref: g.ref,
        amount: plan.reissue,
        expiresAt: g.reissueExpiresAt,
        now: g.now,
        movement: PointMovementKind.REISSUE,
      });
      reissueLotId = (await execute(q, lot!.sql, lot!.params)).insertId;
      await execute(q, movement!.sql, movement!.params);
    }
    return { restored: plan.toLots.reduce((s, b) => s + b.amount, 0), reissued: plan.reissue, reissueLotId };
  }

  /**
   * Claws back up to `amount` points of the order's reward lot (CLAWBACK):
   * what the customer has already spent of it cannot be taken; that
   * shortfall is returned for the caller to deduct from the cash it gives back.
   */
  async clawbackReward(q: QueryRunner, c: { userId: number; orderId: string; amount: number; ref: string; now: Date }): Promise<{ taken: number; shortfall: number }> {
    if (c.amount === 0) return { taken: 0, shortfall: 0 };
    const [lot] = await selectRows<Raw>(q, `SELECT id, remaining FROM point_lots WHERE user_id = ? AND source = ? AND ref = ? FOR UPDATE`, [
      c.userId,
      PointLotSource.ORDER_REWARD,
      c.orderId,
    ]);
    const taken = lot ? Math.min(num(lot.remaining), c.amount) : 0;
    if (lot && taken > 0) {
      await execute(q, `UPDATE point_lots SET remaining = remaining - ? WHERE id = ? AND remaining >= ?`, [taken, num(lot.id), taken]);
      await execute(q, `INSERT INTO point_movements (user_id, lot_id, kind, amount, ref, created_at) VALUES (?, ?, ?, ?, ?, ?)`, [
        c.userId,
        num(lot.id),
        PointMovementKind.CLAWBACK,
        -taken,
        c.ref,
        c.now,
      ]);
    }
    return { taken, shortfall: c.amount - taken };
  }

  /**
   * The order's reward lot as a refund's clawback sees it, locked: what it
   * still holds (expired or not) and how many of its points expiry took
   * (the EXPIRE movement written by the scheduler; 0 until then).
   */
  async rewardLotForClawback(q: QueryRunner, userId: number, orderId: string): Promise<{ remaining: number; expired: number }> {
    const [lot] = await selectRows<Raw>(q, `SELECT id, remaining FROM point_lots WHERE user_id = ? AND source = ? AND ref = ? FOR UPDATE`, [
      userId,
      PointLotSource.ORDER_REWARD,
      orderId,
    ]);
    if (!lot) return { remaining: 0, expired: 0 };
    const [moved] = await selectRows<Raw>(q, `SELECT COALESCE(-SUM(amount), 0) AS n FROM point_movements WHERE lot_id = ? AND kind = ?`, [
      num(lot.id),
      PointMovementKind.EXPIRE,
    ]);
    return { remaining: num(lot.remaining), expired: num(moved?.n ?? 0) };
  }

  // ---- reads and admin grants ----

  /** The live balance: remaining over lots not expired at `now` (an expired lot never counts, whether or not its expiry was written). Primary. */
  async balance(userId: number, now: Date): Promise<number> {
    const [row] = await selectRows<Raw>(this.ds, `SELECT COALESCE(SUM(remaining), 0) AS balance FROM point_lots WHERE user_id = ? AND expires_at > ?`, [
      userId,
      now,
    ]);
    return num(row?.balance ?? 0);
  }

  /** Every movement, newest first; the cursor is the last movement id of the page. Primary (a customer sees their own order's points at once). */
  async history(userId: number, beforeId: number | undefined, limit: number): Promise<Page<PointMovementRow>> {
    const rows = await selectRows<Raw>(
      this.ds,
      `SELECT id, lot_id, kind, amount, ref, actor_id, reason, created_at FROM point_movements
       WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
      [userId, beforeId ?? Number.MAX_SAFE_INTEGER, limit + 1],
    );
    const items = rows.slice(0, limit).map(toMovement);
    return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]?.id) : null };
  }

  /** An admin's grant: a GRANT lot and its movement naming the admin. `grantId` makes a retry of the same grant a no-op. */
  async grant(g: { grantId: string; adminId: number; userId: number; amount: number; expiresAt: Date; reason: string; now: Date }): Promise<number> {
    return inRetryingTransaction(this.ds, async (q) => {
      const [lot, movement] = newLotStatements({
        userId: g.userId,
        source: PointLotSource.GRANT,
        ref: g.grantId,
        amount: g.amount,
        expiresAt: g.expiresAt,
        now: g.now,
        movement: PointMovementKind.GRANT,
        actorId: g.adminId,
        reason: g.reason,
      });
      const { insertId } = await execute(q, lot!.sql, lot!.params);
      await execute(q, movement!.sql, movement!.params);
      return insertId;
    });
  }

  async lotsOf(userId: number): Promise<PointLotRow[]> {
    const rows = await selectRows<Raw>(this.ds, `SELECT * FROM point_lots WHERE user_id = ? ORDER BY id`, [userId]);
    return rows.map(toLot);
  }

  // ---- expiry (scheduler) ----

  /**
   * Writes the expiry of up to `limit` lots that expired by `now` with points
   * left: an EXPIRE movement of −remaining and remaining 0, in one
   * transaction. Lots another transaction holds are skipped this round.
   * The movement is unique per lot ((lot, EXPIRE, 'expiry')), so two runners
   * can never expire a lot twice. Returns the lots and points expired.
   */
  async expireDue(now: Date, limit: number): Promise<{ lots: number; points: number }> {
    return inRetryingTransaction(this.ds, async (q) => {
      const rows = await selectRows<Raw>(
        q,
        `SELECT id, user_id, remaining FROM point_lots WHERE expires_at <= ? AND remaining > 0 ORDER BY expires_at, id LIMIT ? FOR UPDATE SKIP LOCKED`,
        [now, limit],
      );
      if (rows.length === 0) return { lots: 0, points: 0 };
      await execute(
        q,
        `INSERT INTO point_movements (user_id, lot_id, kind, amount, ref, created_at) VALUES ${valuesList(rows.length, 6)}`,
        rows.flatMap((r) => [num(r.user_id), num(r.id), PointMovementKind.EXPIRE, -num(r.remaining), 'expiry', now]),
      );
      await execute(q, `UPDATE point_lots SET remaining = 0 WHERE id IN (${rows.map(() => '?').join(', ')})`, rows.map((r) => num(r.id)));
      return { lots: rows.length, points: rows.reduce((s, r) => s + num(r.remaining), 0) };
    });
  }
}
