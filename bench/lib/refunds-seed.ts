import type mysql from 'mysql2/promise';
import { OrderStatus, PaymentMethod, PaymentStatus, RefundKind, Role } from '@bazaar/contracts';
import { OrderSettlementRepository, PointsRepository, refundRequestHash, type Statement } from '@bazaar/db';
import { REWARD_VALID_DAYS, expiryAfter, planSpend, type PointLot } from '@bazaar/domain';
import { newId } from '@bazaar/platform';
import type { AcceptedOrder } from '@bazaar/queue';
import { byProductId, settlementRows } from '@bazaar/worker/src/workflows/order-rows';
import { FULFILLMENT } from './load';
import { insertBatched, type Customer, type Product } from './seed';

/**
 * Paid orders and their pending refunds, written straight into MySQL.
 *
 * Orders: each one row set exactly as the worker's order transaction writes it
 * — the same statement builders (OrderSettlementRepository, PointsRepository
 * static statements) fed by the same pricing (settlementRows of an accepted
 * order): order row and lines, the wallet debit and its ledger row (BALANCE),
 * the point spend lot by lot, the stock, the reward lot; a CARD order is
 * reserved PENDING with its payment row, then moved PAID with the payment
 * DONE, as the saga does. Its charge exists at the fake gateway (a key minted
 * and confirmed over HTTP, as the browser and the worker would). Statements go
 * as multi-statement batches of `chunk` orders, one transaction each.
 *
 * Refunds: rows as RefundsRepository.insertRequest writes them (refund row,
 * lines, the lines' units held as pending), for many refunds at once.
 */

/** Units of each order's two lines, and the refunds that take them back: after the third the order is REFUNDED. */
export const LINE_UNITS = [3, 2] as const;
export const REFUND_PLAN: readonly (readonly [number, number])[] = [
  [1, 0],
  [1, 1],
  [1, 1],
];
/** Points an order with points spends; the first such spend of a customer takes their lot that has expired since (a give-back re-issues it). */
export const POINTS_PER_ORDER = 200;
export const EXPIRED_LOT = 150;
export const LIVE_LOT = 1_000_000;

export interface SeededOrder {
  orderId: string;
  userId: number;
  method: PaymentMethod;
  cashPaid: number;
  pointsUsed: number;
  earned: number;
  paymentKey: string | null;
  /** orderItemId per line, in line order (filled after the insert). */
  itemIds: number[];
  productIds: number[];
}

export interface SeededRefund {
  refundId: string;
  orderId: string;
  userId: number;
  /** 1-based: the k-th refund of its order. */
  k: number;
  items: { orderItemId: number; quantity: number }[];
}

/** One set of orders (a phase, a warm-up or a ceiling run): its refunds in queue order, every order's first refund before any second. */
export interface RefundBatch {
  tag: string;
  method: PaymentMethod;
  orders: SeededOrder[];
  refunds: SeededRefund[];
}

export interface Gateway {
  url: string;
  secretKey: string;
}

async function postJson<T>(url: string, body: unknown, auth?: string): Promise<T> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** Runs fn over items with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** The granted lots of every customer: the expired one (spent before it expired) and the live one. */
async function grantedLots(c: mysql.Connection): Promise<Map<number, PointLot[]>> {
  const [rows] = (await c.query(
    `SELECT id, user_id, remaining, expires_at FROM point_lots WHERE source = 'GRANT' ORDER BY user_id, expires_at`,
  )) as unknown as [{ id: number; user_id: number; remaining: number; expires_at: Date }[]];
  const out = new Map<number, PointLot[]>();
  for (const r of rows) {
    const list = out.get(Number(r.user_id)) ?? [];
    list.push({ id: Number(r.id), remaining: Number(r.remaining), expiresAt: r.expires_at });
    out.set(Number(r.user_id), list);
  }
  return out;
}

/** One multi-statement round trip: the statements inside one transaction. */
async function sendBatch(c: mysql.Connection, statements: Statement[]): Promise<void> {
  if (!statements.length) return;
  await c.query(
    ['START TRANSACTION', ...statements.map((s) => s.sql), 'COMMIT'].join(';\n'),
    statements.flatMap((s) => s.params),
  );
}

