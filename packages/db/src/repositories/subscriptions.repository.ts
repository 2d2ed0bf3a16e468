import type { DataSource } from 'typeorm';
import type {
  Page,
  SubscriptionCreateInput,
  SubscriptionCycleOutcome,
  SubscriptionCycleView,
  SubscriptionPauseReason,
  SubscriptionView,
} from '@bazaar/contracts';
import { execute, inTransaction, selectRows } from '../data-source';

interface SubscriptionRow {
  id: number | string;
  user_id: number | string;
  status: SubscriptionView['status'];
  pause_reason: SubscriptionPauseReason | null;
  pause_detail: string | null;
  items: string | SubscriptionView['items'];
  payment_method: SubscriptionView['paymentMethod'];
  billing_key: string | null;
  fulfillment: string | SubscriptionView['fulfillment'];
  every_count: number;
  every_unit: 'WEEK' | 'MONTH';
  start_at: Date;
  next_cycle: number;
  next_due_at: Date;
  attempt: number;
  pending_order_id: string | null;
  created_at: Date;
}

interface CycleRow {
  cycle: number;
  attempt: number;
  due_at: Date;
  order_id: string | null;
  outcome: SubscriptionCycleOutcome;
  reason: string | null;
}

/** A subscription as the scheduler works on it. */
export interface SubscriptionRecord {
  id: number;
  userId: number;
  status: SubscriptionView['status'];
  items: SubscriptionView['items'];
  paymentMethod: SubscriptionView['paymentMethod'];
  billingKey: string | null;
  fulfillment: SubscriptionView['fulfillment'];
  every: SubscriptionView['every'];
  startAt: Date;
  nextCycle: number;
  nextDueAt: Date;
  attempt: number;
  pendingOrderId: string | null;
}

const json = <T>(v: string | T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

const toRecord = (r: SubscriptionRow): SubscriptionRecord => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  status: r.status,
  items: json(r.items),
  paymentMethod: r.payment_method,
  billingKey: r.billing_key,
  fulfillment: json(r.fulfillment),
  every: { count: Number(r.every_count), unit: r.every_unit },
  startAt: r.start_at,
  nextCycle: Number(r.next_cycle),
  nextDueAt: r.next_due_at,
  attempt: Number(r.attempt),
  pendingOrderId: r.pending_order_id,
});

const COLUMNS =
  'id, user_id, status, pause_reason, pause_detail, items, payment_method, billing_key, fulfillment, every_count, every_unit, start_at, next_cycle, next_due_at, attempt, pending_order_id, created_at';

