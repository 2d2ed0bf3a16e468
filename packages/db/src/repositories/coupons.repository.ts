import type { DataSource } from 'typeorm';
import { CouponState, OrderStatus, type CouponKind } from '@bazaar/contracts';
import { execute, isDuplicateKey, isRetryableTxError, onReplica, selectRows, type SqlRunner } from '../data-source';

/** A coupon row. Immutable after create, but for `claimed`. */
export interface CouponRecord {
  id: number;
  storeId: number | null;
  createdBy: number;
  name: string;
  kind: CouponKind;
  value: number;
  maxDiscount: number | null;
  minOrderAmount: number;
  quantity: number;
  claimed: number;
  validFrom: Date;
  validUntil: Date;
  createdAt: Date;
}

/** What coupons.create writes: everything but what MySQL assigns or counts. */
export type NewCoupon = Omit<CouponRecord, 'id' | 'claimed' | 'createdAt'>;

/** One claim as a rebuild of the Redis copy needs it: who holds it, and the order that uses it (with that order's status). */
export interface CouponClaimSnapshot {
  userId: number;
  orderId: string | null;
  /** The using order's status in MySQL; null when order_id is null or the order is not in MySQL (yet). */
  orderStatus: OrderStatus | null;
}

export interface CouponSnapshot {
  coupon: CouponRecord;
  claims: CouponClaimSnapshot[];
}

/** What the claim transaction did. */
export type ClaimOutcome =
  | { outcome: 'claimed'; claimedAt: Date }
  /** This customer has a claim already (nothing changed); its order, if one uses it. */
  | { outcome: 'duplicate'; orderId: string | null; orderStatus: OrderStatus | null }
  | { outcome: 'sold_out' }
  | { outcome: 'not_active' }
  | { outcome: 'not_found' };

export interface CouponListAfter {
  validUntil: Date;
  id: number;
}

export interface MyCouponRow {
  claimId: number;
  coupon: CouponRecord;
  claimedAt: Date;
  orderId: string | null;
  /** From MySQL alone (the service overlays Redis-only reservations). */
  state: CouponState;
}

interface CouponRow {
  id: number | string;
  store_id: number | string | null;
  created_by: number | string;
  name: string;
  kind: CouponKind;
  value: number | string;
  max_discount: number | string | null;
  min_order_amount: number | string;
  quantity: number | string;
  claimed: number | string;
  valid_from: Date;
  valid_until: Date;
  created_at: Date;
}

const COUPON_COLUMNS =
  'c.id, c.store_id, c.created_by, c.name, c.kind, c.value, c.max_discount, c.min_order_amount, c.quantity, c.claimed, c.valid_from, c.valid_until, c.created_at';

function toRecord(r: CouponRow): CouponRecord {
  return {
    id: Number(r.id),
    storeId: r.store_id === null ? null : Number(r.store_id),
    createdBy: Number(r.created_by),
    name: r.name,
    kind: r.kind,
    value: Number(r.value),
    maxDiscount: r.max_discount === null ? null : Number(r.max_discount),
    minOrderAmount: Number(r.min_order_amount),
    quantity: Number(r.quantity),
    claimed: Number(r.claimed),
    validFrom: r.valid_from,
    validUntil: r.valid_until,
    createdAt: r.created_at,
  };
}

const USED_STATUSES: readonly string[] = [OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED];

/** A claim's state from MySQL: its order paid (or refunded) → USED; waiting → RESERVED; else by the window. */
export function claimState(orderId: string | null, orderStatus: OrderStatus | null, validUntil: Date, now: Date): CouponState {
  if (orderId !== null && orderStatus !== null) {
    if (USED_STATUSES.includes(orderStatus)) return CouponState.USED;
    if (orderStatus === OrderStatus.PENDING) return CouponState.RESERVED;
  }
  return validUntil.getTime() <= now.getTime() ? CouponState.EXPIRED : CouponState.AVAILABLE;
}

/** Thrown inside the claim transaction to roll it back (the UPDATE of claimed included) after a duplicate claim. */
class DuplicateClaim extends Error {
  constructor(
    readonly orderId: string | null,
    readonly orderStatus: OrderStatus | null,
  ) {
    super('already claimed');
  }
}

