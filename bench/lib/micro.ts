import type mysql from 'mysql2/promise';
import { newId } from '@bazaar/platform';
import type { Product } from './seed';
import { Samples, summarize, type LatencySummary } from './stats';

/**
 * (a) The raw MariaDB ceiling: N connections, each a closed loop running
 * exactly the statements of the worker's BALANCE order transaction
 * (ApplyOrderWorkflow + OrderSettlementRepository), sent the way TypeORM
 * sends them (text protocol, client-side parameters, one round trip each):
 *
 *   START TRANSACTION
 *   INSERT INTO orders …            (settled_at = CURRENT_TIMESTAMP(3))
 *   INSERT INTO order_items …       (one line)
 *   SAVEPOINT order_effects
 *   UPDATE wallet_accounts … balance >= ?
 *   INSERT INTO wallet_entries … SELECT … FROM wallet_accounts
 *   UPDATE products … stock >= ?
 *   COMMIT
 *
 * No queue, no API, no Redis. Sent either one statement a round trip or
 * batched into three round trips (see TxShape). Each connection serves its own slice of the
 * customers (the worker's customer lock means one customer is never in two
 * transactions at once) and random products, so it measures the database,
 * not one hot row.
 */

/**
 * `statements`: one round trip per statement, as the worker sent them when
 * this bench was written. `batched`: the same statements in three round
 * trips (multi-statement queries: open = START TRANSACTION + order + lines
 * + SAVEPOINT, effects = debit + ledger + stock, COMMIT), as the worker's
 * batched hot path (OrderSettlementRepository.openOrderBatch /
 * applyEffectsBatch) sends them.
 */
export type TxShape = 'statements' | 'batched';

export interface MicroResult {
  shape: TxShape;
  connections: number;
  seconds: number;
  committed: number;
  txPerSec: number;
  latencyMs: LatencySummary;
  retries: number;
  refused: number;
  errors: string[];
}

const INSERT_ORDER = `INSERT INTO orders (id, user_id, status, failure_reason, payment_method, fulfillment, items_total, discount_total,
  points_used, cash_paid, points_earned, idempotency_key, request_id, accepted_at, settled_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, IF(? = 'PENDING', NULL, CURRENT_TIMESTAMP(3)))`;
const INSERT_ITEMS = `INSERT INTO order_items (order_id, line_no, product_id, store_id, product_name, unit_price, quantity, subtotal, discount, points, cash, earned)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const DEBIT = 'UPDATE wallet_accounts SET balance = balance - ? WHERE user_id = ? AND balance >= ?';
const LEDGER = `INSERT INTO wallet_entries (user_id, kind, amount, balance_after, ref)
  SELECT user_id, ?, ?, balance, ? FROM wallet_accounts WHERE user_id = ?`;
const TAKE_STOCK = `UPDATE products SET stock = stock - ? WHERE id = ? AND status = 'ACTIVE' AND stock >= ?`;

type Ok = { affectedRows: number };

export async function microBench(opts: {
  /** Connections for `batched` need multipleStatements. */
  connect: () => Promise<mysql.Connection>;
  shape: TxShape;
  connections: number;
  seconds: number;
  customers: number[];
  products: Product[];
  fulfillment: unknown;
  tag: string;
}): Promise<MicroResult> {
  const conns = await Promise.all(Array.from({ length: opts.connections }, () => opts.connect()));
  const fulfillment = JSON.stringify(opts.fulfillment);
  const latencies = new Samples();
  let committed = 0;
  let retries = 0;
  let refused = 0;
  let seq = 0;
  const errors: string[] = [];
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;

  const client = async (c: mysql.Connection, slot: number) => {
    const mine = opts.customers.filter((_, i) => i % opts.connections === slot);
    let turn = 0;
    while (performance.now() < deadline) {
      const userId = mine[turn++ % mine.length]!;
      const p = opts.products[Math.floor(Math.random() * opts.products.length)]!;
      const id = newId();
      const key = `${opts.tag}-${(seq++).toString(36)}`;
      const t0 = performance.now();
      const orderParams = [id, userId, 'PAID', null, 'BALANCE', fulfillment, p.price, 0, 0, p.price, 0, key, key, new Date(), 'PAID'];
      const itemParams = [id, 0, p.id, p.storeId, p.name, p.price, 1, p.price, 0, 0, p.price, 0];
      for (let attempt = 1; ; attempt++) {
        try {
          if (opts.shape === 'batched') {
            await c.query(`START TRANSACTION; ${INSERT_ORDER}; ${INSERT_ITEMS}; SAVEPOINT order_effects`, [...orderParams, ...itemParams]);
            const [effects] = (await c.query(`${DEBIT}; ${LEDGER}; ${TAKE_STOCK}`, [
              p.price,
              userId,
              p.price,
              'ORDER_PAYMENT',
              -p.price,
              id,
              userId,
              1,
              p.id,
              1,
            ])) as unknown as [Ok[]];
            if (effects[0]?.affectedRows !== 1 || effects[2]?.affectedRows !== 1) refused++;
          } else {
            await c.query('START TRANSACTION');
            await c.query(INSERT_ORDER, orderParams);
            await c.query(INSERT_ITEMS, itemParams);
            await c.query('SAVEPOINT order_effects');
            const [debit] = (await c.query(DEBIT, [p.price, userId, p.price])) as unknown as [Ok];
            if (debit.affectedRows === 1) {
              await c.query(LEDGER, ['ORDER_PAYMENT', -p.price, id, userId]);
              const [take] = (await c.query(TAKE_STOCK, [1, p.id, 1])) as unknown as [Ok];
              if (take.affectedRows !== 1) refused++;
            } else refused++;
          }
          await c.query('COMMIT');
          committed++;
          latencies.push(performance.now() - t0);
          break;
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          const errno = (err as { errno?: number }).errno;
          if ((errno === 1213 || errno === 1205) && attempt < 5) {
            retries++;
            continue;
          }
          if (errors.length < 5) errors.push(String(err));
          break;
        }
      }
    }
  };

  await Promise.all(conns.map((c, i) => client(c, i)));
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(conns.map((c) => c.end()));
  return {
    shape: opts.shape,
    connections: opts.connections,
    seconds: Math.round(seconds * 10) / 10,
    committed,
    txPerSec: Math.round(committed / seconds),
    latencyMs: summarize(latencies.values()),
    retries,
    refused,
    errors,
  };
}
