import autocannon from 'autocannon';
import type mysql from 'mysql2/promise';
import { FULFILLMENT, type LoadResult } from './load';

/**
 * Load for the money bench: one autocannon driver for every closed-loop
 * phase (claims, the bare route, orders), each request built by the caller
 * from a counter that the caller may share across phases (so a customer
 * never claims the same coupon twice, or uses the same claim twice); and the
 * counters it reads (the workers' /metrics, MariaDB's Com_* and Questions).
 */

export interface Drive extends LoadResult {
  /** Answers by HTTP status, and 412 refusals by data.reason (a few body samples say what else came back). */
  reasons: Record<string, number>;
  /** All answers per second, whatever their status. */
  answersPerSec: number;
}

/** The autocannon instance running now, so Ctrl-C can stop it. */
export let current: autocannon.Instance | null = null;

export function drive(opts: {
  port: number;
  path: string;
  connections: number;
  seconds: number;
  /** The i-th request's Authorization header and body. */
  request: (i: number) => { auth: string; body: string };
  next: { i: number };
}): Promise<Drive> {
  const errorSamples: string[] = [];
  const reasons: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${opts.port}`,
        connections: opts.connections,
        duration: opts.seconds,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: opts.path,
            setupRequest: (req) => {
              const r = opts.request(opts.next.i++);
              return { ...req, headers: { 'content-type': 'application/json', authorization: r.auth }, body: r.body };
            },
            onResponse: (status, body) => {
              if (status === 412) {
                const reason = /"reason":"([A-Z_]+)"/.exec(body)?.[1] ?? '412';
                reasons[reason] = (reasons[reason] ?? 0) + 1;
              } else if (status !== 200 && errorSamples.length < 5) errorSamples.push(`${status} ${body.slice(0, 300)}`);
            },
          },
        ],
      },
      (err: unknown, result: autocannon.Result) => {
        current = null;
        if (err) return reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
        const statusCounts: Record<string, number> = {};
        for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statusCounts[code] = v.count ?? 0;
        const ok = statusCounts['200'] ?? 0;
        const all = Object.values(statusCounts).reduce((s, x) => s + x, 0);
        const l = result.latency as autocannon.Histogram & { p99_9?: number };
        resolve({
          connections: opts.connections,
          seconds: result.duration,
          sent: result.requests.sent,
          ok,
          acceptedPerSec: Math.round(ok / result.duration),
          answersPerSec: Math.round(all / result.duration),
          latencyMs: { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p99_9 ?? l.p99, max: l.max, mean: Math.round(l.mean * 10) / 10 },
          statusCounts,
          reasons,
          errors: result.errors,
          timeouts: result.timeouts,
          errorSamples,
        });
      },
    );
    current = instance;
  });
}

/** The body of an orders.place call: one line, BALANCE, with a coupon and points when given. */
export function moneyOrderBody(idempotencyKey: string, productId: number, coupon?: { couponId: number; points: number }): string {
  return JSON.stringify({
    idempotencyKey,
    items: [{ productId, quantity: 1 }],
    ...(coupon ? { couponId: coupon.couponId, points: coupon.points } : {}),
    paymentMethod: 'BALANCE',
    fulfillment: FULFILLMENT,
  });
}

// ---------------------------------------------------------------- counters

/** Prometheus counters by name and labels, e.g. `bazaar_order_tx_statements_total{kind="balance",step="tx"}`. */
export type CounterSnapshot = Map<string, number>;

const WANTED = /^(bazaar_order_tx_statements_total|bazaar_order_tx_round_trips_total|bazaar_points_total)\{([^}]*)\} (\S+)$/;

/** The order-transaction counters of these processes, summed. */
export async function scrapeCounters(ports: number[]): Promise<CounterSnapshot> {
  const out: CounterSnapshot = new Map();
  for (const port of ports) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    for (const line of text.split('\n')) {
      const m = WANTED.exec(line);
      if (!m) continue;
      // Labels in a fixed order, whatever order the registry printed them in.
      const labels = [...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => `${x[1]}=${x[2]}`).sort();
      const key = `${m[1]}{${labels.join(',')}}`;
      out.set(key, (out.get(key) ?? 0) + Number(m[3]));
    }
  }
  return out;
}

export function counterDelta(a: CounterSnapshot, b: CounterSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Every Com_* counter and Questions, as totals (deltas: comDelta). */
export async function comSnapshot(c: mysql.Connection): Promise<Record<string, number>> {
  const [rows] = await c.query(
    `SHOW GLOBAL STATUS WHERE Variable_name LIKE 'Com\\_%' OR Variable_name IN ('Questions', 'Innodb_row_lock_waits', 'Innodb_row_lock_time', 'Innodb_deadlocks')`,
  );
  const out: Record<string, number> = {};
  for (const r of rows as { Variable_name: string; Value: string }[]) out[r.Variable_name] = Number(r.Value);
  return out;
}

/** The counters that moved between two snapshots. */
export function comDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}
