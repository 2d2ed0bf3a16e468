import type mysql from 'mysql2/promise';
import { PaymentMethod } from '@bazaar/contracts';
import type { RefundBatch } from './refunds-seed';

/**
 * What must hold after a batch of refunds has drained (money.md §4), read
 * from MySQL (and for CARD the fake gateway's ledger): every refund COMPLETED,
 * applied once (one wallet credit or one gateway cancel per refund), the cash
 * given back summing to what each fully refunded order paid, and — over the
 * whole database — wallet = ledger, every point lot = its movements, stock =
 * the seeded stock less the units still sold.
 */

export interface BatchCheck {
  refunds: number;
  byStatus: Record<string, number>;
  orders: number;
  ordersRefunded: number;
  cashPaid: number;
  cashReturned: number;
  /** Orders whose refunds' cash_returned, points or clawback do not sum to what the order paid, spent or earned. */
  ordersOff: number;
  /** BALANCE: ORDER_REFUND ledger rows of the batch's refunds (count, distinct refs, sum); CARD: cancels at the gateway. */
  credits: { rows: number; distinct: number; sum: number };
  /** CARD: payment rows CANCELED with canceled_amount = amount; gateway payments with balance 0; cancel requests answered from the Idempotency-Key store (retries). */
  card: { paymentRowsCancelled: number; gatewayPaymentsAtZero: number; replayedCancels: number } | null;
  /** Spend mapping rows of the batch's orders not fully given back; reward lots of the batch's orders not at 0. */
  spendsNotReturned: number;
  rewardLotsLeft: number;
  /** Whole database. */
  walletsOffLedger: number;
  lotsOffMovements: number;
  stockOff: number;
  problems: string[];
  ok: boolean;
}

