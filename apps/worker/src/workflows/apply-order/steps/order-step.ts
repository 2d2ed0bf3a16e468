import type { FailureReason } from '@bazaar/contracts';
import type { SettlementLine, SettlementOrder, Statement, StatementResult } from '@bazaar/db';
import type { LotAmount, PricedOrder } from '@bazaar/domain';
import type { AcceptedOrder } from '@bazaar/queue';

/** What every step of one order's transaction sees. */
export interface OrderTxContext {
  order: AcceptedOrder;
  row: SettlementOrder;
  lines: SettlementLine[];
  priced: PricedOrder;
  /** The transaction's clock: lot liveness, the reward lot's expiry, the coupon's use. */
  now: Date;
  /** Lots the point spend takes, planned from the locked read (point-spend step). */
  spendPlan: LotAmount[];
}

/**
 * One named step of the order transaction (order row and lines, coupon use,
 * point spend, wallet debit, stock, reward lot, cart lines). A step only
 * builds SQL and reads its own results; the transaction runner batches the
 * steps' statements into round trips, in the order the steps are listed, and
 * the first step that refuses decides the order's failure reason.
 */
export interface OrderStep {
  readonly name: string;
  /** Whether this order needs the step at all (no coupon: no coupon use). */
  applies(ctx: OrderTxContext): boolean;
  /** Locking reads the step's writes depend on, sent in the opening round trip. */
  read?(ctx: OrderTxContext): Statement[];
  /** Digests the read (may set ctx fields): a refusal, or null. */
  plan?(ctx: OrderTxContext, results: StatementResult[]): FailureReason | null;
  /** The step's writes. */
  statements(ctx: OrderTxContext): Statement[];
  /** A refusal read off the writes' results, or null. */
  verdict(ctx: OrderTxContext, results: StatementResult[]): FailureReason | null;
}

/** For steps whose writes cannot be refused (inserts keyed by the order). */
export const noRefusal = (): null => null;
