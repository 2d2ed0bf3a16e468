import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import Fastify, { LogController } from 'fastify';
import { startHealthServer, type Logger } from '@bazaar/platform';
import { createContextFactory } from './context';
import { adminConsole } from './http/admin-console';
import { orderPlaceFastPath } from './http/order-place.fast-path';
import { mayServe, productGetFastPath } from './http/product-get.fast-path';
import { mayServeList, productListFastPath } from './http/product-list.fast-path';
import { mayServeRoomStatus, roomStatusFastPath } from './http/room-status.fast-path';
import { frameworkErrorsAsTrpc } from './http/framework-errors';
import { queryInput, refuseTooDeep } from './http/json-depth';
import { PAGE_SECURITY_HEADERS, SECURITY_HEADERS } from './http/security-headers';
import type { Deps } from './deps';
import { appRouter, type AppRouter } from './router';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
let seq = 0;

/** Fastify hosting tRPC at /trpc, plus /healthz, /readyz and the admin console (Bull Board at /admin/queues, for a signed-in admin) (/metrics is on its own port: startMetricsServer). */
export async function buildServer(deps: Deps, logger: Logger) {
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: deps.config.API_BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 5000 },
    // The caller's x-request-id when it is sane, else a fresh one; it follows the order into the worker.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : `${process.pid.toString(36)}-${Date.now().toString(36)}-${(seq++).toString(36)}`;
    },
  });
  // A content type Fastify has no parser for, or a body over the limit, answered in tRPC's error shape at /trpc.
  app.setErrorHandler(frameworkErrorsAsTrpc);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    reply.headers(req.url.startsWith('/admin/') ? PAGE_SECURITY_HEADERS : SECURITY_HEADERS);
    // Input nested too deep is refused before anything parses it: a GET's here, before the fast paths; a body's below.
    if (req.method === 'GET' && req.url.startsWith('/trpc/') && refuseTooDeep(req, reply, queryInput(req.url))) return reply;
  });
  app.addHook('preHandler', async (req, reply) => {
    if (req.method === 'POST' && req.url.startsWith('/trpc/') && typeof req.body === 'string' && refuseTooDeep(req, reply, req.body)) return reply;
  });
  if (deps.config.API_FAST_PATHS) {
    // products.get and products.list straight from their caches, waitingRoom.status from its room (same wire format); whatever they do not serve goes on to tRPC.
    const getPath = productGetFastPath(deps.productDetails, deps.metrics, deps.rateLimits);
    const listPath = productListFastPath(deps.productLists, deps.metrics, deps.rateLimits);
    const roomPath = roomStatusFastPath(deps.waitingRoom, deps.sessions, deps.metrics, deps.rateLimits);
    // Callback style, so that every other request passes with one or two synchronous checks and no promise.
    app.addHook('onRequest', (req, reply, done) => {
      const [fastPath, name] = mayServe(req)
        ? [getPath, 'products.get']
        : mayServeList(req)
          ? [listPath, 'products.list']
          : mayServeRoomStatus(req)
            ? [roomPath, 'waitingRoom.status']
            : [null, ''];
      if (!fastPath) return done();
      fastPath(req, reply).then(
        (served) => {
          if (!served) done();
        },
        (err: unknown) => {
          req.log.warn({ err }, `${name} fast path failed; tRPC answers`);
          done();
        },
      );
    });
  }
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode >= 500) req.log.warn({ url: req.url, statusCode: reply.statusCode }, 'request failed');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks = await Promise.allSettled([deps.ds.query('SELECT 1'), deps.redis.ping()]);
    const [mysql, redis] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : `down: ${c.reason instanceof Error ? c.reason.message : String(c.reason)}`));
    const ready = checks.every((c) => c.status === 'fulfilled');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', mysql, redis });
  });

  const createContext = createContextFactory(deps);
  if (deps.rateLimits) {
    const unknown = deps.rateLimits.named().filter((p) => !(p in appRouter._def.procedures));
    if (unknown.length) logger.warn({ procedures: unknown }, 'RATE_LIMITS names procedures the api does not have; their limits apply to nothing');
  }
  const trpcOptions = {
    router: appRouter,
    createContext,
    onError: ({ error, path, ctx }) => {
      if (error.code !== 'INTERNAL_SERVER_ERROR') return; // business refusals and bad input are answers, not incidents
      logger.error({ err: error.cause ?? error, path }, 'tRPC internal error');
      deps.notifier.report(error.cause ?? error, { procedure: path, requestId: ctx?.requestId });
    },
    // RateLimit-Limit/-Remaining/-Reset (and Retry-After on a 429): the most restrictive limit the request's calls met.
    responseMeta: ({ ctx }) => (ctx ? { headers: ctx.rateLimits.headers() } : {}),
  } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'];
  // orders.place through a caller, answered as the adapter answers (everything it does not take goes to the adapter).
  if (deps.config.API_FAST_PATHS)
    await app.register(
      orderPlaceFastPath(trpcOptions, (req) => createContext({ req })),
      { prefix: '/trpc' },
    );
  await app.register(fastifyTRPCPlugin, { prefix: '/trpc', trpcOptions });

  await app.register(adminConsole(deps), { prefix: '/admin' });
  return app;
}

/**
 * /metrics (with /healthz and /readyz) on API_METRICS_PORT, a port of its own: Prometheus scrapes it from inside the
 * network; the public port does not serve it.
 */
export function startMetricsServer(deps: Deps, port = deps.config.API_METRICS_PORT, host = deps.config.API_HOST) {
  return startHealthServer({
    port,
    host,
    registry: deps.metrics.registry,
    ready: async () => {
      await deps.ds.query('SELECT 1');
      await deps.redis.ping();
    },
  });
}