type Row = Record<string, unknown>;
async function one(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<Row> {
  const [rows] = (await c.query(sql, params)) as unknown as [Row[]];
  return rows[0] ?? {};
}
const n = (v: unknown) => Number(v ?? 0);

interface GatewayLedger {
  payments: { orderId: string; balanceAmount: number; status: string }[];
  cancels: { paymentKey: string; amount: number; idempotencyKey: string | null }[];
  cancelAttempts: { paymentKey: string; replayed: boolean }[];
}

export async function checkBatch(c: mysql.Connection, batch: RefundBatch, opts: { stockSeeded: number; gatewayUrl: string | null }): Promise<BatchCheck> {
  const like = `${batch.tag}-%`;
  const problems: string[] = [];
  const [statusRows] = (await c.query(`SELECT status, COUNT(*) AS n FROM refunds WHERE idempotency_key LIKE ? GROUP BY status`, [like])) as unknown as [
    { status: string; n: number }[],
  ];
  const byStatus = Object.fromEntries(statusRows.map((r) => [r.status, n(r.n)]));
  const completed = byStatus.COMPLETED ?? 0;
  if (completed !== batch.refunds.length) problems.push(`${completed} of ${batch.refunds.length} refunds COMPLETED (${JSON.stringify(byStatus)})`);

  const o = await one(
    c,
    `SELECT COUNT(*) AS orders, SUM(o.status = 'REFUNDED') AS refunded, SUM(o.cash_paid) AS paid, SUM(x.cash) AS returned,
       SUM(x.cash <> o.cash_paid OR o.cash_refunded <> o.cash_paid OR x.points <> o.points_used OR x.claw <> o.points_earned) AS off
     FROM orders o JOIN (SELECT order_id, SUM(cash_returned) AS cash, SUM(points) AS points, SUM(clawback) AS claw
       FROM refunds WHERE idempotency_key LIKE ? GROUP BY order_id) x ON x.order_id = o.id`,
    [like],
  );
  const orders = n(o.orders);
  const cashPaid = n(o.paid);
  const cashReturned = n(o.returned);
  if (orders !== batch.orders.length || n(o.refunded) !== orders) problems.push(`${n(o.refunded)} of ${batch.orders.length} orders REFUNDED`);
  if (n(o.off) > 0) problems.push(`${n(o.off)} orders whose refunds do not sum to what they paid, spent and earned`);
  if (cashReturned !== cashPaid) problems.push(`cash returned ${cashReturned} ≠ cash paid ${cashPaid}`);

  let credits = { rows: 0, distinct: 0, sum: 0 };
  let card: BatchCheck['card'] = null;
  if (batch.method === PaymentMethod.BALANCE) {
    const w = await one(
      c,
      `SELECT COUNT(*) AS rows_, COUNT(DISTINCT e.ref) AS refs, SUM(e.amount) AS s FROM wallet_entries e JOIN refunds r ON r.id = e.ref
       WHERE e.kind = 'ORDER_REFUND' AND r.idempotency_key LIKE ?`,
      [like],
    );
    credits = { rows: n(w.rows_), distinct: n(w.refs), sum: n(w.s) };
  } else {
    const p = await one(
      c,
      `SELECT SUM(p.status = 'CANCELED' AND p.canceled_amount = p.amount) AS ok FROM payments p
       WHERE p.order_id IN (SELECT DISTINCT order_id FROM refunds WHERE idempotency_key LIKE ?)`,
      [like],
    );
    const ids = new Set(batch.orders.map((x) => x.orderId));
    const keys = new Set(batch.orders.map((x) => x.paymentKey));
    const refundIds = new Set(batch.refunds.map((r) => r.refundId));
    const ledger = opts.gatewayUrl ? ((await (await fetch(`${opts.gatewayUrl}/__test/ledger`)).json()) as GatewayLedger) : null;
    const cancels = ledger?.cancels.filter((x) => keys.has(x.paymentKey)) ?? [];
    credits = { rows: cancels.length, distinct: new Set(cancels.map((x) => x.idempotencyKey)).size, sum: cancels.reduce((s, x) => s + x.amount, 0) };
    if (cancels.some((x) => !x.idempotencyKey || !refundIds.has(x.idempotencyKey)))
      problems.push('a gateway cancel whose Idempotency-Key is not one of the refunds');
    card = {
      paymentRowsCancelled: n(p.ok),
      gatewayPaymentsAtZero: ledger?.payments.filter((x) => ids.has(x.orderId) && x.balanceAmount === 0 && x.status === 'CANCELED').length ?? 0,
      replayedCancels: ledger?.cancelAttempts.filter((x) => keys.has(x.paymentKey) && x.replayed).length ?? 0,
    };
    if (card.paymentRowsCancelled !== batch.orders.length)
      problems.push(`${card.paymentRowsCancelled} of ${batch.orders.length} payment rows CANCELED in full`);
    if (card.gatewayPaymentsAtZero !== batch.orders.length)
      problems.push(`${card.gatewayPaymentsAtZero} of ${batch.orders.length} gateway payments cancelled to 0`);
  }
  const what = batch.method === PaymentMethod.BALANCE ? 'ORDER_REFUND ledger rows' : 'gateway cancels';
  if (credits.rows !== batch.refunds.length || credits.distinct !== batch.refunds.length) {
    problems.push(`${credits.rows} ${what} (${credits.distinct} distinct refunds) for ${batch.refunds.length} refunds`);
  }
  if (credits.sum !== cashReturned) problems.push(`${what} sum to ${credits.sum}, the refunds' cash_returned to ${cashReturned}`);

  const pts = await one(
    c,
    `SELECT (SELECT COUNT(*) FROM point_spend_lots m WHERE m.returned <> m.amount AND m.order_id IN (SELECT order_id FROM refunds WHERE idempotency_key LIKE ?)) AS spends,
       (SELECT COUNT(*) FROM point_lots l WHERE l.source = 'ORDER_REWARD' AND l.remaining <> 0 AND l.ref IN (SELECT order_id FROM refunds WHERE idempotency_key LIKE ?)) AS rewards`,
    [like, like],
  );
  if (n(pts.spends) > 0) problems.push(`${n(pts.spends)} spend mapping rows not fully given back`);
  if (n(pts.rewards) > 0) problems.push(`${n(pts.rewards)} reward lots not clawed back to 0`);

  const g = await databaseInvariants(c, opts.stockSeeded);
  problems.push(...g.problems);
  return {
    refunds: batch.refunds.length,
    byStatus,
    orders,
    ordersRefunded: n(o.refunded),
    cashPaid,
    cashReturned,
    ordersOff: n(o.off),
    credits,
    card,
    spendsNotReturned: n(pts.spends),
    rewardLotsLeft: n(pts.rewards),
    walletsOffLedger: g.wallets,
    lotsOffMovements: g.lots,
    stockOff: g.stock,
    problems,
    ok: problems.length === 0,
  };
}

/** Whole-database invariants: wallet = ledger (sum and last balance_after), lot remaining = its movements, stock = seeded − units still sold (by orders that took them: PAID, PARTIALLY_REFUNDED, REFUNDED; a FAILED or CANCELLED order holds none). */
export async function databaseInvariants(
  c: mysql.Connection,
  stockSeeded: number,
): Promise<{ wallets: number; lots: number; stock: number; problems: string[] }> {
  const w = await one(
    c,
    `SELECT COUNT(*) AS off FROM wallet_accounts a
     LEFT JOIN (SELECT user_id, SUM(amount) AS s, MAX(id) AS last FROM wallet_entries GROUP BY user_id) e ON e.user_id = a.user_id
     LEFT JOIN wallet_entries le ON le.id = e.last
     WHERE a.balance <> COALESCE(e.s, 0) OR a.balance <> COALESCE(le.balance_after, 0)`,
  );
  const l = await one(
    c,
    `SELECT COUNT(*) AS off FROM point_lots l LEFT JOIN (SELECT lot_id, SUM(amount) AS s FROM point_movements GROUP BY lot_id) m ON m.lot_id = l.id
     WHERE l.remaining <> COALESCE(m.s, 0) OR l.remaining < 0 OR l.remaining > l.amount`,
  );
  const s = await one(
    c,
    `SELECT (SELECT SUM(stock) FROM products) AS stock, (SELECT COALESCE(SUM(i.quantity - i.refunded_quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')) AS sold`,
  );
  const stock = n(s.stock) - (stockSeeded - n(s.sold));
  const problems: string[] = [];
  if (n(w.off) > 0) problems.push(`${n(w.off)} wallets differ from their ledger`);
  if (n(l.off) > 0) problems.push(`${n(l.off)} point lots differ from their movements`);
  if (stock !== 0) problems.push(`stock is ${stock} off the seeded stock less the units still sold`);
  return { wallets: n(w.off), lots: n(l.off), stock, problems };
}
