import autocannon from 'autocannon';
import type { Customer, Product } from './seed';

/** The body of one orders.place call (tRPC over HTTP: POST /trpc/orders.place with the input as JSON). */
export function orderBody(idempotencyKey: string, productId: number): string {
  return JSON.stringify({
    idempotencyKey,
    items: [{ productId, quantity: 1 }],
    paymentMethod: 'BALANCE',
    fulfillment: { type: 'DELIVERY', address: { recipient: 'a', phone: '010-0000-0000', postalCode: '04524', line1: 'x' } },
  });
}

export const FULFILLMENT = { type: 'DELIVERY', address: { recipient: 'a', phone: '010-0000-0000', postalCode: '04524', line1: 'x' } };

export interface LoadResult {
  connections: number;
  seconds: number;
  sent: number;
  ok: number;
  acceptedPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  /** A few bodies of answers other than 200, to say what went wrong. */
  errorSamples: string[];
}

/** The autocannon instance running now, so Ctrl-C can stop it. */
export let current: autocannon.Instance | null = null;

/**
 * Drives orders.place at a fixed number of connections for a while: each
 * request gets the next customer's token (round robin) and a fresh
 * idempotency key, and a random product.
 */
export function driveOrders(opts: {
  port: number;
  connections: number;
  seconds: number;
  customers: Customer[];
  products: Product[];
  keyPrefix: string;
  /** Called every tickMs (default 5 s) with the answers so far. */
  onTick?: (ok: number, other: number) => void;
  tickMs?: number;
}): Promise<LoadResult> {
  let n = 0;
  const auth = opts.customers.map((c) => `Bearer ${c.token}`);
  const errorSamples: string[] = [];
  const salt = Math.random().toString(36).slice(2, 8);
  let ok = 0;
  let other = 0;
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
            path: '/trpc/orders.place',
            setupRequest: (req) => {
              const i = n++;
              const product = opts.products[(i * 7919 + Math.floor(Math.random() * 13)) % opts.products.length]!;
              return {
                ...req,
                headers: { 'content-type': 'application/json', authorization: auth[i % auth.length] },
                body: orderBody(`${opts.keyPrefix}-${salt}-${i.toString(36)}`, product.id),
              };
            },
            onResponse: (status, body) => {
              if (status !== 200 && errorSamples.length < 5) errorSamples.push(`${status} ${body.slice(0, 300)}`);
            },
          },
        ],
      },
      (err: unknown, result: autocannon.Result) => {
        current = null;
        clearInterval(tick);
        if (err) return reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
        const statusCounts: Record<string, number> = {};
        for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statusCounts[code] = v.count ?? 0;
        const okCount = statusCounts['200'] ?? 0;
        const l = result.latency as autocannon.Histogram & { p99_9?: number };
        resolve({
          connections: opts.connections,
          seconds: result.duration,
          sent: result.requests.sent,
          ok: okCount,
          acceptedPerSec: Math.round(okCount / result.duration),
          latencyMs: { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p99_9 ?? l.p99, max: l.max, mean: Math.round(l.mean * 10) / 10 },
          statusCounts,
          errors: result.errors,
          timeouts: result.timeouts,
          errorSamples,
        });
      },
    );
    current = instance;
    instance.on('response', (_client: autocannon.Client, statusCode: number) => {
      if (statusCode === 200) ok++;
      else other++;
    });
    const tick = setInterval(() => opts.onTick?.(ok, other), opts.tickMs ?? 5000);
  });
}
