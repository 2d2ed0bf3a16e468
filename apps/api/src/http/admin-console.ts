import fastifyFormbody from '@fastify/formbody';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../deps';
import { SessionService } from '../services/session.service';

export const ADMIN_COOKIE = 'bazaar_admin';
const QUEUES = '/admin/queues';

/** The login page may style itself and post to this origin; nothing else (no scripts at all). */
const LOGIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The admin console: Bull Board at /admin/queues, for a signed-in ADMIN only. The admin account (ADMIN_EMAIL /
 * ADMIN_PASSWORD, argon2-hashed like every account) signs in at /admin/login; the session is a cookie
 * (HttpOnly, SameSite=Strict, Secure in production, path /admin) holding an opaque token whose SHA-256 Redis keeps
 * for ADMIN_SESSION_TTL_SECONDS, apart from the API's bearer sessions (one is never the other). Every request to the
 * board checks the session and that its account is still an ADMIN (a demoted or deleted account is out at once);
 * sign-in attempts count against auth.login's rate limits, per address and per email, as the API's do.
 *
 * Cross-site requests: SameSite=Strict keeps the cookie off them, and a request that changes something (Bull Board's
 * retry, clean, promote; sign-in and sign-out) whose Origin is another site is refused (403).
 */
export function adminConsole(deps: Deps): FastifyPluginAsync {
  const sessions = new SessionService(deps.redis, deps.keys, deps.config.ADMIN_SESSION_TTL_SECONDS, deps.keys.adminSession);
  const secure = deps.config.NODE_ENV === 'production';
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUES);
  createBullBoard({ queues: [new BullMQAdapter(deps.ordersQueue), new BullMQAdapter(deps.refundsQueue)], serverAdapter });

  /** The signed-in admin's id, or null: no cookie, an unknown or expired token, or an account no longer ADMIN. */
  async function signedInAdmin(req: FastifyRequest): Promise<number | null> {
    const token = cookieOf(req);
    if (!token) return null;
    const session = await sessions.resolve(token);
    if (!session) return null;
    const user = await deps.users.findById(session.userId);
    return user?.role === 'ADMIN' ? user.id : null;
  }

  return async (scope) => {
    await scope.register(fastifyFormbody, { bodyLimit: 4096 });

    scope.addHook('onRequest', async (req, reply) => {
      if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req)) {
        return reply.code(403).type('text/plain; charset=utf-8').send('cross-site request refused');
      }
    });

    scope.get('/login', async (req, reply) => loginPage(reply, 200, nextOf(req.query)));

    scope.post('/login', async (req, reply) => {
      const form = (req.body ?? {}) as Record<string, unknown>;
      const email = typeof form.email === 'string' ? form.email.trim().toLowerCase() : '';
      const password = typeof form.password === 'string' ? form.password : '';
      const next = nextOf(form);
      if (!email || !password || email.length > 254 || password.length > 200) return loginPage(reply, 400, next, 'enter your email and password');

      const wait = await rateLimited(deps, req, email);
      if (wait !== null) return loginPage(reply.header('retry-after', String(wait)), 429, next, `too many attempts: try again in ${wait} s`);

      const user = await deps.users.findByEmail(email);
      const ok = await deps.passwords.verify(user?.passwordHash ?? null, password);
      // A customer's or seller's right password is refused exactly like a wrong one.
      if (!user || !ok || user.role !== 'ADMIN') {
        req.log.warn({ email: redactEmail(email) }, 'admin console: sign-in refused');
        return loginPage(reply, 401, next, 'wrong email or password, or not an admin account');
      }
      const { token } = await sessions.issue({ userId: user.id, role: user.role });
      req.log.info({ userId: user.id }, 'admin console: signed in');
      return reply.header('set-cookie', sessionCookie(token, deps.config.ADMIN_SESSION_TTL_SECONDS, secure)).redirect(next, 303);
    });

    scope.post('/logout', async (req, reply) => {
      const token = cookieOf(req);
      if (token) await sessions.revoke(token);
      return reply.header('set-cookie', sessionCookie('', 0, secure)).redirect('/admin/login', 303);
    });

    await scope.register(
      async (board) => {
        board.addHook('onRequest', async (req, reply) => {
          if ((await signedInAdmin(req)) !== null) return;
          // The board's page (a browser) is sent to sign in; its API calls get a plain 401.
          if (req.method === 'GET' && !req.url.startsWith(`${QUEUES}/api/`)) {
            return reply.redirect(`/admin/login?next=${encodeURIComponent(req.url)}`, 303);
          }
          return reply.code(401).type('application/json').send({ error: 'sign in at /admin/login' });
        });
        await board.register(serverAdapter.registerPlugin());
      },
      { prefix: '/queues' },
    );
  };
}

const cookieOf = (req: FastifyRequest): string | undefined => (req.headers.cookie ? parseCookie(req.headers.cookie)[ADMIN_COOKIE] : undefined);

/** The session cookie: script-proof, never sent cross-site, only to /admin; an empty one with max-age 0 ends it. */
const sessionCookie = (value: string, maxAge: number, secure: boolean) =>
  stringifySetCookie({ name: ADMIN_COOKIE, value, path: '/admin', httpOnly: true, sameSite: 'strict', secure, maxAge });

/** Where to go after signing in: a path of the board only (never another site: no open redirect). */
function nextOf(source: unknown): string {
  const next = (source as { next?: unknown } | null)?.next;
  return typeof next === 'string' && (next === QUEUES || next.startsWith(`${QUEUES}/`) || next.startsWith(`${QUEUES}?`)) && !next.includes('//')
    ? next
    : QUEUES;
}

/**
 * Not another site's request: a browser's Sec-Fetch-Site says so where sent (same-origin, or none: typed in by the
 * user); else the Origin must name this host (`null`, an opaque origin, does not); no Origin at all is not a browser
 * posting cross-site (curl, scripts).
 */
function sameOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** Seconds to wait when auth.login's limit for this address or this email is spent; null when the attempt may go on. */
async function rateLimited(deps: Deps, req: FastifyRequest, email: string): Promise<number | null> {
  const limits = deps.rateLimits;
  if (!limits) return null;
  for (const [scope, subject] of [
    ['ip', req.ip],
    ['email', email],
  ] as const) {
    const outcome = await limits.consume('auth.login', scope, subject, req.log);
    if (outcome && !outcome.ok) return outcome.note.retryAfterSeconds;
  }
  return null;
}

const redactEmail = (email: string) => email.replace(/^(.).*(@.*)$/, '$1…$2');

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(reply: FastifyReply, status: number, next: string, error?: string) {
  return reply.code(status).header('content-security-policy', LOGIN_CSP).header('cache-control', 'no-store').type('text/html; charset=utf-8')
    .send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Bazaar admin — sign in</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; background: #f4f5f7; display: grid; place-items: center; min-height: 100vh; margin: 0; }
  form { background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; width: 20rem; display: grid; gap: .75rem; }
  h1 { font-size: 1.25rem; margin: 0 0 .5rem; } input { font: inherit; padding: .5rem; } button { font: inherit; padding: .5rem; cursor: pointer; }
  .error { color: #b00020; margin: 0; }
</style></head>
<body>
<form method="post" action="/admin/login">
  <h1>Bazaar admin</h1>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
  <label>Email <input name="email" type="email" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <input type="hidden" name="next" value="${escapeHtml(next)}">
  <button type="submit">Sign in</button>
</form>
</body>
</html>
`);
}
