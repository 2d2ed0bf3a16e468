import type { DataSource, QueryRunner } from 'typeorm';
import { type OrderStatus, PaymentMethod, RefundFailureReason, RefundStatus } from '@bazaar/contracts';
import { inRetryingTransaction, type RefundRow } from '@bazaar/db';
import type { RefundPlan } from '@bazaar/domain';
import type { Logger, Metrics } from '@bazaar/platform';
import { isCancelRefusal, type PaymentGatewayClient } from '../../gateway/payment-gateway.client';
import { systemClock, type Clock } from '../apply-order/apply-order.workflow';
import { lockOldestPending, lockRefund, type LockedRefund } from './steps/1-lock.step';
import { priceRefund } from './steps/2-price.step';
import { cancelOnCard, type CardCancelResult } from './steps/3-card-cancel.step';
import { pointsStep } from './steps/4-points.step';
import { clawbackStep } from './steps/5-clawback.step';
import { walletStep } from './steps/6-wallet.step';
import { restockLines, restockStep } from './steps/7-restock.step';
import { unitsAndStatusStep } from './steps/8-units-and-status.step';
import { couponStep } from './steps/9-coupon.step';
import { completeStep } from './steps/10-complete.step';
import type { RefundRepos, RefundStep, RefundTxContext } from './steps/refund-step';

/** The final transaction's steps, in order. */
export const REFUND_STEPS: readonly RefundStep[] = [pointsStep, clawbackStep, walletStep, restockStep, unitsAndStatusStep, couponStep, completeStep];

/**
 * Runs REFUND_STEPS in order inside the caller's transaction `q` (the
 * refund and its order locked, the plan fixed), naming the running step in
 * `label` for the statement counters. Returns the context the steps filled in.
 */
export async function runRefundSteps(
  t: { q: QueryRunner; repos: RefundRepos; locked: LockedRefund; plan: RefundPlan; card: CardCancelResult | null; now: Date },
  label: { step: string } = { step: '' },
): Promise<RefundTxContext> {
  const ctx: RefundTxContext = {
    q: t.q,
    repos: t.repos,
    refund: t.locked.refund,
    order: t.locked.order,
    plan: t.plan,
    now: t.now,
    card: t.card,
    clawbackGap: 0,
    orderStatus: null,
    couponReturned: false,
    pointsRestored: 0,
    pointsReissued: 0,
  };
  for (const step of REFUND_STEPS) {
    if (!step.applies(ctx)) continue;
    label.step = step.name;
    await step.run(ctx);
  }
  return ctx;
}

/** What one refund came to, for the processor (Redis, metrics, logs). */
export interface RefundOutcome {
  refundId: string;
  orderId: string;
  userId: number;
  status: RefundStatus;
  orderStatus: OrderStatus;
  /** false when it was already settled (a job that ran again): nothing changed now. */
  changed: boolean;
  /** The coupon the customer got back (the whole order refunded while the coupon was valid). */
  couponReturned: number | null;
  plan: RefundPlan | null;
  pointsRestored: number;
  pointsReissued: number;
  /** The refunded units, for the sold-out gate. */
  lines: { productId: number; quantity: number }[];
  /** Whether Redis still has to learn of the completed refund (gate, coupon hold, cached view): the processor does it, then marks it done. */
  effectsOwed: boolean;
}

/** At most this many older refunds of the same order are applied ahead of the job's own. */
const MAX_AHEAD = 1_000;

/**
 * Applies refunds (money.md §4), one order's refunds in the order they were
 * requested: a job applies any older PENDING refund of its order first, so
 * every refund is priced on the units refunded before it, exactly.
 *
 *   BALANCE: one transaction — lock → price → points → clawback → wallet →
 *   restock → units/status → coupon → complete.
 *   CARD: lock → price (frozen on the refund's rows) and COMMIT; the partial
 *   cancel at the gateway outside any transaction (Idempotency-Key = refund
 *   id); then one transaction with the rest. A gateway refusal ends the
 *   refund FAILED with nothing applied; any other trouble is retried. Once
 *   the gateway has said yes, the final transaction is retried until it
 *   applies (a retry re-sends the cancel, which the gateway replays), and it
 *   applies once: the refund row moves PENDING → COMPLETED only once, and
 *   every effect is unique per refund.
 *
 * The caller holds the customer's lock (the processor, or a cancel job).
 * After the commit Redis learns of it (the sold-out gate's units, the
 * coupon's hold, the order's view): the processor does that and marks it
 * done on the refund row; the reconciler finishes it if the worker died first.
 */
export class RefundWorkflow {
  constructor(
    private readonly ds: DataSource,
    private readonly repos: RefundRepos,
    private readonly gateway: PaymentGatewayClient,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly metrics?: Metrics,
  ) {}

  /** Applies the refund (after the older pending refunds of its order); every refund settled by this run, the job's own last. */
  async run(refundId: string): Promise<RefundOutcome[]> {
    const done: RefundOutcome[] = [];
    for (let i = 0; i <= MAX_AHEAD; i++) {
      const outcome = await this.applyNext(refundId);
      if (!outcome) {
        done.push(await this.alreadySettled(refundId));
        return done;
      }
      done.push(outcome);
      if (outcome.refundId === refundId) return done;
    }
    throw new Error(`refund ${refundId}: more than ${MAX_AHEAD} older refunds of its order are pending`);
  }

