import { TRPCError } from '@trpc/server';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import {
  ClaimRefusal,
  CouponState,
  OrderStatus,
  Role,
  id,
  type CouponClaimResult,
  type CouponCreateInput,
  type CouponListInput,
  type CouponMineInput,
  type CouponView,
  type MyCouponView,
  type Page,
} from '@bazaar/contracts';
import { CouponsRepository, type CatalogRepository, type CouponClaimSnapshot, type CouponRecord } from '@bazaar/db';
import type { CouponTerms } from '@bazaar/domain';
import type { Logger, Metrics, RedisKeys } from '@bazaar/platform';
import { CouponStore, holderState, parseHolderState, type CouponStoreRecord } from '@bazaar/queue';
import { badField, preconditionFailed } from '../errors';
import type { Session } from './session.service';

/** A coupon's terms for pricing (packages/domain) with its window and id. Immutable after create. */
export type CouponTermsWithWindow = CouponTerms & { id: number; validFrom: Date; validUntil: Date };

export type ReserveForOrderAnswer = 'ok' | 'UNAVAILABLE' | 'NOT_ACTIVE';

/** How often one call rebuilds a coupon's lost Redis copy before it gives up (each rebuild is one MySQL snapshot). */
const MAX_REBUILDS = 5;

/** The last instant a MySQL DATETIME holds (9999-12-31T23:59:59.999Z): a cursor past it is not one this API returned. */
const LAST_DATETIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const listCursor = z.strictObject({ u: z.number().int().min(0).max(LAST_DATETIME_MS), i: id });
const mineCursor = z.strictObject({ c: id });

function encodeCursor(v: unknown): string {
  return Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
}

function decodeCursor<T>(schema: z.ZodType<T>, cursor: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badField(['cursor'], 'not a cursor this API returned');
  }
  const p = schema.safeParse(parsed);
  if (!p.success) throw badField(['cursor'], 'not a cursor this API returned');
  return p.data;
}

const USED: readonly string[] = [OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED];

/** The holder state a MySQL claim stands for in Redis: used by a paid order, held by a waiting one, else available. */
export function holderStateOfClaim(c: Pick<CouponClaimSnapshot, 'orderId' | 'orderStatus'>): string {
  if (c.orderId === null || c.orderStatus === null) return holderState.available;
  if (USED.includes(c.orderStatus)) return holderState.used(c.orderId);
  if (c.orderStatus === OrderStatus.PENDING) return holderState.reserved(c.orderId);
  return holderState.available;
}

function toStoreRecord(c: CouponRecord): CouponStoreRecord {
  return {
    id: c.id,
    quantity: c.quantity,
    claimed: c.claimed,
    validFromMs: c.validFrom.getTime(),
    validUntilMs: c.validUntil.getTime(),
    terms: { kind: c.kind, value: c.value, maxDiscount: c.maxDiscount, minOrderAmount: c.minOrderAmount, storeId: c.storeId },
  };
}

export function toCouponView(c: CouponRecord): CouponView {
  return {
    id: c.id,
    storeId: c.storeId,
    name: c.name,
    kind: c.kind,
    value: c.value,
    maxDiscount: c.maxDiscount,
    minOrderAmount: c.minOrderAmount,
    quantity: c.quantity,
    remaining: Math.max(0, c.quantity - c.claimed),
    validFrom: c.validFrom.toISOString(),
    validUntil: c.validUntil.toISOString(),
    createdAt: c.createdAt.toISOString(),
  };
}

const REFUSALS = {
  SOLD_OUT: { reason: ClaimRefusal.COUPON_SOLD_OUT, outcome: 'sold_out', message: 'this coupon is sold out' },
  ALREADY: { reason: ClaimRefusal.COUPON_ALREADY_CLAIMED, outcome: 'duplicate', message: 'you have claimed this coupon already' },
  NOT_ACTIVE: { reason: ClaimRefusal.COUPON_NOT_ACTIVE, outcome: 'not_active', message: 'this coupon cannot be claimed now (outside its validity window)' },
} as const;

