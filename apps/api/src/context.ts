import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@bazaar/platform';
import type { Deps } from './deps';
import { RateLimitNotes } from './services/rate-limits';

export interface Ctx {
  deps: Deps;
  requestId: string;
  log: Logger;
  authorization: string | undefined;
  /** The caller's address as Fastify reads it (req.ip): the key of the per-IP rate limits. */
  ip: string;
  /** The rate limits this request met; the answer's RateLimit-* headers come from here (one per request, batch or not). */
  rateLimits: RateLimitNotes;
}

export function createContextFactory(deps: Deps) {
  return ({ req }: { req: FastifyRequest; res?: FastifyReply }): Ctx => ({
    deps,
    requestId: String(req.id),
    log: req.log as unknown as Logger,
    authorization: req.headers.authorization,
    ip: req.ip,
    rateLimits: new RateLimitNotes(),
  });
}
