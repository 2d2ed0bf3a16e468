import type { QueryRunner } from 'typeorm';
import type { OrderStatus, PaymentStatus } from '@bazaar/contracts';
import type { LockedOrder, OrderSettlementRepository, PointsRepository, RefundRow, RefundsRepository } from '@bazaar/db';
import type { RefundPlan } from '@bazaar/domain';

export interface RefundRepos {
  refunds: RefundsRepository;
  settlement: OrderSettlementRepository;
  points: PointsRepository;
}

/** What every step of a refund's final transaction sees, and what the steps leave for the next ones. */
export interface RefundTxContext {
  q: QueryRunner;
  repos: RefundRepos;
  /** Locked, still PENDING. */
  refund: RefundRow;
  /** Locked; `lines` are the units not yet refunded. */
  order: LockedOrder & { orderId: string };
  /** Every amount, fixed by the price step (frozen on the refund's rows). */
  plan: RefundPlan;
  /** The refund's clock: lot liveness, a re-issued lot's expiry, the coupon's window. */
  now: Date;
  /** CARD: what the gateway answered to the partial cancel (null when no cash went to the card). */
  card: { transactionKey: string | null; status: PaymentStatus } | null;
  /** Reward points the plan meant to take from the reward lot that were not there any more (0 but after a crash race). */
  clawbackGap: number;
  /** Set by the units step. */
  orderStatus: OrderStatus | null;
  couponReturned: boolean;
  /** Set by the points step: points back to live lots, and re-issued as a new lot. */
  pointsRestored: number;
  pointsReissued: number;
}

/**
 * One named step of a refund's final transaction (points back, reward
 * clawed back, wallet, stock, units and status, coupon, completion). Steps
 * run in the order listed, one statement at a time, inside the caller's
 * transaction; each says what it may and may not touch. A step that cannot
 * apply throws: the whole transaction rolls back and the job is retried.
 */
export interface RefundStep {
  readonly name: string;
  applies(ctx: RefundTxContext): boolean;
  run(ctx: RefundTxContext): Promise<void>;
}
