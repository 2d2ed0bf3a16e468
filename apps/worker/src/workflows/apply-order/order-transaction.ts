import type { DataSource, QueryRunner } from 'typeorm';
import { PaymentStatus, type FailureReason } from '@bazaar/contracts';
import { OrderSettlementRepository, isDuplicateKey, retryOnTxConflict, runBatch, type Statement, type StatementResult } from '@bazaar/db';
import type { Metrics } from '@bazaar/platform';
import { hasPaymentRow } from './steps/8-payment-row.step';
import type { OrderStep, OrderTxContext } from './steps/order-step';

/** Which transaction of which order kind: the label of its statement and round-trip counters. */
export type OrderTxKind = 'balance' | 'card_reserve' | 'card_commit' | 'refused';

export interface OrderTxPlan {
  kind: OrderTxKind;
  /** Steps whose writes open the transaction (order row and lines, the payment row), before the savepoint. */
  opening: OrderStep[];
  /** Effect steps: their reads join the opening round trip, their writes the effects round trip; a refusal rolls back to the savepoint. */
  effects: OrderStep[];
}

export type OrderTxOutcome = { kind: 'committed' } | { kind: 'refused'; reason: FailureReason } | { kind: 'exists' };

const sql = (text: string): Statement => ({ sql: text, params: [] });
/**
 * READ COMMITTED for the order transaction (the next transaction only): its locking reads then lock the rows
 * they find, not the gaps between them. Under REPEATABLE READ the point spend's read of a customer's lots held
 * the gap up to the next customer's lots, and that customer's reward-lot insert deadlocked against it (1,017
 * deadlocks in the money bench). Every write here is a conditional update on a row it names, a guard that needs
 * no snapshot. (Binary logs in ROW or MIXED format, as MySQL 8 and MariaDB default to.)
 */
