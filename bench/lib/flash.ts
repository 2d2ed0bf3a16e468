import { Agent, request } from 'node:http';
import { orderBody } from './load';
import type { Customer } from './seed';
import { Samples, summarize, type LatencySummary } from './stats';

/**
 * (c) A flash sale: every customer orders the same product at the same
 * moment. All requests are due at t0 and go out through at most `inFlight`
 * connections (the rest wait client-side for a free one, as they would in
 * front of a load balancer); each is timed from t0 (what a customer who
 * clicked at t0 waits) and from its own send.
 */

export interface FlashAnswers {
  requests: number;
  inFlight: number;
  accepted: number;
  outOfStock: number;
  otherStatus: Record<string, number>;
  networkErrors: number;
  errorSamples: string[];
  /** From t0 to the answer. */
  answerMs: LatencySummary;
  /** From the request's own send to its answer. */
  serviceMs: LatencySummary;
  /** The same, for the first `inFlight` requests (each on a connection opened in the burst) and for the rest (on a reused connection). */
  serviceFirstWaveMs: LatencySummary;
  serviceLaterMs: LatencySummary;
  wallMs: number;
  acceptedOrderIds: string[];
}

interface Answer {
  status: number;
  body: string;
}

function post(agent: Agent, port: number, path: string, token: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout after 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function flashSale(opts: { port: number; customers: Customer[]; productId: number; inFlight: number; keyPrefix: string }): Promise<FlashAnswers> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.inFlight, maxFreeSockets: opts.inFlight });
  const answer = new Samples();
  const service = new Samples();
  const firstWave = new Samples();
  const later = new Samples();
  const otherStatus: Record<string, number> = {};
  const errorSamples: string[] = [];
  const acceptedOrderIds: string[] = [];
  let accepted = 0;
  let outOfStock = 0;
  let networkErrors = 0;
  const salt = Math.random().toString(36).slice(2, 10);
  let next = 0;
  // Every request is due at t0; `inFlight` lanes send them, each the next one as soon as its previous one is answered.
  const lane = async () => {
    for (;;) {
      const i = next++;
      const c = opts.customers[i];
      if (!c) return;
      const body = orderBody(`${opts.keyPrefix}-${salt}-${i.toString(36)}`, opts.productId);
      const sentAt = performance.now();
      try {
        const res = await post(agent, opts.port, '/trpc/orders.place', c.token, body);
        const now = performance.now();
        answer.push(now - t0);
        service.push(now - sentAt);
        (i < opts.inFlight ? firstWave : later).push(now - sentAt);
        if (res.status === 200) {
          accepted++;
          const id = (JSON.parse(res.body) as { result?: { data?: { orderId?: string } } }).result?.data?.orderId;
          if (id) acceptedOrderIds.push(id);
        } else if (res.status === 412 && res.body.includes('"reason":"OUT_OF_STOCK"')) outOfStock++;
        else {
          otherStatus[res.status] = (otherStatus[res.status] ?? 0) + 1;
          if (errorSamples.length < 5) errorSamples.push(`${res.status} ${res.body.slice(0, 300)}`);
        }
      } catch (err) {
        networkErrors++;
        answer.push(performance.now() - t0);
        if (errorSamples.length < 5) errorSamples.push(String(err));
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(opts.inFlight, opts.customers.length) }, lane));
  const wallMs = performance.now() - t0;
  agent.destroy();
  return {
    requests: opts.customers.length,
    inFlight: opts.inFlight,
    accepted,
    outOfStock,
    otherStatus,
    networkErrors,
    errorSamples,
    answerMs: summarize(answer.values()),
    serviceMs: summarize(service.values()),
    serviceFirstWaveMs: summarize(firstWave.values()),
    serviceLaterMs: summarize(later.values()),
    wallMs: Math.round(wallMs),
    acceptedOrderIds,
  };
}
