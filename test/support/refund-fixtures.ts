import type { DataSource } from 'typeorm';
import { selectRows } from '@bazaar/db';
import { startFakeGateway, type Ledger } from '@bazaar/fake-gateway';
import { startTestApi, type TestApi } from './api-harness';
import { isolatedEnv } from './isolated-env';
import { startProcess, type RunningProcess } from './processes';
import type { moneyFixtures } from './money-fixtures';

/** One row of the fake gateway's cancelAttempts (not exported by the package on its own). */
export type CancelAttempt = Ledger['cancelAttempts'][number];
export type CancelFault = 'fail5xx' | 'slow' | 'lost' | 'decline' | 'clear';

const post = async (url: string, body: unknown): Promise<unknown> => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return res.json();
};

/** The fake gateway's test controls (POST /__test/payment-keys, /__test/cancel-faults; GET /__test/ledger). */
export function gatewayControls(url: () => string) {
  return {
    /** A paymentKey bound to `amount`, whose confirm behaves as `behavior` says. */
    async mint(amount: number, behavior: 'ok' | 'decline' = 'ok'): Promise<string> {
      return ((await post(`${url()}/__test/payment-keys`, { amount, behavior })) as { paymentKey: string }).paymentKey;
    },
    /** A fault switch for the next `times` cancels of the paymentKey ('clear' removes it). */
    async cancelFault(paymentKey: string, behavior: CancelFault, opts: { times?: number; delayMs?: number } = {}): Promise<void> {
      await post(`${url()}/__test/cancel-faults`, { paymentKey, behavior, ...opts });
    },
    /** Everything the gateway recorded, or what concerns one order. */
    async ledger(orderId?: string): Promise<Ledger> {
      const res = await fetch(`${url()}/__test/ledger${orderId === undefined ? '' : `/orders/${orderId}`}`);
      return (await res.json()) as Ledger;
    },
  };
}

/** A seller with a store holding the given products. */
export const storeWith = (fx: ReturnType<typeof moneyFixtures>, products: { name: string; price: number; stock: number }[]) =>
  fx.store(products, 'Refund store');

export type Client = ReturnType<TestApi['client']>;