  /**
   * Applies the oldest pending refund of `targetId`'s order (the target itself, or one requested before it);
   * null when the target is no longer PENDING. The oldest is chosen under the order row's lock.
   */
  private async applyNext(targetId: string): Promise<RefundOutcome | null> {
    const now = this.clock();
    const first = await this.tx('lock', async (q, label) => {
      const locked = await lockOldestPending(q, this.repos, targetId);
      if (!locked) return null;
      label.step = 'price';
      const plan = await priceRefund(q, this.repos, locked, now);
      const card = locked.order.paymentMethod === PaymentMethod.CARD && plan.cashReturned > 0;
      if (card) return { card: true as const, refundId: locked.refund.id, plan, payment: await this.repos.settlement.payment(q, locked.order.orderId) };
      // BALANCE (or nothing for the card): everything in this one transaction.
      return { card: false as const, outcome: await this.applySteps(q, label, locked, plan, null, now) };
    });
    if (!first) return null;
    if (!first.card) return first.outcome;

    const { refundId } = first;
    if (!first.payment) throw new Error(`card refund ${refundId}: its order has no payment row`);
    let answer: CardCancelResult;
    try {
      answer = await cancelOnCard(this.gateway, first.payment, refundId, first.plan);
    } catch (err) {
      if (!isCancelRefusal(err)) throw err;
      this.log.warn({ refundId, code: err.code, err: err.message }, 'the gateway refused the card cancel; the refund fails with nothing given back');
      return this.fail(refundId, err.code, now);
    }
    const outcome = await this.tx('lock', async (q, label) => {
      const locked = await lockRefund(q, this.repos, refundId);
      if (!locked || locked.refund.status !== RefundStatus.PENDING) return null;
      // The final transaction's own clock: lot liveness and the completion time as of now, after the gateway call.
      return this.applySteps(q, label, locked, first.plan, answer, this.clock());
    });
    return outcome ?? this.alreadySettled(refundId);
  }

  /** The final transaction's steps, in order, inside `q`. */
  private async applySteps(
    q: QueryRunner,
    label: { step: string },
    locked: LockedRefund,
    plan: RefundPlan,
    card: CardCancelResult | null,
    now: Date,
  ): Promise<RefundOutcome> {
    const ctx = await runRefundSteps({ q, repos: this.repos, locked, plan, card, now }, label);
    if (ctx.clawbackGap > 0) {
      this.log.error({ refundId: ctx.refund.id, gap: ctx.clawbackGap }, 'reward lot held less than the refund was priced on; the gap is waived');
    }
    return {
      refundId: ctx.refund.id,
      orderId: ctx.order.orderId,
      userId: ctx.order.userId,
      status: RefundStatus.COMPLETED,
      orderStatus: ctx.orderStatus ?? ctx.order.status,
      changed: true,
      couponReturned: ctx.couponReturned ? ctx.order.couponId : null,
      plan,
      pointsRestored: ctx.pointsRestored,
      pointsReissued: ctx.pointsReissued,
      lines: restockLines(ctx.refund.items),
      effectsOwed: true,
    };
  }

  private async fail(refundId: string, code: string | null, now: Date): Promise<RefundOutcome> {
    const changed = await this.tx('fail', async (q) => {
      const locked = await lockRefund(q, this.repos, refundId);
      if (!locked || locked.refund.status !== RefundStatus.PENDING) return false;
      return this.repos.refunds.fail(q, refundId, RefundFailureReason.PAYMENT_CANCEL_REFUSED, code, now);
    });
    if (!changed) return this.alreadySettled(refundId);
    const row = await this.repos.refunds.get(refundId);
    return { ...this.settledOutcome(row!), changed: true };
  }

  /** A refund a run found settled: nothing changes; Redis is told again if its effects are still owed. */
  private async alreadySettled(refundId: string): Promise<RefundOutcome> {
    const row = await this.repos.refunds.get(refundId);
    if (!row) throw new Error(`refund ${refundId} does not exist`);
    return this.settledOutcome(row);
  }

  private settledOutcome(row: RefundRow): RefundOutcome {
    return {
      refundId: row.id,
      orderId: row.orderId,
      userId: row.userId,
      status: row.status,
      orderStatus: row.orderStatus,
      changed: false,
      couponReturned: row.couponReturned ? row.couponId : null,
      plan: null,
      pointsRestored: 0,
      pointsReissued: 0,
      lines: restockLines(row.items),
      effectsOwed: row.status === RefundStatus.COMPLETED && row.effectsDoneAt === null,
    };
  }

  /**
   * A READ COMMITTED transaction (its locking reads lock the rows read, not
   * the gaps beside them), retried on deadlock. Its statements are counted
   * under `label.step`, which applySteps moves from step to step.
   */
  private tx<T>(step: string, fn: (q: QueryRunner, label: { step: string }) => Promise<T>): Promise<T> {
    return inRetryingTransaction(
      this.ds,
      (q) => {
        const label = { step };
        this.metrics?.refundStatements.inc({ step: 'tx' }, 3); // SET TRANSACTION ISOLATION LEVEL, START TRANSACTION, COMMIT
        return fn(
          countStatements(q, () => this.metrics?.refundStatements.inc({ step: label.step })),
          label,
        );
      },
      5,
      'READ COMMITTED',
    );
  }
}

/** `q` with its query() counted: every statement is reported, so the bench can state the statements per refund. */
function countStatements(q: QueryRunner, report: () => void): QueryRunner {
  return new Proxy(q, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return (...args: Parameters<QueryRunner['query']>) => {
          report();
          return target.query(...args);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
