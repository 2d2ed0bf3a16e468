import { Agent, request } from 'node:http';
import type { Redis } from 'ioredis';
import { redisKeys } from '@bazaar/platform';
import { CouponStore } from '@bazaar/queue';
import type { Customer } from './seed';
import { Samples, summarize, type LatencySummary } from './stats';

/**
 * Claim load that autocannon cannot shape: the storm (every claim due at the
 * same instant, as flash.ts does for orders) and the Lua script's own
 * ceiling (no api: ioredis straight to Redis).
 */

export interface StormAnswers {
  requests: number;
  sockets: number;
  customers: number;
  issued: number;
  soldOut: number;
  already: number;
  otherStatus: Record<string, number>;
  networkErrors: number;
  errorSamples: string[];
  /** From t0 (every claim due then) to its answer. */
  answerMs: LatencySummary;
  /** From the request's own send to its answer. */
  serviceMs: LatencySummary;
  wallMs: number;
  /** Customers who heard yes. */
  issuedTo: number[];
}

function post(agent: Agent, port: number, path: string, token: string, body: string): Promise<{ status: number; body: string }> {
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

/** `requests` coupons.claim due at t0, customer i % customers.length, through at most `sockets` connections. */
export async function claimStorm(opts: { port: number; couponId: number; customers: Customer[]; requests: number; sockets: number }): Promise<StormAnswers> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.sockets, maxFreeSockets: opts.sockets });
  const answer = new Samples();
  const service = new Samples();
  const otherStatus: Record<string, number> = {};
  const errorSamples: string[] = [];
  const issuedTo: number[] = [];
  let soldOut = 0;
  let already = 0;
  let networkErrors = 0;
  const body = JSON.stringify({ couponId: opts.couponId });
  let next = 0;
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.requests) return;
      const c = opts.customers[i % opts.customers.length]!;
      const sentAt = performance.now();
      try {
        const res = await post(agent, opts.port, '/trpc/coupons.claim', c.token, body);
        const now = performance.now();
        answer.push(now - t0);
        service.push(now - sentAt);
        if (res.status === 200) issuedTo.push(c.userId);
        else if (res.status === 412 && res.body.includes('"reason":"COUPON_SOLD_OUT"')) soldOut++;
        else if (res.status === 412 && res.body.includes('"reason":"COUPON_ALREADY_CLAIMED"')) already++;
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
  await Promise.all(Array.from({ length: Math.min(opts.sockets, opts.requests) }, lane));
  const wallMs = performance.now() - t0;
  agent.destroy();
  return {
    requests: opts.requests,
    sockets: opts.sockets,
    customers: opts.customers.length,
    issued: issuedTo.length,
    soldOut,
    already,
    otherStatus,
    networkErrors,
    errorSamples,
    answerMs: summarize(answer.values()),
    serviceMs: summarize(service.values()),
    wallMs: Math.round(wallMs),
    issuedTo,
  };
}

export interface LuaCeiling {
  inFlight: number;
  seconds: number;
  claims: number;
  claimsPerSec: number;
  /** Answers other than 'ok' (there should be none: the coupon never runs out). */
  notOk: Record<string, number>;
  latencyMs: LatencySummary;
}

/**
 * The claim script alone: `inFlight` claims always outstanding on one ioredis
 * connection (so they travel pipelined), each by a new customer id on a
 * coupon that never runs out (a Redis-only coupon: `init` writes its copy),
 * through CouponStore.claim exactly as the api calls it.
 */
export async function luaCeiling(opts: { redis: Redis; prefix: string; couponId: number; inFlight: number; seconds: number }): Promise<LuaCeiling> {
  const store = new CouponStore(opts.redis, redisKeys(opts.prefix));
  const now = Date.now();
  await store.init({
    id: opts.couponId,
    quantity: 1_000_000_000,
    claimed: 0,
    validFromMs: now - 60_000,
    validUntilMs: now + 3_600_000,
    terms: { kind: 'FIXED', value: 500, maxDiscount: null, minOrderAmount: 0, storeId: null },
  });
  const lat = new Samples();
  const notOk: Record<string, number> = {};
  let userId = 1;
  let claims = 0;
  const until = performance.now() + opts.seconds * 1000;
  const started = performance.now();
  const lane = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      const a = await store.claim(opts.couponId, userId++, Date.now());
      lat.push(performance.now() - t);
      if (a === 'ok') claims++;
      else notOk[a] = (notOk[a] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: opts.inFlight }, lane));
  const seconds = (performance.now() - started) / 1000;
  return {
    inFlight: opts.inFlight,
    seconds: Math.round(seconds * 10) / 10,
    claims,
    claimsPerSec: Math.round(claims / seconds),
    notOk,
    latencyMs: summarize(lat.values()),
  };
}
