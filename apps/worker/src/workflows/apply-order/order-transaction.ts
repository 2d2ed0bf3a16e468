import type { DataSource, QueryRunner } from 'typeorm';
import { PaymentStatus, type FailureReason } from '@bazaar/contracts';
import { OrderSettlementRepository, affected, isDuplicateKey, retryOnTxConflict, runBatch, type Statement, type StatementResult } from '@bazaar/db';
import type { Metrics } from '@bazaar/platform';
import { stockStep } from './steps/5-stock.step';
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
const COMMIT = sql('COMMIT');

/**
 * A batch run one order after the other opens with its stock rows locked in id order
 * (OrderSettlementRepository.stockLock): orders come in any order, and batches must not deadlock on stock.
 */
const openBatch = (items: readonly { ctx: OrderTxContext }[]): Statement[] => [
  ...OPEN,
  OrderSettlementRepository.stockLock(items.flatMap((i) => i.ctx.lines.map((l) => l.productId))),
];

/** A pipelined batch's stock take fell short (the gate let through more than MySQL holds): the batch runs again one order after the other. */
class BatchStockShort extends Error {}

/** The committed orders' lines as one conditional decrement per product, in product id order. */
function stockTotals(lines: readonly { productId: number; quantity: number }[]): Statement[] {
  const totals = new Map<number, number>();
  for (const l of lines) totals.set(l.productId, (totals.get(l.productId) ?? 0) + l.quantity);
  return OrderSettlementRepository.stockTake([...totals].sort((a, b) => a[0] - b[0]).map(([productId, quantity]) => ({ productId, quantity })));
}

/** Statements of one round trip, by the step they are counted under. */
type Part = { step: string; statements: Statement[] };