/**
 * First-come limited coupons. A claim asks Redis first (one script: window,
 * one per customer, a unit left), so a storm on a sold-out coupon never reaches
 * MySQL; a yes from Redis then goes through MySQL's claim transaction, and the
 * customer hears yes only after it commits. MySQL is the truth: its guarded
 * UPDATE and unique (coupon, user) make over-issuing impossible, whatever Redis
 * lost or believes. A lost Redis copy is rebuilt from one MySQL snapshot (once
 * per process at a time) and the call retried.
 */
export class CouponService {
  private readonly termsCache = new LRUCache<number, CouponTermsWithWindow>({ max: 10_000 });
  private readonly rebuilding = new Map<number, Promise<CouponRecord | null>>();

  constructor(
    private readonly coupons: CouponsRepository,
    private readonly catalog: Pick<CatalogRepository, 'findStore'>,
    private readonly store: CouponStore,
    private readonly metrics: Metrics,
  ) {}

  /**
   * A store coupon by that store's seller only (another seller's store → FORBIDDEN, unknown → NOT_FOUND);
   * a platform coupon (no storeId) by an admin only. Customers cannot create coupons.
   */
  async create(user: Session, input: CouponCreateInput, log: Logger): Promise<CouponView> {
    if (input.storeId === undefined) {
      if (user.role !== Role.ADMIN) throw new TRPCError({ code: 'FORBIDDEN', message: 'only an admin creates platform coupons (without storeId)' });
    } else {
      if (user.role !== Role.SELLER) throw new TRPCError({ code: 'FORBIDDEN', message: 'a store coupon is created by the store’s seller' });
      const shop = await this.catalog.findStore(input.storeId);
      if (!shop) throw new TRPCError({ code: 'NOT_FOUND', message: `no store ${input.storeId}` });
      if (shop.sellerId !== user.userId) throw new TRPCError({ code: 'FORBIDDEN', message: `store ${input.storeId} is not yours` });
    }
    const coupon = await this.coupons.create({
      storeId: input.storeId ?? null,
      createdBy: user.userId,
      name: input.name,
      kind: input.kind,
      value: input.value,
      maxDiscount: input.maxDiscount ?? null,
      minOrderAmount: input.minOrderAmount,
      quantity: input.quantity,
      validFrom: new Date(input.validFrom),
      validUntil: new Date(input.validUntil),
    });
    // The coupon exists once MySQL has it: a copy Redis did not take is rebuilt by the first claim.
    await this.store
      .init(toStoreRecord(coupon))
      .catch((err: unknown) => log.warn({ err, couponId: coupon.id }, 'coupon copy not written to Redis; first claim rebuilds it'));
    log.info({ couponId: coupon.id, storeId: coupon.storeId, quantity: coupon.quantity }, 'coupon created');
    return toCouponView(coupon);
  }