/**
 * First-come coupons. MySQL is the truth: `claimed` only rises in the claim's
 * own transaction, guarded by `claimed < quantity` and the window, and
 * (coupon_id, user_id) is unique — so no coupon is ever issued past its
 * quantity or twice to one customer, whatever Redis believes.
 */
export class CouponsRepository {
  constructor(private readonly ds: DataSource) {}

  /** One INSERT; the record as written (claimed 0). */
  async create(c: NewCoupon): Promise<CouponRecord> {
    const res = await execute(
      this.ds,
      `INSERT INTO coupons (store_id, created_by, name, kind, value, max_discount, min_order_amount, quantity, valid_from, valid_until)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [c.storeId, c.createdBy, c.name, c.kind, c.value, c.maxDiscount, c.minOrderAmount, c.quantity, c.validFrom, c.validUntil],
    );
    const created = await this.find(Number(res.insertId));
    if (!created) throw new Error(`coupon ${res.insertId} vanished after its insert`);
    return created;
  }

  /** Primary read. */
  async find(couponId: number, db: SqlRunner = this.ds): Promise<CouponRecord | null> {
    const rows = await selectRows<CouponRow>(db, `SELECT ${COUPON_COLUMNS} FROM coupons c WHERE c.id = ?`, [couponId]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /**
   * The claim, one transaction on the primary: the guarded UPDATE (one unit, if
   * any is left and `now` is inside the window), then the claim row. Two
   * statements when it is issued; a duplicate rolls both back (one read tells
   * its order); no row updated → one read tells sold out from not active from
   * unknown. Deadlocks and lock-wait timeouts are retried (nothing was changed).
   */
  async claim(couponId: number, userId: number, now: Date): Promise<ClaimOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.claimOnce(couponId, userId, now);
      } catch (err) {
        if (err instanceof DuplicateClaim) return { outcome: 'duplicate', orderId: err.orderId, orderStatus: err.orderStatus };
        if (attempt >= 5 || !isRetryableTxError(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20 * attempt)));
      }
    }
  }

  private async claimOnce(couponId: number, userId: number, now: Date): Promise<ClaimOutcome> {
    const q = this.ds.createQueryRunner('master');
    await q.connect();
    await q.startTransaction();
    try {
      const up = await execute(q, `UPDATE coupons SET claimed = claimed + 1 WHERE id = ? AND claimed < quantity AND ? >= valid_from AND ? < valid_until`, [
        couponId,
        now,
        now,
      ]);
      let result: ClaimOutcome;
      if (up.affectedRows === 0) {
        const rows = await selectRows<{ claimed: number | string; quantity: number | string; valid_from: Date; valid_until: Date }>(
          q,
          'SELECT claimed, quantity, valid_from, valid_until FROM coupons WHERE id = ?',
          [couponId],
        );
        const row = rows[0];
        result = !row
          ? { outcome: 'not_found' }
          : now < row.valid_from || now >= row.valid_until
            ? { outcome: 'not_active' }
            : Number(row.claimed) >= Number(row.quantity)
              ? { outcome: 'sold_out' }
              : { outcome: 'not_active' };
        await q.rollbackTransaction();
        return result;
      }
      try {
        await execute(q, 'INSERT INTO coupon_claims (coupon_id, user_id, claimed_at) VALUES (?, ?, ?)', [couponId, userId, now]);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const rows = await selectRows<{ order_id: string | null; status: OrderStatus | null }>(
          q,
          `SELECT cc.order_id, o.status FROM coupon_claims cc LEFT JOIN orders o ON o.id = cc.order_id WHERE cc.coupon_id = ? AND cc.user_id = ?`,
          [couponId, userId],
        );
        throw new DuplicateClaim(rows[0]?.order_id ?? null, rows[0]?.status ?? null);
      }
      await q.commitTransaction();
      return { outcome: 'claimed', claimedAt: now };
    } catch (err) {
      if (q.isTransactionActive) await q.rollbackTransaction().catch(() => undefined);
      throw err;
    } finally {
      await q.release();
    }
  }

  /**
   * What a rebuild of the Redis copy needs: the coupon and every claim (holder,
   * order, order status), in one consistent read on the primary (two SELECTs in
   * one REPEATABLE READ read-only transaction: the same snapshot). null: no such coupon.
   */
  async snapshot(couponId: number): Promise<CouponSnapshot | null> {
    const q = this.ds.createQueryRunner('master');
    await q.connect();
    try {
      await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await q.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      try {
        const coupon = await this.find(couponId, q);
        const claims = coupon
          ? await selectRows<{ user_id: number | string; order_id: string | null; status: OrderStatus | null }>(
              q,
              `SELECT cc.user_id, cc.order_id, o.status FROM coupon_claims cc LEFT JOIN orders o ON o.id = cc.order_id
               WHERE cc.coupon_id = ? ORDER BY cc.id`,
              [couponId],
            )
          : [];
        return coupon ? { coupon, claims: claims.map((c) => ({ userId: Number(c.user_id), orderId: c.order_id, orderStatus: c.status })) } : null;
      } finally {
        await q.query('COMMIT');
      }
    } finally {
      await q.release();
    }
  }

  /**
   * Coupons whose window has not ended at `now` (upcoming ones too), soonest
   * ending first, ties by id: one keyset page from a replica, on
   * idx_coupons_open (valid_until, id) or, for one store, idx_coupons_store
   * (store_id, valid_until, id). Returns up to limit + 1 rows (the extra one
   * tells that there is a next page).
   */
  async listOpen(filter: { storeId?: number; now: Date; after?: CouponListAfter; limit: number }): Promise<CouponRecord[]> {
    const where = ['c.valid_until > ?'];
    const params: unknown[] = [filter.now];
    if (filter.storeId !== undefined) {
      where.unshift('c.store_id = ?');
      params.unshift(filter.storeId);
    }
    if (filter.after) {
      where.push('(c.valid_until > ? OR (c.valid_until = ? AND c.id > ?))');
      params.push(filter.after.validUntil, filter.after.validUntil, filter.after.id);
    }
    const index = filter.storeId !== undefined ? 'idx_coupons_store' : 'idx_coupons_open';
    const rows = await onReplica(this.ds, (q) =>
      selectRows<CouponRow>(
        q,
        `SELECT ${COUPON_COLUMNS} FROM coupons c FORCE INDEX (${index}) WHERE ${where.join(' AND ')} ORDER BY c.valid_until, c.id LIMIT ?`,
        [...params, filter.limit + 1],
      ),
    );
    return rows.map(toRecord);
  }

  /**
   * The caller's claims, newest first (idx_coupon_claims_mine (user_id, id)),
   * each joined with its coupon (primary key) and the using order's status:
   * one statement on the primary (read-your-writes after a claim). Up to limit + 1 rows.
   */
  async mine(userId: number, opts: { beforeClaimId?: number; limit: number; now: Date }): Promise<MyCouponRow[]> {
    const rows = await selectRows<CouponRow & { claim_id: number | string; claimed_at: Date; order_id: string | null; order_status: OrderStatus | null }>(
      this.ds,
      `SELECT cc.id AS claim_id, cc.claimed_at, cc.order_id, o.status AS order_status, ${COUPON_COLUMNS}
       FROM coupon_claims cc
       JOIN coupons c ON c.id = cc.coupon_id
       LEFT JOIN orders o ON o.id = cc.order_id
       WHERE cc.user_id = ?${opts.beforeClaimId !== undefined ? ' AND cc.id < ?' : ''}
       ORDER BY cc.id DESC LIMIT ?`,
      [userId, ...(opts.beforeClaimId !== undefined ? [opts.beforeClaimId] : []), opts.limit + 1],
    );
    return rows.map((r) => {
      const coupon = toRecord(r);
      return {
        claimId: Number(r.claim_id),
        coupon,
        claimedAt: r.claimed_at,
        orderId: r.order_id,
        state: claimState(r.order_id, r.order_status, coupon.validUntil, opts.now),
      };
    });
  }
}
