import type { FastifyRequest } from 'fastify';
import type { RateLimits } from '../services/rate-limits';

/**
 * A read fast path's rate limit (products.get, products.list: public procedures, so per IP only). Counts the
 * request's `calls` before any work and answers the RateLimit-* headers to send, {} when no limit applies, or null
 * when the request is over its limit: the fast path then leaves it to tRPC, whose middleware counts it again on a
 * key already past its limit (a fixed window: that changes neither the refusal nor when it ends) and answers the
 * 429 exactly as for any other procedure. A request the fast path leaves to tRPC for another reason (an unknown
 * product, input the schema refuses) is counted twice, once here and once there.
 */
export async function fastPathLimit(limits: RateLimits | null, procedure: string, req: FastifyRequest, calls: number): Promise<Record<string, string> | null> {
  if (!limits?.limits(procedure, 'ip')) return {};
  const outcome = await limits.consume(procedure, 'ip', req.ip, req.log, calls);
  if (!outcome) return {};
  if (!outcome.ok) return null;
  const { limit, remaining, resetSeconds } = outcome.note;
  return { 'ratelimit-limit': String(limit), 'ratelimit-remaining': String(remaining), 'ratelimit-reset': String(resetSeconds) };
}