  /**
   * Claims one unit for the customer: Redis script, then MySQL's transaction;
   * yes only after the commit. Refusals: PRECONDITION_FAILED with data.reason
   * (COUPON_SOLD_OUT, COUPON_ALREADY_CLAIMED, COUPON_NOT_ACTIVE); unknown coupon: NOT_FOUND.
   */
  async claim(userId: number, couponId: number, log: Logger): Promise<CouponClaimResult> {
    const nowMs = Date.now();
    for (let rebuilds = 0; ;) {
      const answer = await this.store.claim(couponId, userId, nowMs);
      if (answer === 'ok') break;
      if (answer !== 'missing') throw this.refuse(answer);
      if (++rebuilds > MAX_REBUILDS) throw new Error(`coupon ${couponId}: its Redis copy went missing ${rebuilds} times during one claim`);
      const coupon = await this.rebuildOnce(couponId);
      if (!coupon) throw new TRPCError({ code: 'NOT_FOUND', message: `no coupon ${couponId}` });
      // An ended coupon's keys expire as they are written: MySQL's window is the answer.
      if (nowMs >= coupon.validUntil.getTime()) throw this.refuse('NOT_ACTIVE');
    }

    // Redis took a unit for this customer. MySQL decides.
    let result;
    try {
      result = await this.coupons.claim(couponId, userId, new Date(nowMs));
    } catch (err) {
      await this.store.giveBack(couponId, userId).catch((e: unknown) => log.error({ err: e, couponId }, 'coupon unit not given back to Redis'));
      throw err;
    }
    switch (result.outcome) {
      case 'claimed': {
        // Committed: the answer is yes whatever follows. Make sure Redis records the holder (a rebuild may have missed it).
        try {
          const terms = await this.terms(couponId);
          if (terms) await this.store.confirm(couponId, userId, terms.validUntil.getTime());
        } catch (err) {
          log.error({ err, couponId }, 'claimed coupon not confirmed in Redis');
        }
        this.metrics.couponClaims.inc({ outcome: 'issued' });
        return { couponId, claimedAt: result.claimedAt.toISOString() };
      }
      case 'duplicate':
        await this.store.duplicate(couponId, userId, holderStateOfClaim(result));
        throw this.refuse('ALREADY');
      case 'sold_out':
        await this.store.soldOut(couponId, userId);
        throw this.refuse('SOLD_OUT');
      case 'not_active':
        await this.store.giveBack(couponId, userId);
        throw this.refuse('NOT_ACTIVE');
      case 'not_found':
        await this.store.giveBack(couponId, userId);
        throw new TRPCError({ code: 'NOT_FOUND', message: `no coupon ${couponId}` });
    }
  }

  /** Coupons open for claims (window not ended), soonest ending first, with what is left of each. */
  async list(input: CouponListInput): Promise<Page<CouponView>> {
    const after = input.cursor ? decodeCursor(listCursor, input.cursor) : undefined;
    const rows = await this.coupons.listOpen({
      ...(input.storeId !== undefined ? { storeId: input.storeId } : {}),
      now: new Date(),
      ...(after ? { after: { validUntil: new Date(after.u), id: after.i } } : {}),
      limit: input.limit,
    });
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return {
      items: page.map(toCouponView),
      nextCursor: rows.length > input.limit && last ? encodeCursor({ u: last.validUntil.getTime(), i: last.id }) : null,
    };
  }

  /** The caller's claims, newest first: MySQL's state, with Redis-only reservations (an order still waiting) shown RESERVED. */
  async mine(userId: number, input: CouponMineInput): Promise<Page<MyCouponView>> {
    const before = input.cursor ? decodeCursor(mineCursor, input.cursor).c : undefined;
    const rows = await this.coupons.mine(userId, { ...(before !== undefined ? { beforeClaimId: before } : {}), limit: input.limit, now: new Date() });
    const page = rows.slice(0, input.limit);
    const open = page.filter((r) => r.state === CouponState.AVAILABLE);
    const held = await this.store.holderStates(
      open.map((r) => r.coupon.id),
      userId,
    );
    const reservedBy = new Map<number, string>();
    open.forEach((r, i) => {
      const h = parseHolderState(held[i] ?? '');
      if (h?.kind === 'R') reservedBy.set(r.claimId, h.orderId);
    });
    const last = page.at(-1);
    return {
      items: page.map((r): MyCouponView => {
        const reserved = reservedBy.get(r.claimId);
        return {
          couponId: r.coupon.id,
          storeId: r.coupon.storeId,
          name: r.coupon.name,
          kind: r.coupon.kind,
          value: r.coupon.value,
          maxDiscount: r.coupon.maxDiscount,
          minOrderAmount: r.coupon.minOrderAmount,
          validFrom: r.coupon.validFrom.toISOString(),
          validUntil: r.coupon.validUntil.toISOString(),
          claimedAt: r.claimedAt.toISOString(),
          state: reserved !== undefined ? CouponState.RESERVED : r.state,
          orderId: reserved ?? r.orderId,
        };
      }),
      nextCursor: rows.length > input.limit && last ? encodeCursor({ c: last.claimId }) : null,
    };
  }