/** A fresh idempotency key (8–64 of A–Z a–z 0–9 _ -). */
export const freshKey = (tag: string) => `${tag}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;

type Num = number | string;
interface OrderBooks {
  id: string;
  cash_paid: Num;
  cash_refunded: Num;
  payment_key: string | null;
  amount: Num | null;
  canceled_amount: Num | null;
}
interface RefundBooks {
  id: string;
  order_id: string;
  status: string;
  cash_returned: Num | null;
  gateway_transaction_key: string | null;
}

/**
 * Card orders whose books disagree with the gateway's, to the won (none: []).
 * For each order: the gateway payment's balanceAmount = payments.amount −
 * payments.canceled_amount = cashPaid − Σ cashReturned of its COMPLETED
 * refunds (= orders.cash_refunded); exactly one applied cancel per completed
 * refund that gave cash back, under the refund's id as Idempotency-Key, of
 * its cashReturned, whose transactionKey is refunds.gateway_transaction_key;
 * no applied cancel under any other key (a FAILED or PENDING refund's).
 */
export async function cardBookProblems(ds: DataSource, ledger: Ledger, orderIds: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  if (orderIds.length === 0) return problems;
  const marks = orderIds.map(() => '?').join(',');
  const orders = await selectRows<OrderBooks>(
    ds,
    `SELECT o.id, o.cash_paid, o.cash_refunded, p.payment_key, p.amount, p.canceled_amount
     FROM orders o LEFT JOIN payments p ON p.order_id = o.id WHERE o.id IN (${marks})`,
    [...orderIds],
  );
  const refunds = await selectRows<RefundBooks>(
    ds,
    `SELECT id, order_id, status, cash_returned, gateway_transaction_key FROM refunds WHERE order_id IN (${marks}) ORDER BY id`,
    [...orderIds],
  );
  if (orders.length !== orderIds.length) problems.push(`${orderIds.length - orders.length} of the orders are not in MySQL`);
  for (const o of orders) {
    const id = o.id;
    if (o.payment_key === null) {
      problems.push(`order ${id}: no payment row`);
      continue;
    }
    const paymentKey = o.payment_key;
    const payment = ledger.payments.find((p) => p.paymentKey === paymentKey);
    if (!payment) {
      problems.push(`order ${id}: the gateway has no payment ${paymentKey}`);
      continue;
    }
    const ours = Number(o.amount) - Number(o.canceled_amount);
    const completed = refunds.filter((r) => r.order_id === id && r.status === 'COMPLETED');
    const returned = completed.reduce((s, r) => s + Number(r.cash_returned ?? 0), 0);
    if (payment.balanceAmount !== ours) problems.push(`order ${id}: gateway balance ${payment.balanceAmount}, payments.amount − canceled_amount ${ours}`);
    if (ours !== Number(o.cash_paid) - returned) {
      problems.push(`order ${id}: payments say ${ours} left, cashPaid ${Number(o.cash_paid)} − Σ cashReturned ${returned}`);
    }
    if (Number(o.cash_refunded) !== returned) problems.push(`order ${id}: orders.cash_refunded ${Number(o.cash_refunded)}, Σ cashReturned ${returned}`);
    const cancels = ledger.cancels.filter((c) => c.paymentKey === paymentKey);
    const giving = completed.filter((r) => Number(r.cash_returned ?? 0) > 0);
    if (cancels.length !== giving.length) problems.push(`order ${id}: ${cancels.length} applied cancels for ${giving.length} completed card refunds`);
    for (const r of giving) {
      const mine = cancels.filter((c) => c.idempotencyKey === r.id);
      if (mine.length !== 1) {
        problems.push(`refund ${r.id}: ${mine.length} applied cancels under its id`);
        continue;
      }
      const c = mine[0]!;
      if (c.amount !== Number(r.cash_returned)) problems.push(`refund ${r.id}: cancel of ${c.amount}, cashReturned ${Number(r.cash_returned)}`);
      if (c.transactionKey !== r.gateway_transaction_key) {
        problems.push(`refund ${r.id}: gateway transactionKey ${c.transactionKey}, ours ${r.gateway_transaction_key ?? 'null'}`);
      }
    }
    const known = new Set(giving.map((r) => r.id));
    for (const c of cancels) {
      if (c.idempotencyKey === null || !known.has(c.idempotencyKey)) {
        problems.push(`order ${id}: applied cancel under ${c.idempotencyKey ?? 'no key'}, not a completed refund`);
      }
    }
  }
  return problems;
}

/**
 * The fleet the refund fault and crash specs run against: a database and
 * prefix of their own, the fake gateway, the api in this process, `workers`
 * worker processes and one scheduler reconciling every second. `workers` is
 * the live list (a spec may kill and replace them); `workerEnv` starts more.
 */
export async function startRefundFleet(
  name: string,
  opts: { workers: number; api?: Record<string, string>; worker: Record<string, string>; scheduler: Record<string, string> },
) {
  const env = await isolatedEnv(name);
  const gw = await startFakeGateway({ port: 0, host: '127.0.0.1', secretKey: 'test_sk_bazaar' });
  const api = await startTestApi({ ...env, ...opts.api });
  const workerEnv = { ...env, LOG_LEVEL: 'warn', PAYMENT_GATEWAY_URL: gw.url, ...opts.worker };
  const started = await Promise.all([
    ...Array.from({ length: opts.workers }, () => startProcess('worker', workerEnv)),
    startProcess('scheduler', { ...env, LOG_LEVEL: 'warn', RECONCILE_CRON: '* * * * * *', ...opts.scheduler }),
  ]);
  const scheduler = started.pop()!;
  const workers: RunningProcess[] = started;
  return {
    env,
    gw,
    api,
    workers,
    scheduler,
    workerEnv,
    async stop(): Promise<void> {
      await Promise.all([...workers, scheduler].map((p) => p.stop()));
      await api.close();
      await gw.close();
    },
  };
}
export type RefundFleet = Awaited<ReturnType<typeof startRefundFleet>>;