/**
 * Paid orders of `method`, one customer each (customers[i] places order i), two lines of two distinct products,
 * every other order spending POINTS_PER_ORDER points. `c` must allow multiple statements.
 */
export async function seedOrders(
  c: mysql.Connection,
  opts: { tag: string; method: PaymentMethod; customers: Customer[]; products: Product[]; gateway: Gateway | null; chunk?: number; salt: number },
): Promise<SeededOrder[]> {
  const now = new Date();
  // The spends happened while the customers' first lot was still live (it expired an hour before the seed).
  const spentAt = new Date(now.getTime() - 2 * 3_600_000);
  const lots = await grantedLots(c);
  const { products, customers } = opts;
  const accepted: AcceptedOrder[] = customers.map((cust, i) => {
    const a = products[(i * 7919 + opts.salt) % products.length]!;
    let b = products[(i * 104_729 + opts.salt * 31 + 1) % products.length]!;
    if (b.id === a.id) b = products[(products.indexOf(a) + 1) % products.length]!;
    return {
      orderId: newId(),
      userId: cust.userId,
      requestId: `bench-${opts.tag}`,
      idempotencyKey: `bench-${opts.tag}-${i}`,
      acceptedAt: spentAt.toISOString(),
      paymentMethod: opts.method,
      ...(i % 2 === 1 ? { points: POINTS_PER_ORDER } : {}),
      fulfillment: FULFILLMENT as AcceptedOrder['fulfillment'],
      lines: [a, b].map((p, j) => ({ productId: p.id, storeId: p.storeId, name: p.name, unitPrice: p.price, quantity: LINE_UNITS[j]! })),
    };
  });

  const seeded: SeededOrder[] = accepted.map((o) => {
    const { priced } = settlementRows(o, OrderStatus.PAID);
    return {
      orderId: o.orderId,
      userId: o.userId,
      method: opts.method,
      cashPaid: priced.cashPaid,
      pointsUsed: priced.pointsUsed,
      earned: priced.earned,
      paymentKey: null,
      itemIds: [],
      productIds: o.lines.map((l) => l.productId),
    };
  });

  // CARD: the charge the browser would make at the gateway (a minted key, confirmed by the worker's saga).
  if (opts.method === PaymentMethod.CARD) {
    const gw = opts.gateway;
    if (!gw) throw new Error('CARD orders need the fake gateway');
    const auth = `Basic ${Buffer.from(`${gw.secretKey}:`).toString('base64')}`;
    await pool(seeded, 16, async (o) => {
      const { paymentKey } = await postJson<{ paymentKey: string }>(`${gw.url}/__test/payment-keys`, { amount: o.cashPaid });
      const paid = await postJson<{ status: string }>(`${gw.url}/v1/payments/confirm`, { paymentKey, orderId: o.orderId, amount: o.cashPaid }, auth);
      if (paid.status !== 'DONE') throw new Error(`gateway confirm of ${o.orderId}: ${JSON.stringify(paid)}`);
      o.paymentKey = paymentKey;
    });
  }

  const chunk = opts.chunk ?? 100;
  for (let from = 0; from < accepted.length; from += chunk) {
    const statements: Statement[] = [];
    for (let i = from; i < Math.min(accepted.length, from + chunk); i++) {
      const o = accepted[i]!;
      const s = seeded[i]!;
      const card = o.paymentMethod === PaymentMethod.CARD;
      if (card) o.paymentKey = s.paymentKey!;
      const { row, lines, priced } = settlementRows(o, card ? OrderStatus.PENDING : OrderStatus.PAID);
      statements.push(OrderSettlementRepository.orderInsert(row), OrderSettlementRepository.itemsInsert(row.id, lines));
      if (card)
        statements.push(OrderSettlementRepository.paymentInsert({ orderId: row.id, userId: row.userId, paymentKey: s.paymentKey!, amount: row.cashPaid }));
      if (priced.pointsUsed > 0) {
        const mine = lots.get(row.userId) ?? [];
        const plan = planSpend(mine, priced.pointsUsed, spentAt);
        for (const p of plan) {
          const lot = mine.find((l) => l.id === p.lotId)!;
          lot.remaining -= p.amount;
        }
        statements.push(...PointsRepository.spendStatements(row.userId, row.id, plan, spentAt));
      }
      if (!card && row.cashPaid > 0) statements.push(...OrderSettlementRepository.walletDebit(row.userId, row.id, row.cashPaid));
      statements.push(...OrderSettlementRepository.stockTake(byProductId(lines)));
      if (card) {
        statements.push(
          OrderSettlementRepository.transitionStmt(row.id, OrderStatus.PENDING, OrderStatus.PAID),
          OrderSettlementRepository.paymentStatus(row.id, PaymentStatus.DONE),
        );
      }
      if (priced.earned > 0)
        statements.push(...PointsRepository.rewardLotStatements(row.userId, row.id, priced.earned, expiryAfter(now, REWARD_VALID_DAYS), now));
    }
    await sendBatch(c, statements);
  }

  // The lines' ids, which refunds name.
  const byId = new Map(seeded.map((o) => [o.orderId, o]));
  for (let from = 0; from < seeded.length; from += 2000) {
    const ids = seeded.slice(from, from + 2000).map((o) => o.orderId);
    const [rows] = (await c.query(
      `SELECT id, order_id, line_no FROM order_items WHERE order_id IN (${ids.map(() => '?').join(',')}) ORDER BY order_id, line_no`,
      ids,
    )) as unknown as [{ id: number; order_id: string; line_no: number }[]];
    for (const r of rows) byId.get(r.order_id)!.itemIds[Number(r.line_no)] = Number(r.id);
  }
  return seeded;
}

