import { TRPCError, initTRPC } from '@trpc/server';
import { Role } from '@bazaar/contracts';
import type { Ctx } from './context';
import { FieldError, ReasonedError, RetryAfterError, schemaIssues } from './errors';

/**
 * Read top to bottom: context → init with the error formatter → procedure builders.
 * Errors follow the contract: BAD_REQUEST names the fields, PRECONDITION_FAILED
 * carries data.reason, and no answer carries a stack trace, SQL or an internal message.
 */
const t = initTRPC.context<Ctx>().create({
  isDev: false,
  // Subscriptions over SSE (orders.onStatus, chat.onMessage): a ping every 15 s keeps idle streams alive through
  // proxies, and a client that hears nothing for 20 s (a dead connection) reconnects with its lastEventId.
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 20_000 } },
  errorFormatter({ shape, error }) {
    // FieldError first: its issues already have string paths, which schemaIssues cannot read.
    // A body or ?input= that is not JSON: name the root, not the parser's message.
    const issues =
      error.code !== 'BAD_REQUEST'
        ? null
        : error.cause instanceof FieldError
          ? error.cause.issues
          : error.cause instanceof SyntaxError
            ? [{ path: '(root)', message: 'not valid JSON' }]
            : schemaIssues(error.cause);
    const reason = error.cause instanceof ReasonedError ? error.cause.reason : undefined;
    const retryAfterSeconds = error.cause instanceof RetryAfterError ? error.cause.retryAfterSeconds : undefined;
    let message = shape.message;
    if (error.code === 'INTERNAL_SERVER_ERROR') message = 'Internal server error';
    else if (issues && error.cause && !(error.cause instanceof FieldError)) {
      message = `Invalid input: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
    }
    return {
      code: shape.code,
      message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        // A BAD_REQUEST the schema did not raise (a batch whose input is not an object, a form body that does not
        // parse) still lists its problem, at the root, as the contract promises for every BAD_REQUEST.
        ...(issues ? { issues } : error.code === 'BAD_REQUEST' ? { issues: [{ path: '(root)', message }] } : {}),
        ...(reason !== undefined ? { reason } : {}),
        ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Times every procedure into bazaar_http_request_duration_seconds{procedure, code}. */
const timed = t.middleware(async ({ ctx, path, next }) => {
  const end = ctx.deps.metrics.httpDuration.startTimer({ procedure: path });
  const result = await next();
  end({ code: result.ok ? 'OK' : result.error.code });
  if (!result.ok && result.error.code === 'INTERNAL_SERVER_ERROR') {
    ctx.log.error({ err: result.error.cause ?? result.error, procedure: path }, 'procedure failed');
  }
  return result;
});

/**
 * Rate limits (RATE_LIMITS; services/rate-limits.ts) sit here, at the procedure, not in an HTTP-layer plugin: one
 * request may carry a batch of procedures (`/trpc/a,b?batch=1`), each counted as itself, and orders.place's fast
 * path answers outside tRPC's route yet through these same middlewares. Per IP on every procedure, before
 * authentication (password guessing, signups); per user once the session is known (below).
 */
const limitedByIp = t.middleware(async ({ ctx, path, next }) => {
  const limits = ctx.deps.rateLimits;
  if (limits) await limits.take(path, 'ip', ctx.ip, ctx);
  return next();
});

/** After `.input(…)`: counts the call against the account it names (auth.login: guesses at one account from many addresses). */
export const limitedByEmail = t.middleware(async ({ ctx, path, input, next }) => {
  const limits = ctx.deps.rateLimits;
  const email = (input as { email?: unknown } | undefined)?.email;
  if (limits && typeof email === 'string') await limits.take(path, 'email', email, ctx);
  return next();
});

export const publicProcedure = t.procedure.use(timed).use(limitedByIp);

/** Resolves the bearer token to a session; narrows ctx.user. Then the per-user rate limit of the procedure, if any. */
export const protectedProcedure = publicProcedure.use(async ({ ctx, path, next }) => {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(ctx.authorization ?? '')?.[1];
  if (!token) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'sign in first: Authorization: Bearer <token>' });
  const session = await ctx.deps.sessions.resolve(token);
  if (!session) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the token is unknown or has expired' });
  const limits = ctx.deps.rateLimits;
  if (limits) await limits.take(path, 'user', session.userId, ctx);
  return next({ ctx: { ...ctx, user: session, token, log: ctx.log.child({ userId: session.userId }) } });
});

function roleProcedure(...roles: Role[]) {
  return protectedProcedure.use(({ ctx, next }) => {
    if (!roles.includes(ctx.user.role)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `only for ${roles.join(' or ')} accounts` });
    }
    return next({ ctx });
  });
}

export const customerProcedure = roleProcedure(Role.CUSTOMER);
export const sellerProcedure = roleProcedure(Role.SELLER, Role.ADMIN);
export const adminProcedure = roleProcedure(Role.ADMIN);