/** Subscriptions and their cycle history. Every read and change of a customer's subscription is scoped by user_id. */
export class SubscriptionsRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * `storeIds` maps each item's product to its store (for pauseHolding by store). A CARD subscription's
   * billing key must be an ACTIVE key of this customer ('UNKNOWN_BILLING_KEY' otherwise, nothing written):
   * its row is locked first, so a cancel releasing the same key waits for this create or is seen by it.
   */
  async create(userId: number, input: SubscriptionCreateInput, storeIds: Map<number, number>, now: Date): Promise<number | 'UNKNOWN_BILLING_KEY'> {
    return inTransaction(this.ds, async (q): Promise<number | 'UNKNOWN_BILLING_KEY'> => {
      if (input.paymentMethod === 'CARD') {
        const [key] = await selectRows<{ id: number }>(
          q,
          `SELECT id FROM billing_keys WHERE billing_key = ? AND user_id = ? AND status = 'ACTIVE' FOR UPDATE`,
          [input.billingKey ?? '', userId],
        );
        if (!key) return 'UNKNOWN_BILLING_KEY';
      }
      const start = new Date(input.startAt);
      const { insertId } = await execute(
        q,
        `INSERT INTO subscriptions (user_id, status, items, payment_method, billing_key, fulfillment, every_count, every_unit, start_at, next_cycle, next_due_at, attempt, created_at, updated_at)
         VALUES (?, 'ACTIVE', ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?)`,
        [
          userId,
          JSON.stringify(input.items),
          input.paymentMethod,
          input.billingKey ?? null,
          JSON.stringify(input.fulfillment),
          input.every.count,
          input.every.unit,
          start,
          start,
          now,
          now,
        ],
      );
      const rows = input.items.map((i) => [insertId, i.productId, storeIds.get(i.productId) ?? 0]);
      await execute(
        q,
        `INSERT INTO subscription_products (subscription_id, product_id, store_id) VALUES ${rows.map(() => '(?, ?, ?)').join(', ')}`,
        rows.flat(),
      );
      return insertId;
    });
  }

  async get(userId: number, subscriptionId: number): Promise<SubscriptionView | null> {
    const [row] = await selectRows<SubscriptionRow>(this.ds, `SELECT ${COLUMNS} FROM subscriptions WHERE id = ? AND user_id = ?`, [subscriptionId, userId]);
    if (!row) return null;
    const cycles = await selectRows<CycleRow>(
      this.ds,
      'SELECT cycle, attempt, due_at, order_id, outcome, reason FROM subscription_cycles WHERE subscription_id = ? ORDER BY cycle, attempt',
      [subscriptionId],
    );
    return this.toView(row, cycles);
  }

  /** The caller's subscriptions, newest first; the cursor is the last id of the page before. */
  async list(userId: number, cursor: number | undefined, limit: number): Promise<Page<SubscriptionView>> {
    const rows = await selectRows<SubscriptionRow>(
      this.ds,
      `SELECT ${COLUMNS} FROM subscriptions WHERE user_id = ? ${cursor === undefined ? '' : 'AND id < ?'} ORDER BY id DESC LIMIT ?`,
      cursor === undefined ? [userId, limit + 1] : [userId, cursor, limit + 1],
    );
    const page = rows.slice(0, limit);
    return { items: page.map((r) => this.toView(r, [])), nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null };
  }

  /** The customer's pause: only an ACTIVE subscription. */
  async pause(userId: number, subscriptionId: number, now: Date): Promise<boolean> {
    const r = await execute(
      this.ds,
      `UPDATE subscriptions SET status = 'PAUSED', pause_reason = 'CUSTOMER', pause_detail = NULL, updated_at = ? WHERE id = ? AND user_id = ? AND status = 'ACTIVE'`,
      [now, subscriptionId, userId],
    );
    return r.affectedRows === 1;
  }

  /** Resume a PAUSED subscription at `nextCycle` (due `nextDueAt`, after now), with a fresh attempt counter. */
  async resume(userId: number, subscriptionId: number, nextCycle: number, nextDueAt: Date, now: Date): Promise<boolean> {
    const r = await execute(
      this.ds,
      `UPDATE subscriptions SET status = 'ACTIVE', pause_reason = NULL, pause_detail = NULL, next_cycle = GREATEST(next_cycle, ?), next_due_at = ?, attempt = 0,
         pending_order_id = NULL, updated_at = ? WHERE id = ? AND user_id = ? AND status = 'PAUSED'`,
      [nextCycle, nextDueAt, now, subscriptionId, userId],
    );
    return r.affectedRows === 1;
  }

  /**
   * Cancel: no future cycle; a cycle already placed stays an order. When it was the last subscription (not
   * cancelled) charging its billing key, the key is marked DELETED in the same transaction and returned as
   * `releasedBillingKey`, for the caller to delete at the gateway. The key's row is locked before the
   * subscription's (the order create locks them in too), so a create naming the key either commits first and
   * keeps it, or finds it DELETED.
   */
  async cancel(userId: number, subscriptionId: number, now: Date): Promise<{ changed: boolean; releasedBillingKey: string | null }> {
    return inTransaction(this.ds, async (q) => {
      const [sub] = await selectRows<{ billing_key: string | null }>(q, 'SELECT billing_key FROM subscriptions WHERE id = ? AND user_id = ?', [
        subscriptionId,
        userId,
      ]);
      if (!sub) return { changed: false, releasedBillingKey: null };
      const key = sub.billing_key;
      if (key !== null) await selectRows(q, 'SELECT id FROM billing_keys WHERE billing_key = ? FOR UPDATE', [key]);
      const r = await execute(
        q,
        `UPDATE subscriptions SET status = 'CANCELLED', pending_order_id = NULL, updated_at = ? WHERE id = ? AND user_id = ? AND status <> 'CANCELLED'`,
        [now, subscriptionId, userId],
      );
      if (r.affectedRows !== 1 || key === null) return { changed: r.affectedRows === 1, releasedBillingKey: null };
      const [left] = await selectRows<{ n: number | string }>(
        q,
        `SELECT COUNT(*) AS n FROM subscriptions WHERE user_id = ? AND billing_key = ? AND status <> 'CANCELLED'`,
        [userId, key],
      );
      if (Number(left?.n ?? 0) > 0) return { changed: true, releasedBillingKey: null };
      const d = await execute(q, `UPDATE billing_keys SET status = 'DELETED', deleted_at = ? WHERE billing_key = ? AND user_id = ? AND status = 'ACTIVE'`, [
        now,
        key,
        userId,
      ]);
      return { changed: true, releasedBillingKey: d.affectedRows === 1 ? key : null };
    });
  }

  /** Pauses every ACTIVE subscription holding one of these products, or any product of this store. Returns how many. */
  async pauseHolding(holding: { productIds: number[] } | { storeId: number }, reason: SubscriptionPauseReason, detail: string, now: Date): Promise<number> {
    const [where, params] =
      'storeId' in holding
        ? ['sp.store_id = ?', [holding.storeId]]
        : holding.productIds.length === 0
          ? [null, []]
          : [`sp.product_id IN (${holding.productIds.map(() => '?').join(', ')})`, holding.productIds];
    if (where === null) return 0;
    const r = await execute(
      this.ds,
      `UPDATE subscriptions s SET s.status = 'PAUSED', s.pause_reason = ?, s.pause_detail = ?, s.updated_at = ?
       WHERE s.status = 'ACTIVE' AND s.id IN (SELECT sp.subscription_id FROM subscription_products sp WHERE ${where})`,
      [reason, detail.slice(0, 300), now, ...params],
    );
    return r.affectedRows;
  }

  /** ACTIVE subscriptions with a cycle due or an order outcome to read, oldest due first. */
  async due(now: Date, limit: number): Promise<SubscriptionRecord[]> {
    const rows = await selectRows<SubscriptionRow>(
      this.ds,
      `SELECT ${COLUMNS} FROM subscriptions WHERE status = 'ACTIVE' AND (next_due_at <= ? OR pending_order_id IS NOT NULL) ORDER BY next_due_at, id LIMIT ?`,
      [now, limit],
    );
    return rows.map(toRecord);
  }

  /** An order's status and failure reason in MySQL (null: the worker has not written it yet). */
  async orderOutcome(orderId: string): Promise<{ status: string; failureReason: string | null } | null> {
    const [r] = await selectRows<{ status: string; failure_reason: string | null }>(this.ds, 'SELECT status, failure_reason FROM orders WHERE id = ?', [
      orderId,
    ]);
    return r ? { status: r.status, failureReason: r.failure_reason } : null;
  }

  /** Records a try of a cycle (idempotent on subscription, cycle, attempt). */
  async recordCycle(
    subscriptionId: number,
    c: { cycle: number; attempt: number; dueAt: Date; orderId: string | null; outcome: SubscriptionCycleOutcome; reason: string | null },
    now: Date,
  ): Promise<void> {
    await execute(
      this.ds,
      `INSERT INTO subscription_cycles (subscription_id, cycle, attempt, due_at, order_id, outcome, reason, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE order_id = COALESCE(VALUES(order_id), order_id), outcome = VALUES(outcome), reason = VALUES(reason), updated_at = VALUES(updated_at)`,
      [subscriptionId, c.cycle, c.attempt, c.dueAt, c.orderId, c.outcome, c.reason === null ? null : c.reason.slice(0, 300), now, now],
    );
  }

  /** Moves the schedule, only while the subscription is still ACTIVE (a pause or cancel in between wins). */
  async advance(
    subscriptionId: number,
    s: { nextCycle: number; nextDueAt: Date; attempt: number; pendingOrderId: string | null },
    now: Date,
  ): Promise<boolean> {
    const r = await execute(
      this.ds,
      `UPDATE subscriptions SET next_cycle = ?, next_due_at = ?, attempt = ?, pending_order_id = ?, updated_at = ? WHERE id = ? AND status = 'ACTIVE'`,
      [s.nextCycle, s.nextDueAt, s.attempt, s.pendingOrderId, now, subscriptionId],
    );
    return r.affectedRows === 1;
  }

  /** The system's pause (dunning exhausted, product gone, pickup refused), with the reason the customer sees. */
  async pauseBySystem(subscriptionId: number, reason: SubscriptionPauseReason, detail: string, now: Date): Promise<void> {
    await execute(
      this.ds,
      `UPDATE subscriptions SET status = 'PAUSED', pause_reason = ?, pause_detail = ?, pending_order_id = NULL, updated_at = ? WHERE id = ? AND status = 'ACTIVE'`,
      [reason, detail.slice(0, 300), now, subscriptionId],
    );
  }

  private toView(r: SubscriptionRow, cycles: CycleRow[]): SubscriptionView {
    const rec = toRecord(r);
    return {
      subscriptionId: rec.id,
      status: rec.status,
      pauseReason: r.pause_reason,
      pauseDetail: r.pause_detail,
      items: rec.items,
      paymentMethod: rec.paymentMethod,
      billingKey: rec.billingKey,
      fulfillment: rec.fulfillment,
      every: rec.every,
      startAt: rec.startAt.toISOString(),
      nextCycle: rec.nextCycle,
      nextDueAt: rec.status === 'CANCELLED' ? null : rec.nextDueAt.toISOString(),
      attempt: rec.attempt,
      createdAt: r.created_at.toISOString(),
      cycles: cycles.map((c): SubscriptionCycleView => ({
        cycle: Number(c.cycle),
        dueAt: c.due_at.toISOString(),
        attempt: Number(c.attempt),
        orderId: c.order_id,
        outcome: c.outcome,
        reason: c.reason,
      })),
    };
  }
}