  /** The coupon's terms and window (immutable): in-process cache → Redis meta → MySQL. null: no such coupon. */
  async terms(couponId: number): Promise<CouponTermsWithWindow | null> {
    const cached = this.termsCache.get(couponId);
    if (cached) return cached;
    let found: CouponTermsWithWindow | null = null;
    const meta = await this.store.terms(couponId);
    if (meta) {
      const { validFromMs, validUntilMs, ...terms } = meta;
      found = { id: couponId, ...terms, validFrom: new Date(validFromMs), validUntil: new Date(validUntilMs) };
    } else {
      const c = await this.coupons.find(couponId);
      if (c) found = { id: c.id, ...toStoreRecord(c).terms, validFrom: c.validFrom, validUntil: c.validUntil };
    }
    if (found) this.termsCache.set(couponId, found);
    return found;
  }

  /**
   * For the order's accept path: the customer's claimed, available coupon becomes held by this order
   * (idempotent per order). 'UNAVAILABLE': not claimed, or held / used by another order (or no such coupon);
   * 'NOT_ACTIVE': outside the coupon's window.
   */
  async reserveForOrder(userId: number, couponId: number, orderId: string, nowMs: number): Promise<ReserveForOrderAnswer> {
    for (let rebuilds = 0; ;) {
      const answer = await this.store.reserve(couponId, userId, orderId, nowMs);
      if (answer !== 'missing') return answer;
      if (++rebuilds > MAX_REBUILDS) throw new Error(`coupon ${couponId}: its Redis copy went missing ${rebuilds} times during one reserve`);
      const coupon = await this.rebuildOnce(couponId);
      if (!coupon) return 'UNAVAILABLE';
      if (nowMs >= coupon.validUntil.getTime()) return 'NOT_ACTIVE';
    }
  }

  /** The order that held the coupon will not use it (failed, cancelled, refused): the hold goes, exactly once. True when it released. */
  releaseForOrder(userId: number, couponId: number, orderId: string): Promise<boolean> {
    return this.store.release(couponId, userId, orderId);
  }

  private refuse(answer: keyof typeof REFUSALS): TRPCError {
    const r = REFUSALS[answer];
    this.metrics.couponClaims.inc({ outcome: r.outcome });
    return preconditionFailed(r.reason, r.message);
  }

  /** Rebuilds the coupon's Redis copy from one MySQL snapshot; concurrent callers in this process share one. null: no such coupon. */
  private rebuildOnce(couponId: number): Promise<CouponRecord | null> {
    let running = this.rebuilding.get(couponId);
    if (!running) {
      running = (async () => {
        const snap = await this.coupons.snapshot(couponId);
        if (!snap) return null;
        await this.store.rebuild(
          toStoreRecord(snap.coupon),
          snap.claims.map((c) => ({ userId: c.userId, state: holderStateOfClaim(c) })),
        );
        return snap.coupon;
      })().finally(() => this.rebuilding.delete(couponId));
      this.rebuilding.set(couponId, running);
    }
    return running;
  }
}

/** The service with its repository and Redis store (deps.ts builds it once per process). */
export function createCouponService(
  ds: ConstructorParameters<typeof CouponsRepository>[0],
  redis: ConstructorParameters<typeof CouponStore>[0],
  keys: RedisKeys,
  catalog: Pick<CatalogRepository, 'findStore'>,
  metrics: Metrics,
): CouponService {
  return new CouponService(new CouponsRepository(ds), catalog, new CouponStore(redis, keys), metrics);
}
