import type { Connection as CallbackConnection } from 'mysql2';
import type mysql from 'mysql2/promise';
import type { DataSource, QueryRunner } from 'typeorm';
import { OrderSettlementRepository, PointsRepository, RefundsRepository, isRetryableTxError } from '@bazaar/db';
import { runRefundSteps } from '@bazaar/worker/src/workflows/refund/refund.workflow';
import { lockOldestPending } from '@bazaar/worker/src/workflows/refund/steps/1-lock.step';
import { priceRefund } from '@bazaar/worker/src/workflows/refund/steps/2-price.step';
import type { RefundRepos } from '@bazaar/worker/src/workflows/refund/steps/refund-step';
import { mysqlConnection } from './env';
import type { SeededRefund } from './refunds-seed';
import { Samples, nowMs, round, summarize, type LatencySummary } from './stats';

/**
 * The ceiling: a BALANCE refund's raw transaction, with nothing around it — no
 * queue, no Redis lock, no api, no TypeORM pool. Each of `connections` plain
 * mysql2 connections (the callback API, as TypeORM's driver uses it) loops:
 * SET TRANSACTION ISOLATION LEVEL READ COMMITTED, START TRANSACTION, the
 * worker's own lock and price steps and the final transaction's steps
 * (REFUND_STEPS: points, clawback, wallet, restock, units/status, coupon,
 * complete), COMMIT — so the statements are the worker's, byte for byte,
 * through a QueryRunner-shaped adapter that sends each one on the connection.
 * What the worker sends besides (its look at the refund before this
 * transaction, the read after it, BullMQ and the customer lock in Redis) is
 * not here: the ratio to this is what that costs.
 *
 * Each connection owns a disjoint set of orders (one customer each) and
 * applies each order's refunds in the order they were requested, as the
 * customer lock and the oldest-pending rule make the workers do — a pair of
 * orders at a time, so the refunds it reaches before its time is up have the
 * phases' mix.
 */

export interface CeilingResult {
  connections: number;
  seconds: number;
  refunds: number;
  perSec: number;
  latencyMs: LatencySummary;
  /** Transactions run again after a deadlock or lock-wait timeout. */
  retries: number;
  /** Statements sent, by step (as the worker's counter names them; `isolation`: SET TRANSACTION ISOLATION LEVEL). */
  statements: Record<string, number>;
  /** The refunds it completed (the checks look at them). */
  done: string[];
}

/** A QueryRunner as far as the refund steps use one: query(sql, params) → rows or the OK packet; each statement counted under `label.step`. */
function adapter(c: CallbackConnection, label: { step: string }, counts: Record<string, number>): QueryRunner {
  const query = (sql: string, params: unknown[] = []) => {
    counts[label.step] = (counts[label.step] ?? 0) + 1;
    return new Promise<unknown>((resolve, reject) => c.query(sql, params, (err, res) => (err ? reject(err) : resolve(res))));
  };
  return { query } as unknown as QueryRunner;
}

// The repositories read through `q` in these steps; their DataSource is only for reads outside a transaction.
const noDataSource = null as unknown as DataSource;
const repos: RefundRepos = {
  refunds: new RefundsRepository(noDataSource),
  settlement: new OrderSettlementRepository(),
  points: new PointsRepository(noDataSource),
};

/**
 * One refund's transaction, as RefundWorkflow.applyOne runs it for a BALANCE order (retried on deadlock). Its
 * statements are counted by step as the worker's bazaar_refund_statements_total counts them, the isolation level
 * (which the worker's counter leaves out) under `isolation`.
 */
async function applyRefund(q: QueryRunner, label: { step: string }, refundId: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const now = new Date();
    label.step = 'isolation';
    await q.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    label.step = 'tx';
    await q.query('START TRANSACTION');
    try {
      label.step = 'lock';
      const locked = await lockOldestPending(q, repos, refundId);
      if (!locked) throw new Error(`ceiling refund ${refundId} is not PENDING`);
      if (locked.refund.id !== refundId) throw new Error(`ceiling refund ${refundId}: an older refund of its order is pending`);
      label.step = 'price';
      const plan = await priceRefund(q, repos, locked, now);
      await runRefundSteps({ q, repos, locked, plan, card: null, now }, label);
      label.step = 'tx';
      await q.query('COMMIT');
      return attempt;
    } catch (err) {
      label.step = 'tx';
      await q.query('ROLLBACK').catch(() => undefined);
      if (attempt >= 4 || !isRetryableTxError(err)) throw err;
    }
  }
}

/** Runs the refunds (queue order) over `connections` connections for up to `seconds`; refunds not reached stay PENDING. */
export async function refundCeiling(opts: { mysqlUrl: string; refunds: SeededRefund[]; connections: number; seconds: number }): Promise<CeilingResult> {
  // Seeded orders alternate with and without points: they go to the connections two by two (order i to connection
  // ⌊i/2⌋ mod n), and each connection takes a pair's refunds in turn (first, first, second, second, third, third), so
  // however far a run gets, its mix of refunds — with points or not, of one line or two — is the phases' mix, give or
  // take a pair's.
  const index = new Map<string, number>();
  for (const r of opts.refunds) if (!index.has(r.orderId)) index.set(r.orderId, index.size);
  const pair = (r: SeededRefund) => Math.floor(index.get(r.orderId)! / 2);
  const lists = Array.from({ length: opts.connections }, (_, j) =>
    opts.refunds
      .filter((r) => pair(r) % opts.connections === j)
      .sort((a, b) => pair(a) - pair(b) || a.k - b.k || index.get(a.orderId)! - index.get(b.orderId)!),
  );
  const conns: mysql.Connection[] = await Promise.all(lists.map(() => mysqlConnection(opts.mysqlUrl)));
  const latency = new Samples();
  const done: string[] = [];
  let retries = 0;
  const statements: Record<string, number> = {};
  const started = nowMs();
  const until = started + opts.seconds * 1000;
  try {
    await Promise.all(
      lists.map(async (list, j) => {
        const label = { step: 'tx' };
        const q = adapter((conns[j] as unknown as { connection: CallbackConnection }).connection, label, statements);
        for (const r of list) {
          if (nowMs() >= until) return;
          const t = nowMs();
          retries += await applyRefund(q, label, r.refundId);
          latency.push(nowMs() - t);
          done.push(r.refundId);
        }
      }),
    );
  } finally {
    await Promise.all(conns.map((c) => c.end().catch(() => undefined)));
  }
  const seconds = (nowMs() - started) / 1000;
  return {
    connections: opts.connections,
    seconds: round(seconds, 2),
    refunds: done.length,
    perSec: Math.round(done.length / seconds),
    latencyMs: summarize(latency.values()),
    retries,
    statements,
    done,
  };
}
