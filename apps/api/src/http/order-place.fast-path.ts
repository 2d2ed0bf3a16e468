import { fastifyRequestHandler, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { getErrorShape, getTRPCErrorFromUnknown } from '@trpc/server/unstable-core-do-not-import';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Ctx } from '../context';
import { appRouter, type AppRouter } from '../router';
import { createCallerFactory } from '../trpc';
import { writeJson } from './write-json';

const PATH = 'orders.place';
const createCaller = createCallerFactory(appRouter);

/**
 * orders.place without the tRPC adapter's per-request cost, same bytes on the wire. The adapter turns each
 * request into a fetch Request (URL, Headers, AbortController, a body stream), negotiates the response and
 * builds a fetch Response; for the order storm's one procedure that is about a third of the api's CPU.
 *
 * This route takes `POST /trpc/orders.place` with a JSON body (as httpLink sends it) and calls the procedure
 * through a server-side caller: the same middlewares (timing, authentication, role), the same input schema,
 * the same resolver. Its answer, or its error formatted by the router's own error formatter and tRPC's HTTP
 * status mapping, is written as the adapter would write it. Anything else — a batch (`?batch=1`), a body that
 * is not a JSON object, another content type, a streaming request — goes to the adapter itself, so every
 * answer stays the adapter's (tested byte for byte in apps/api/test/orders-fast-path.int.spec.ts).
 */
export function orderPlaceFastPath(
  trpcOptions: FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  createContext: (req: FastifyRequest) => Ctx,
): FastifyPluginAsync {
  const adapter = (req: FastifyRequest, reply: FastifyReply) => fastifyRequestHandler({ ...trpcOptions, req, res: reply, path: PATH });
  const config = appRouter._def._config;
  return async (scope) => {
    // As the tRPC plugin does: the body arrives as the string it was, parsed below (or by the adapter).
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post(`/${PATH}`, async (req, reply) => {
      const input = servable(req);
      if (input === NOT_MINE) return adapter(req, reply);
      const ctx = createContext(req);
      let status: number;
      let body: string;
      try {
        const data = await createCaller(ctx).orders.place(input as never);
        status = 200;
        body = `{"result":{"data":${JSON.stringify(data)}}}`;
      } catch (cause) {
        const error = getTRPCErrorFromUnknown(cause);
        trpcOptions.onError?.({ error, type: 'mutation', path: PATH, input, ctx, req: req });
        status = getHTTPStatusCodeFromError(error);
        body = JSON.stringify({ error: getErrorShape({ config, error, type: 'mutation', path: PATH, input, ctx }) });
      }
      // Straight to the socket, head and body in one write, with the RateLimit-* headers (and Retry-After on a 429) that responseMeta adds to the adapter's answers.
      writeJson(req, reply, status, body, ctx.rateLimits.headers());
    });
  };
}

const NOT_MINE = Symbol('the adapter answers');

/** The parsed input of a plain (unbatched, non-streaming) JSON call, or NOT_MINE. */
function servable(req: FastifyRequest): unknown {
  if (req.url.length !== `/trpc/${PATH}`.length) return NOT_MINE; // a query string: ?batch=1 and the like
  if (req.headers['trpc-accept'] !== undefined || typeof req.body !== 'string') return NOT_MINE;
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return NOT_MINE;
  try {
    const input: unknown = JSON.parse(req.body);
    return typeof input === 'object' && input !== null && !Array.isArray(input) ? input : NOT_MINE;
  } catch {
    return NOT_MINE;
  }
}
