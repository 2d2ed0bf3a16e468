import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@bazaar/platform';
import type { Deps } from './deps';

export interface Ctx {
  deps: Deps;
  requestId: string;
  log: Logger;
  authorization: string | undefined;
}

export function createContextFactory(deps: Deps) {
  return ({ req }: { req: FastifyRequest; res?: FastifyReply }): Ctx => ({
    deps,
    requestId: String(req.id),
    log: req.log as unknown as Logger,
    authorization: req.headers.authorization,
  });
}