/** REFUND_PLAN's refunds of every order, ids generated (ULIDs, ascending) in queue order: every order's k-th refund before any (k+1)-th. */
export function planRefunds(orders: SeededOrder[]): SeededRefund[] {
  const out: SeededRefund[] = [];
  REFUND_PLAN.forEach((units, k) => {
    for (const o of orders) {
      const items = units.map((q, j) => ({ orderItemId: o.itemIds[j]!, quantity: q })).filter((x) => x.quantity > 0);
      out.push({ refundId: newId(), orderId: o.orderId, userId: o.userId, k: k + 1, items });
    }
  });
  return out;
}

/**
 * The refunds' rows, as RefundsRepository.insertRequest writes them, in bulk: the refund rows (PENDING, requested by
 * the order's customer), their lines, and the units held pending on the order lines. The idempotency key starts with
 * the batch's tag, so a batch's refunds are found again by `idempotency_key LIKE 'tag-%'`.
 */
export async function insertRefunds(c: mysql.Connection, batches: RefundBatch[]): Promise<void> {
  const now = new Date();
  const all = batches.flatMap((b) => b.refunds.map((r) => ({ r, tag: b.tag })));
  await insertBatched(
    c,
    'INSERT INTO refunds (id, order_id, user_id, kind, requested_by, requester_role, idempotency_key, request_hash, request_id, status, created_at)',
    all.map(({ r, tag }) => [
      r.refundId,
      r.orderId,
      r.userId,
      RefundKind.REFUND,
      r.userId,
      Role.CUSTOMER,
      `${tag}-${r.k}-${r.orderId}`,
      refundRequestHash(RefundKind.REFUND, r.orderId, r.items),
      `bench-${tag}`,
      'PENDING',
      now,
    ]),
  );
  await insertBatched(
    c,
    'INSERT INTO refund_items (refund_id, order_item_id, quantity)',
    all.flatMap(({ r }) => r.items.map((i) => [r.refundId, i.orderItemId, i.quantity])),
    3000,
  );
  await c.query(
    `UPDATE order_items i JOIN (SELECT order_item_id, SUM(quantity) AS q FROM refund_items GROUP BY order_item_id) x ON x.order_item_id = i.id
     SET i.refund_pending_quantity = x.q WHERE i.refunded_quantity + x.q <= i.quantity`,
  );
}