const ISOLATION = sql('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
const START = sql('START TRANSACTION');
/** The statements that open every order transaction, before the steps' own. */
const OPEN = [ISOLATION, START];
const SAVEPOINT = sql('SAVEPOINT order_effects');
const ROLLBACK_TO_SAVEPOINT = sql('ROLLBACK TO SAVEPOINT order_effects');
const COMMIT = sql('COMMIT');

/**
 * Runs one order's transaction from named steps, in at most three round
 * trips (multi-statement batches on the order's own connection):
 *
 * 1. open — START TRANSACTION, the opening steps' writes (the order row:
 *    a duplicate key here means the order was settled before), the effect
 *    steps' locking reads, SAVEPOINT;
 * 2. effects — every effect step's writes, in the order listed;
 * 3. COMMIT — or, when a step refused (in its plan or its verdict):
 *    ROLLBACK TO SAVEPOINT, the order recorded FAILED with that step's
 *    reason (a card reservation's payment row too), COMMIT. The order row
 *    and its lock never go away, so a duplicate also just finds it taken.
 *
 * Deadlocks and lock-wait timeouts retry the whole transaction (the steps
 * plan again from fresh reads). Every statement is counted per step in
 * bazaar_order_tx_statements_total and every round trip in
 * bazaar_order_tx_round_trips_total.
 */
export class OrderTransaction {
  constructor(
    private readonly ds: DataSource,
    private readonly metrics?: Pick<Metrics, 'orderTxStatements' | 'orderTxRoundTrips'>,
    private readonly attempts = 5,
  ) {}

  async run(ctx: OrderTxContext, plan: OrderTxPlan): Promise<OrderTxOutcome> {
    return retryOnTxConflict(() => this.onConnection((q) => this.once(q, ctx, plan)), this.attempts);
  }

  /**
   * One attempt on a connection of its own: rolled back if it throws, and released before the caller's next
   * query (holding it while waiting for a second connection could starve the pool).
   */
  private async onConnection<T>(fn: (q: QueryRunner) => Promise<T>): Promise<T> {
    const q = this.ds.createQueryRunner('master');
    await q.connect();
    try {
      return await fn(q);
    } catch (err) {
      await q.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await q.release();
    }
  }

  private async once(q: QueryRunner, ctx: OrderTxContext, plan: OrderTxPlan): Promise<OrderTxOutcome> {
    const opening = plan.opening.filter((s) => s.applies(ctx));
    const effects = plan.effects.filter((s) => s.applies(ctx));

    // Round trip 1: open.
    const openWrites = opening.map((s) => ({ step: s.name, statements: s.statements(ctx) }));
    const reads = effects.map((s) => ({ step: s, statements: s.read?.(ctx) ?? [] }));
    let openResults: StatementResult[];
    try {
      openResults = await this.send(q, plan.kind, [
        { step: 'tx', statements: OPEN },
        ...openWrites,
        ...reads.map((r) => ({ step: r.step.name, statements: r.statements })),
        { step: 'tx', statements: [SAVEPOINT] },
      ]);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      await q.query('ROLLBACK');
      return { kind: 'exists' };
    }
    let at = OPEN.length + openWrites.reduce((n, w) => n + w.statements.length, 0);
    for (const r of reads) {
      const results = openResults.slice(at, at + r.statements.length);
      at += r.statements.length;
      const refusal = r.step.plan?.(ctx, results) ?? null;
      if (refusal) return this.refuse(q, ctx, plan.kind, refusal);
    }

    // Round trip 2: effects.
    const writes = effects.map((s) => ({ step: s, statements: s.statements(ctx) }));
    if (writes.some((w) => w.statements.length > 0)) {
      const results = await this.send(
        q,
        plan.kind,
        writes.map((w) => ({ step: w.step.name, statements: w.statements })),
      );
      let i = 0;
      for (const w of writes) {
        const own = results.slice(i, i + w.statements.length);
        i += w.statements.length;
        const refusal = w.step.verdict(ctx, own);
        if (refusal) return this.refuse(q, ctx, plan.kind, refusal);
      }
    }

    // Round trip 3: commit.
    await this.send(q, plan.kind, [{ step: 'tx', statements: [COMMIT] }]);
    return { kind: 'committed' };
  }

  /**
   * A short transaction of one guard and the given steps' writes, in two
   * round trips: START TRANSACTION + the guard (a status change that must
   * change one row) + the writes; then COMMIT, or ROLLBACK when the guard
   * changed nothing (someone else moved the order first: 'moved').
   */
  async runGuarded(ctx: OrderTxContext, kind: OrderTxKind, guard: Statement[], steps: OrderStep[]): Promise<'committed' | 'moved'> {
    const attempt = () =>
      this.onConnection(async (q): Promise<'committed' | 'moved'> => {
        const writes = steps.filter((s) => s.applies(ctx)).map((s) => ({ step: s.name, statements: s.statements(ctx) }));
        const results = await this.send(q, kind, [{ step: 'tx', statements: OPEN }, { step: 'guard', statements: guard }, ...writes]);
        if (results.slice(OPEN.length, OPEN.length + guard.length).some((r) => !Array.isArray(r) && r.affectedRows !== 1)) {
          await this.send(q, kind, [{ step: 'tx', statements: [sql('ROLLBACK')] }]);
          return 'moved';
        }
        await this.send(q, kind, [{ step: 'tx', statements: [COMMIT] }]);
        return 'committed';
      });
    return retryOnTxConflict(attempt, this.attempts).catch((err: unknown) => {
      // A write keyed by the order (its reward lot) already exists: another run got here first and committed.
      if (isDuplicateKey(err)) return 'moved' as const;
      throw err;
    });
  }

  private async refuse(q: QueryRunner, ctx: OrderTxContext, kind: OrderTxKind, reason: FailureReason): Promise<OrderTxOutcome> {
    await this.send(q, kind, [
      { step: 'tx', statements: [ROLLBACK_TO_SAVEPOINT] },
      { step: 'refusal', statements: [OrderSettlementRepository.markFailed(ctx.row.id, ctx.row.status, reason)] },
      ...(hasPaymentRow(ctx.order) ? [{ step: 'refusal', statements: [OrderSettlementRepository.paymentStatus(ctx.row.id, PaymentStatus.FAILED)] }] : []),
      { step: 'tx', statements: [COMMIT] },
    ]);
    return { kind: 'refused', reason };
  }

  /** One round trip of the steps' statements, counted. */
  private async send(q: QueryRunner, kind: OrderTxKind, parts: { step: string; statements: Statement[] }[]): Promise<StatementResult[]> {
    const statements = parts.flatMap((p) => p.statements);
    const results = await runBatch(q, statements);
    if (this.metrics) {
      this.metrics.orderTxRoundTrips.inc({ kind });
      for (const p of parts) if (p.statements.length > 0) this.metrics.orderTxStatements.inc({ kind, step: p.step }, p.statements.length);
    }
    return results;
  }
}
