import type { FastifyRequest } from 'fastify';
import type { RateLimits, RateScope } from '../services/rate-limits';

/**
 * A fast path's rate limits: counts the request's `calls` in each scope given (a public read: per IP; a signed-in
 * call: per IP, then per user, as the middlewares do) before any work, and answers the RateLimit-* headers of the
 * most restrictive (the lowest remaining), {} when no limit applies, or null when the request is over a limit: the
 * fast path then leaves it to tRPC, whose middleware counts it again on a key already past its limit (a fixed
 * window: that changes neither the refusal nor when it ends) and answers the 429 exactly as for any other
 * procedure. A request the fast path leaves to tRPC for another reason (an unknown product, input the schema
 * refuses) is counted twice, once here and once there.
 */
export async function fastPathLimit(
  limits: RateLimits | null,
  procedure: string,
  req: FastifyRequest,
  calls: number,
  subjects: readonly (readonly [RateScope, string | number])[] = [['ip', req.ip]],
): Promise<Record<string, string> | null> {
  let tightest: { limit: number; remaining: number; resetSeconds: number } | null = null;
  for (const [scope, subject] of subjects) {
    if (!limits?.limits(procedure, scope)) continue;
    const outcome = await limits.consume(procedure, scope, subject, req.log, calls);
    if (!outcome) continue;
    if (!outcome.ok) return null;
    if (!tightest || outcome.note.remaining < tightest.remaining) tightest = outcome.note;
  }
  if (!tightest) return {};
  return { 'ratelimit-limit': String(tightest.limit), 'ratelimit-remaining': String(tightest.remaining), 'ratelimit-reset': String(tightest.resetSeconds) };
}
