import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config, Logger, Metrics, Redis } from '@bazaar/platform';
import { tooManyRequests } from '../errors';

/** Who a limit counts: the caller's address (before authentication), the signed-in user, or auth.login's target account. */
export type RateScope = 'ip' | 'user' | 'email';
export type RateLimitTable = NonNullable<Config['RATE_LIMITS']>;

/** One limit as a caller met it: what the RateLimit-* headers say. */
export interface RateNote {
  limit: number;
  remaining: number;
  /** Seconds until the window ends and the points come back (RateLimit-Reset). */
  resetSeconds: number;
  /** Set when the call was refused (Retry-After). */
  retryAfterSeconds?: number;
}

/**
 * The limits one HTTP request met, for its headers. tRPC builds one context per request, so a batch
 * (`/trpc/a,b?batch=1`) notes each of its limited calls here and the answer carries the most restrictive:
 * the lowest remaining, then the longest wait.
 */
export class RateLimitNotes {
  private worst: RateNote | null = null;
  private retryAfter = 0;

  note(n: RateNote): void {
    if (n.retryAfterSeconds !== undefined) this.retryAfter = Math.max(this.retryAfter, n.retryAfterSeconds);
    const w = this.worst;
    if (!w || n.remaining < w.remaining || (n.remaining === w.remaining && n.resetSeconds > w.resetSeconds)) this.worst = n;
  }

  /** The standard headers (IETF draft names, as @fastify/rate-limit sends them), and Retry-After on a refusal; {} when no limit applied. */
  headers(): Record<string, string> {
    const w = this.worst;
    if (!w) return {};
    const h: Record<string, string> = {
      'ratelimit-limit': String(w.limit),
      'ratelimit-remaining': String(w.remaining),
      'ratelimit-reset': String(w.resetSeconds),
    };
    if (this.retryAfter > 0) h['retry-after'] = String(this.retryAfter);
    return h;
  }
}

type Warn = Pick<Logger, 'warn'>;
type Outcome = { ok: true; note: RateNote } | { ok: false; note: RateNote & { retryAfterSeconds: number } };

/**
 * The per-procedure rate limits of RATE_LIMITS, counted in Redis so that they hold across api processes:
 * rate-limiter-flexible's RateLimiterRedis, a fixed window per key taken in one atomic script call (SET NX EX +
 * INCRBY + PTTL), one round trip per limited call and scope, pipelined with the rest of the tick's commands.
 * Keys: `<REDIS_PREFIX>:rl:<procedure>:<scope>:<ip | userId | sha256(email)>`.
 *
 * Redis down does not take the api down: each limiter has an in-memory insurance limiter with the same points
 * (the library's insuranceLimiter), used at once while the connection is not ready and on a failed call, so the
 * limits go on holding per process (N processes let through up to N times the limit until Redis is back). Should
 * even that fail, the call is let through with a warning (fail open).
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterRedis | null>();

  constructor(
    private readonly table: RateLimitTable,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly metrics: Metrics,
  ) {}

  /** Procedures named in the table (not `*`). */
  named(): string[] {
    return Object.keys(this.table).filter((p) => p !== '*');
  }

  /** Whether `procedure` is limited in `scope`: its own rule, else `*`'s; a scope turned off (null) is not. */
  limits(procedure: string, scope: RateScope): boolean {
    return this.limiter(procedure, scope) !== null;
  }

  /**
   * Counts `points` calls of `procedure` by `subject` in `scope`, notes the limit for the headers and throws
   * TOO_MANY_REQUESTS (data.retryAfterSeconds) past it. Nothing when the procedure has no limit in that scope.
   */
  async take(procedure: string, scope: RateScope, subject: string | number, call: { rateLimits: RateLimitNotes; log: Warn }, points = 1): Promise<void> {
    const outcome = await this.consume(procedure, scope, subject, call.log, points);
    if (!outcome) return;
    call.rateLimits.note(outcome.note);
    if (!outcome.ok) {
      this.metrics.rateLimited.inc({ procedure, scope });
      const { limit } = outcome.note;
      const seconds = this.rule(procedure, scope)?.seconds ?? 0;
      throw tooManyRequests(outcome.note.retryAfterSeconds, `at most ${limit} calls of ${procedure} per ${scope} every ${seconds} s: try again later`);
    }
  }

  /**
   * As take, without throwing or counting the refusal in bazaar_rate_limited_total: the read fast paths' call, which
   * leave a refused request to tRPC, where take counts it (null: no limit applies, or the limiter failed open).
   */
  async consume(procedure: string, scope: RateScope, subject: string | number, log: Warn, points = 1): Promise<Outcome | null> {
    const limiter = this.limiter(procedure, scope);
    if (!limiter) return null;
    const key = scope === 'email' ? emailKey(String(subject)) : String(subject);
    let res: RateLimiterRes;
    let ok: boolean;
    try {
      res = await limiter.consume(key, points);
      ok = true;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        log.warn({ err, procedure, scope }, 'rate limiter failed; the call goes through');
        return null;
      }
      res = err;
      ok = false;
    }
    const resetSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    const note = { limit: limiter.points, remaining: Math.max(0, res.remainingPoints), resetSeconds };
    if (ok) return { ok, note };
    return { ok, note: { ...note, remaining: 0, retryAfterSeconds: resetSeconds } };
  }

  private rule(procedure: string, scope: RateScope) {
    const own = this.table[procedure]?.[scope];
    return own !== undefined ? own : this.table['*']?.[scope];
  }

  private limiter(procedure: string, scope: RateScope): RateLimiterRedis | null {
    const id = `${procedure}:${scope}`;
    let limiter = this.limiters.get(id);
    if (limiter !== undefined) return limiter;
    const rule = scope === 'email' && procedure !== 'auth.login' ? null : this.rule(procedure, scope);
    limiter = rule
      ? new RateLimiterRedis({
          storeClient: this.redis,
          keyPrefix: `${this.prefix}:rl:${id}`,
          points: rule.points,
          duration: rule.seconds,
          rejectIfRedisNotReady: true,
          insuranceLimiter: new RateLimiterMemory({ keyPrefix: `rl:${id}`, points: rule.points, duration: rule.seconds }),
        })
      : null;
    this.limiters.set(id, limiter);
    return limiter;
  }
}

/** Addresses as keys without keeping them in Redis: lower-cased, trimmed, hashed. */
const emailKey = (email: string) => createHash('sha256').update(email.trim().toLowerCase()).digest('base64url').slice(0, 22);