/** Order `i` refused: back to its effects savepoint, the order (and a card reservation's payment row) recorded FAILED. */
const refusalParts = (i: number, ctx: OrderTxContext, reason: FailureReason): Part[] => [
  { step: 'tx', statements: [sql(`ROLLBACK TO SAVEPOINT order_effects_${i}`)] },
  { step: 'refusal', statements: [OrderSettlementRepository.markFailed(ctx.row.id, ctx.row.status, reason)] },
  ...(hasPaymentRow(ctx.order) ? [{ step: 'refusal', statements: [OrderSettlementRepository.paymentStatus(ctx.row.id, PaymentStatus.FAILED)] }] : []),
];

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
    const [outcome] = await this.runMany([{ ctx, plan }]);
    return outcome!;
  }

  /**
   * Several orders in one transaction (group commit, OrderBatcher), each behind savepoints of its own, so a
   * refused order rolls back alone (and is recorded FAILED); then one COMMIT for all. Pipelined first (about one
   * round trip per order, {@link pipelined}); when an order of the batch turns out settled before, again one order
   * after the other ({@link once}), which skips it. A deadlock or lock-wait timeout retries the whole batch. One
   * outcome per order, in order.
   */
  async runMany(items: readonly { ctx: OrderTxContext; plan: OrderTxPlan }[]): Promise<OrderTxOutcome[]> {
    const sequential = () => retryOnTxConflict(() => this.onConnection((q) => this.once(q, items)), this.attempts);
    if (items.length === 1) return sequential();
    try {
      return await retryOnTxConflict(() => this.onConnection((q) => this.pipelined(q, items)), this.attempts);
    } catch (err) {
      // An order of the batch was settled before (a retried job): one order after the other, each behind its savepoints, skips it.
      // A stock take fell short: one order after the other finds which orders the stock does not cover.
      if (isDuplicateKey(err) || err instanceof BatchStockShort) return sequential();
      throw err;
    }
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

  private async once(q: QueryRunner, items: readonly { ctx: OrderTxContext; plan: OrderTxPlan }[]): Promise<OrderTxOutcome[]> {
    const batched = items.length > 1;
    const outcomes: OrderTxOutcome[] = [];
    // The transaction opens with the first order's first round trip.
    let prefix = batched ? openBatch(items) : OPEN;
    for (const [i, { ctx, plan }] of items.entries()) {
      const last = i === items.length - 1;
      const opening = plan.opening.filter((s) => s.applies(ctx));
      const effects = plan.effects.filter((s) => s.applies(ctx));
      // Where this order starts (a batch only: an order settled before is undone back to here) and where its effects start.
      const own = batched ? [sql(`SAVEPOINT order_${i}`)] : [];
      const effectsPoint = sql(`SAVEPOINT order_effects_${i}`);

      // Round trip 1: open.
      const openWrites = opening.map((s) => ({ step: s.name, statements: s.statements(ctx) }));
      const reads = effects.map((s) => ({ step: s, statements: s.read?.(ctx) ?? [] }));
      const head = [...prefix, ...own];
      prefix = [];
      let openResults: StatementResult[];
      try {
        openResults = await this.send(q, plan.kind, [
          { step: 'tx', statements: head },
          ...openWrites,
          ...reads.map((r) => ({ step: r.step.name, statements: r.statements })),
          { step: 'tx', statements: [effectsPoint] },
        ]);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // The order row exists: settled before. Alone: nothing else to keep. In a batch: undo back to its own savepoint.
        await q.query(batched ? `ROLLBACK TO SAVEPOINT order_${i}` : 'ROLLBACK');
        outcomes.push({ kind: 'exists' });
        if (batched && last) await this.send(q, plan.kind, [{ step: 'tx', statements: [COMMIT] }]);
        continue;
      }
      let at = head.length + openWrites.reduce((n, w) => n + w.statements.length, 0);
      let refusal: FailureReason | null = null;
      for (const r of reads) {
        const results = openResults.slice(at, at + r.statements.length);
        at += r.statements.length;
        refusal = r.step.plan?.(ctx, results) ?? null;
        if (refusal) break;
      }

      // Round trip 2: effects.
      if (!refusal) {
        const writes = effects.map((s) => ({ step: s, statements: s.statements(ctx) }));
        if (writes.some((w) => w.statements.length > 0)) {
          const results = await this.send(
            q,
            plan.kind,
            writes.map((w) => ({ step: w.step.name, statements: w.statements })),
          );
          let j = 0;
          for (const w of writes) {
            const mine = results.slice(j, j + w.statements.length);
            j += w.statements.length;
            refusal = w.step.verdict(ctx, mine);
            if (refusal) break;
          }
        }
      }
      if (refusal) {
        // Back to this order's effects savepoint, the order recorded FAILED (the last order's round trip commits).
        await this.send(q, plan.kind, [...refusalParts(i, ctx, refusal), { step: 'tx', statements: last ? [COMMIT] : [] }]);
        outcomes.push({ kind: 'refused', reason: refusal });
        continue;
      }
      outcomes.push({ kind: 'committed' });
      // Round trip 3: commit (once, after the last order).
      if (last) await this.send(q, plan.kind, [{ step: 'tx', statements: [COMMIT] }]);
    }
    return outcomes;
  }

  /**
   * A batch in about one round trip per order: each round trip carries the previous order's effects together
   * with this order's opening (its savepoint, order row and lines, locking reads, effects savepoint). When the
   * previous order's effects are refused, rolling back to its effects savepoint also undoes this order's
   * opening, which is then sent again. A refusal in an order's reads travels with the next round trip (its
   * rollback to its own savepoint and the FAILED record cannot be refused). The last order's effects and the
   * COMMIT close it: N + 2 round trips for N orders, where one at a time takes 2N + 1.
   *
   * Stock is taken once for the whole batch, at its end: one conditional decrement per product for the
   * committed orders' units, in product id order, with the last order's effects. So a batch holds its stock
   * rows (the hot rows of a sale) only for its last round trip and the COMMIT, and batches always lock them
   * in the same order. The gate in front admits only units that exist, so a decrement falls short only when
   * the gate and MySQL disagree; then the attempt fails and the batch runs one order after the other, where
   * each order's own stock take decides which orders are OUT_OF_STOCK.
   *
   * Any error (an order found settled before: its row's duplicate key) fails the whole attempt, which rolls
   * back; the batcher then runs the batch one order at a time, where such an order is found and skipped.
   */
  private async pipelined(q: QueryRunner, items: readonly { ctx: OrderTxContext; plan: OrderTxPlan }[]): Promise<OrderTxOutcome[]> {
    type Carry =
      | { index: number; ctx: OrderTxContext; kind: OrderTxKind; effects: { step: OrderStep; statements: Statement[] }[] }
      | { index: number; kind: OrderTxKind; refusal: Part[] };
    const outcomes: OrderTxOutcome[] = [];
    const count = (parts: readonly Part[]) => parts.reduce((n, p) => n + p.statements.length, 0);
    const effectsParts = (c: Extract<Carry, { effects: unknown }>): Part[] => c.effects.map((w) => ({ step: w.step.name, statements: w.statements }));
    /** The carried order's effects' verdict, read off their results. */
    const verdictOf = (c: Extract<Carry, { effects: unknown }>, results: StatementResult[]): FailureReason | null => {
      let j = 0;
      for (const w of c.effects) {
        const mine = results.slice(j, j + w.statements.length);
        j += w.statements.length;
        const refusal = w.step.verdict(c.ctx, mine);
        if (refusal) return refusal;
      }
      return null;
    };
    let carry: Carry | null = null;
    let prefix: Statement[] = OPEN;
    /** Lines of the orders whose effects went through: their stock is taken at the end. */
    const taken: { productId: number; quantity: number }[] = [];
    for (const [i, { ctx, plan }] of items.entries()) {
      const effects = plan.effects.filter((s) => s !== stockStep && s.applies(ctx));
      const openWrites: Part[] = plan.opening.filter((s) => s.applies(ctx)).map((s) => ({ step: s.name, statements: s.statements(ctx) }));
      const reads = effects.map((s) => ({ step: s, statements: s.read?.(ctx) ?? [] }));
      const openParts: Part[] = [
        { step: 'tx', statements: [sql(`SAVEPOINT order_${i}`)] },
        ...openWrites,
        ...reads.map((r) => ({ step: r.step.name, statements: r.statements })),
        { step: 'tx', statements: [sql(`SAVEPOINT order_effects_${i}`)] },
      ];
      const carried: Part[] = carry === null ? [] : 'effects' in carry ? effectsParts(carry) : carry.refusal;
      const head: Part = { step: 'tx', statements: prefix };
      prefix = [];
      let results = await this.send(q, plan.kind, [head, ...carried, ...openParts]);
      let at = head.statements.length;
      if (carry !== null && 'effects' in carry) {
        const n = count(carried);
        const refusal = verdictOf(carry, results.slice(at, at + n));
        if (refusal) {
          // Its effects and this order's opening go back to its savepoint; it is recorded FAILED; this order opens again.
          await this.send(q, carry.kind, refusalParts(carry.index, carry.ctx, refusal));
          outcomes[carry.index] = { kind: 'refused', reason: refusal };
          results = await this.send(q, plan.kind, openParts);
          at = 0;
        } else {
          outcomes[carry.index] = { kind: 'committed' };
          taken.push(...carry.ctx.lines);
          at += n;
        }
      } else {
        at += count(carried);
      }
      carry = null;
      at += 1 + count(openWrites);
      let refusal: FailureReason | null = null;
      for (const r of reads) {
        const mine = results.slice(at, at + r.statements.length);
        at += r.statements.length;
        refusal = r.step.plan?.(ctx, mine) ?? null;
        if (refusal) break;
      }
      if (refusal) {
        outcomes[i] = { kind: 'refused', reason: refusal };
        carry = { index: i, kind: plan.kind, refusal: refusalParts(i, ctx, refusal) };
      } else {
        carry = { index: i, ctx, kind: plan.kind, effects: effects.map((s) => ({ step: s, statements: s.statements(ctx) })) };
      }
    }
    const commit: Part = { step: 'tx', statements: [COMMIT] };
    const kind = carry?.kind ?? 'balance';
    /** `before` (statements that cannot be refused), the stock of the orders taken so far, and the COMMIT once every decrement held. */
    const takeStockAndCommit = async (before: Part[]) => {
      if (taken.length === 0) return void (await this.send(q, kind, [...before, commit]));
      const stock = stockTotals(taken);
      const results = await this.send(q, kind, [...before, { step: stockStep.name, statements: stock }]);
      if (results.slice(results.length - stock.length).some((r) => affected(r) !== 1)) throw new BatchStockShort();
      await this.send(q, kind, [commit]);
    };
    if (carry !== null && 'effects' in carry) {
      // The last order's effects with the whole batch's stock (its own included): usually the round trip before the COMMIT.
      const stock = stockTotals([...taken, ...carry.ctx.lines]);
      const parts = effectsParts(carry);
      const results = await this.send(q, carry.kind, [...parts, { step: stockStep.name, statements: stock }]);
      const refusal = verdictOf(carry, results.slice(0, count(parts)));
      if (refusal) {
        // Back to its savepoint (the stock decrements after it go too); the others' stock again, then the COMMIT.
        outcomes[carry.index] = { kind: 'refused', reason: refusal };
        await takeStockAndCommit(refusalParts(carry.index, carry.ctx, refusal));
      } else {
        if (results.slice(count(parts)).some((r) => affected(r) !== 1)) throw new BatchStockShort();
        outcomes[carry.index] = { kind: 'committed' };
        await this.send(q, carry.kind, [commit]);
      }
    } else if (carry !== null) {
      await takeStockAndCommit(carry.refusal);
    }
    return outcomes;
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
