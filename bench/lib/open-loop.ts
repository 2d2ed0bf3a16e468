import http from 'node:http';
import { orderBody } from './load';
import type { Customer, Product } from './seed';
import { Samples, sleep, summarize, type LatencySummary } from './stats';

export interface OpenLoopResult {
  rate: number;
  seconds: number;
  sent: number;
  ok: number;
  /** Answers other than 200, by status (a sold-out refusal as OUT_OF_STOCK). */
  other: Record<string, number>;
  errors: number;
  /** From each request's scheduled time (not the moment it went out) to its answer: queueing is not hidden. */
  latencyMs: LatencySummary & { p999: number };
  /** The largest delay between a request's scheduled time and its sending (the driver's own lag). */
  maxSendLagMs: number;
  /** The orders accepted (200), with the time each was scheduled (performance.now()). */
  accepted: string[];
  errorSamples: string[];
  /** TCP connections the driver opened (keep-alive: more than a few hundred means the pool churned). */
  connectionsOpened: number;
}

/**
 * Orders at a fixed offered rate, whatever the api's pace: request i is due at start + i / rate and is sent then,
 * on a keep-alive connection pool, without waiting for earlier answers (an open loop: a slow api makes requests
 * pile up, and their latency counts from when they were due, so queueing shows instead of hiding in a closed
 * loop's slower sending). Each request: the next customer (round robin), a fresh idempotency key, a random product.
 */
export async function openLoopOrders(opts: {
  port: number;
  rate: number;
  seconds: number;
  customers: Customer[];
  products: Product[];
  keyPrefix: string;
  maxSockets?: number;
}): Promise<OpenLoopResult> {
  // Free sockets are kept up to the pool's size (Node's default keeps 256 and closes the rest, so a burst of answers
  // would make the next requests open new connections, a churn no balancer in front of an api has).
  const maxSockets = opts.maxSockets ?? 2048;
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const auth = opts.customers.map((c) => `Bearer ${c.token}`);
  const salt = Math.random().toString(36).slice(2, 8);
  const lat = new Samples();
  const other: Record<string, number> = {};
  const accepted: string[] = [];
  const errorSamples: string[] = [];
  let ok = 0;
  let errors = 0;
  let maxSendLagMs = 0;
  let connectionsOpened = 0;
  const seen = new WeakSet<object>();
  const total = Math.round(opts.rate * opts.seconds);
  const pending: Promise<void>[] = [];
  const started = performance.now();

  const send = (i: number, due: number) =>
    new Promise<void>((resolve) => {
      const product = opts.products[(i * 7919 + Math.floor(Math.random() * 13)) % opts.products.length]!;
      const body = orderBody(`${opts.keyPrefix}-${salt}-${i.toString(36)}`, product.id);
      const req = http.request(
        {
          agent,
          host: '127.0.0.1',
          port: opts.port,
          method: 'POST',
          path: '/trpc/orders.place',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: auth[i % auth.length] },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            lat.push(performance.now() - due);
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode === 200) {
              ok++;
              const id = /"orderId":"([0-9A-Z]{26})"/.exec(text)?.[1];
              if (id) accepted.push(id);
            } else if (res.statusCode === 412 && text.includes('"reason":"OUT_OF_STOCK"')) {
              other.OUT_OF_STOCK = (other.OUT_OF_STOCK ?? 0) + 1;
            } else {
              const k = String(res.statusCode);
              other[k] = (other[k] ?? 0) + 1;
              if (errorSamples.length < 5) errorSamples.push(`${k} ${text.slice(0, 300)}`);
            }
            resolve();
          });
        },
      );
      req.on('socket', (socket) => {
        if (seen.has(socket)) return;
        seen.add(socket);
        connectionsOpened++;
      });
      req.on('error', (err) => {
        errors++;
        lat.push(performance.now() - due);
        if (errorSamples.length < 5) errorSamples.push(String(err));
        resolve();
      });
      req.end(body);
    });

  for (let i = 0; i < total; ) {
    const now = performance.now();
    // Everything due by now goes out at once (timers fire late by a millisecond or so).
    while (i < total && started + (i * 1000) / opts.rate <= now) {
      const due = started + (i * 1000) / opts.rate;
      maxSendLagMs = Math.max(maxSendLagMs, now - due);
      pending.push(send(i, due));
      i++;
    }
    if (i < total) await sleep(Math.max(0, started + (i * 1000) / opts.rate - performance.now()));
  }
  await Promise.all(pending);
  agent.destroy();
  const values = lat.values();
  const sorted = Float64Array.from(values).sort();
  const p999 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(0.999 * sorted.length) - 1)]! : 0;
  return {
    rate: opts.rate,
    seconds: opts.seconds,
    sent: total,
    ok,
    other,
    errors,
    latencyMs: { ...summarize(values), p999 },
    maxSendLagMs,
    accepted,
    errorSamples,
    connectionsOpened,
  };
}
