import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const mysqlUrl = z
  .string()
  .url()
  .refine((u) => /^(mysql|mariadb):\/\//.test(u), 'must start with mysql:// or mariadb://');

/**
 * Development defaults that must never reach production: with NODE_ENV=production a process refuses to start on
 * any of them (see productionProblems). .env.example holds the same values for a developer machine.
 */
export const DEVELOPMENT_SECRETS = {
  PAYMENT_SECRET_KEY: 'test_sk_bazaar',
  ADMIN_PASSWORD: 'bazaar-admin-1234',
  ADMISSION_TOKEN_KEYS: 'dev:bazaar-development-admission-key',
} as const;

/**
 * The one schema every process reads its settings through. Defaults are for a
 * developer machine (MariaDB and Redis on localhost); production sets them by env.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  MYSQL_URL: mysqlUrl.default('mysql://root@127.0.0.1:3306/bazaar'),
  MYSQL_REPLICA_URLS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(mysqlUrl)),
  MYSQL_POOL_SIZE: positiveInt(500).default(10),
  MYSQL_POOL_QUEUE_LIMIT: z.coerce.number().int().min(0).max(100_000).default(1000),
  MYSQL_CONNECT_TIMEOUT_MS: positiveInt(60_000).default(5000),

  REDIS_URL: z
    .string()
    .url()
    .refine((u) => /^rediss?:\/\//.test(u), 'must start with redis:// or rediss://')
    .default('redis://127.0.0.1:6379'),
  /**
   * A Redis Cluster instead of the one server at REDIS_URL: some of its nodes as redis:// (or rediss://) URLs,
   * comma-separated (one is enough to find the rest; credentials and TLS are taken from the first). Empty: a single
   * Redis at REDIS_URL. Every process (api, worker, scheduler, BullMQ, subscribers) connects the same way.
   */
  REDIS_CLUSTER_URLS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z
          .string()
          .url()
          .refine((u) => /^rediss?:\/\//.test(u), 'must start with redis:// or rediss://'),
      ),
    ),
  /**
   * Writes the system promises on (an accepted order and its gate units, counted views, a view batch claimed for
   * MySQL) wait until this many replicas have them (WAIT) before the answer goes out, so a master's failover does
   * not lose them. Default: 1 on a cluster, 0 on a single Redis. 0 turns it off (replication stays asynchronous).
   */
  REDIS_WAIT_REPLICAS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(5).optional()),
  /** How long such a write waits for its replicas; past it the answer goes out anyway (the write stands on its master alone). */
  REDIS_WAIT_TIMEOUT_MS: positiveInt(10_000).default(100),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ or -, at most 32')
    .default('bz'),

  API_HOST: z.string().min(1).default('0.0.0.0'),
  API_PORT: port.default(3000),
  /**
   * The api's /metrics (and a second /healthz, /readyz) on a port of its own, off the public one: Prometheus scrapes
   * it inside the network, and the internals it shows are not served to the world. 0: any free port (tests).
   */
  API_METRICS_PORT: port.default(9001),
  /** Serve products.get from the cache without the tRPC adapter (same wire format). Off only to compare. */
  API_FAST_PATHS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  API_BODY_LIMIT_BYTES: positiveInt(10_000_000).default(1_048_576),
  /** Connections waiting to be accepted (a flash sale opens thousands at once; Node's default is 511; the kernel caps it at somaxconn). */
  API_LISTEN_BACKLOG: positiveInt(65_535).default(4096),
  /**
   * Listen with SO_REUSEPORT: several api processes on one host share API_PORT and the kernel spreads new
   * connections over them (one process per core without a balancer in front). Linux; off by default.
   */
  API_REUSE_PORT: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  WORKER_METRICS_PORT: port.default(9101),
  WORKER_CONCURRENCY: positiveInt(256).default(16),
  /** Group commit: at most this many BALANCE orders per worker transaction (1: one order per transaction). */
  WORKER_BATCH_SIZE: positiveInt(256).default(16),
  /** A batch that is not full commits this many ms after its first order arrived. */
  WORKER_BATCH_WAIT_MS: z.coerce.number().min(0).max(1000).default(2),
  /**
   * The worker's CPU niceness (0–19; 0 = as the api). Where workers share cores with an api (one host, or
   * containers without CPU limits), a nice worker leaves the api the CPU it needs to answer quickly and
   * settles with what remains; the queue holds the difference. Only a process's own priority is lowered.
   */
  WORKER_NICE: z.coerce.number().int().min(0).max(19).default(0),
  /** How long a worker holds a job before others may take it as stalled (BullMQ lockDuration; stalled checks run at this interval). */
  WORKER_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /**
   * How long a worker holds a customer's lock (one worker at a time changes a customer's money). It expires so a
   * dead worker cannot block the customer; MySQL's guards keep an order applied once and a point spent once even
   * when it expires under a live holder, so this bounds waiting, never correctness.
   */
  CUSTOMER_LOCK_MS: z.coerce.number().int().min(500).max(600_000).default(15_000),
  SCHEDULER_METRICS_PORT: port.default(9201),
  /**
   * Waiting-room admission tokens are signed with HMAC-SHA256 by a key ring: "kid:secret" entries, comma-separated,
   * the first one signing and every one verifying (rotation: add the new key second everywhere, then move it first,
   * then drop the old one once its tokens have expired). ADMISSION_TOKEN_KEYS_FILE, when set, names a file holding
   * the ring in the same form, re-read when it changes, so keys rotate without a restart; it wins over the variable.
   */
  ADMISSION_TOKEN_KEYS: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,16}:[^,\s]{16,}(,[A-Za-z0-9_-]{1,16}:[^,\s]{16,})*$/, 'kid:secret entries (secret at least 16 characters), comma-separated')
    .default(DEVELOPMENT_SECRETS.ADMISSION_TOKEN_KEYS),
  ADMISSION_TOKEN_KEYS_FILE: z.string().min(1).optional(),
  /**
   * A waiting customer who has not polled waitingRoom.status for this long loses their place when their turn comes.
   * status advises polling at most every third of it (pollAfterSeconds), so it also sets how rarely those far back poll.
   */
  WAITING_ROOM_ABANDON_SECONDS: z.coerce.number().int().min(6).max(3600).default(60),
  /** How often the admission loop (one scheduler at a time) admits from each event's line. */
  WAITING_ROOM_TICK_MS: z.coerce.number().int().min(10).max(5000).default(50),

  SESSION_TTL_SECONDS: positiveInt(90 * 86400).default(7 * 86400),
  IDEMPOTENCY_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(86400)
    .max(30 * 86400)
    .default(2 * 86400),
  ORDER_JOB_ATTEMPTS: positiveInt(100).default(10),
  RECONCILE_CRON: z.string().min(9).default('*/10 * * * * *'),
  RECONCILE_AFTER_SECONDS: positiveInt(86400).default(30),

  PAYMENT_GATEWAY_URL: z.string().url().default('http://127.0.0.1:9300'),
  PAYMENT_SECRET_KEY: z.string().min(1).default(DEVELOPMENT_SECRETS.PAYMENT_SECRET_KEY),
  PAYMENT_TIMEOUT_MS: positiveInt(60_000).default(3000),
  PAYMENT_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  /** How long the gateway circuit breaker stays open before it lets a trial call through. */
  PAYMENT_BREAKER_RESET_MS: positiveInt(600_000).default(10_000),
  FAKE_GATEWAY_PORT: port.default(9300),
  CARD_PAYMENT_EXPIRY_SECONDS: positiveInt(7 * 86400).default(900),
  EXPIRY_CRON: z.string().min(9).default('*/30 * * * * *'),
  /** How often the scheduler moves product-view counts from Redis to MySQL (fractions allowed, e.g. 0.1). */
  VIEW_FLUSH_SECONDS: z.coerce.number().min(0.05).max(3600).default(10),
  CANCEL_WAIT_MS: positiveInt(60_000).default(10_000),
  /** When the scheduler recomputes products.popular (6-field cron, seconds first). */
  POPULAR_CRON: z.string().min(9).default('0 * * * * *'),

  /** Points earned per order, in basis points of the cash paid (100 = 1%); frozen into each order at accept. */
  REWARD_BPS: z.coerce.number().int().min(0).max(10_000).default(100),
  /** When the scheduler writes the expiry of point lots that have expired (6-field cron); balances never count an expired lot meanwhile. */
  POINTS_EXPIRY_CRON: z.string().min(9).default('15 * * * * *'),
  /** The admin account `npm run up` creates or updates (development defaults in .env.example). signup never makes an admin. */
  ADMIN_EMAIL: z.email().optional(),
  ADMIN_PASSWORD: z.string().min(10, 'at least 10 characters').max(200).optional(),

  /** When the scheduler places due subscription cycles (6-field cron). */
  SUBSCRIPTIONS_CRON: z.string().min(9).default('*/10 * * * * *'),
  /** The dunning schedule: seconds after a failed cycle before each retry (comma-separated), then the subscription pauses. */
  SUBSCRIPTION_DUNNING_SECONDS: z
    .string()
    .regex(/^[0-9]+(,[0-9]+)*$/, 'comma-separated seconds')
    .default('3600,86400,259200')
    .transform((v) => v.split(',').map(Number)),
  /** Test only (refused unless NODE_ENV=test): a Redis key whose value, in ms, is added to the scheduler's clock. */
  SUBSCRIPTION_TEST_CLOCK_KEY: z.string().min(1).optional(),
  /** chat.send: at most this many sends per user in each window of CHAT_SEND_WINDOW_SECONDS (across api processes). */
  CHAT_SEND_LIMIT: positiveInt(100_000).default(30),
  CHAT_SEND_WINDOW_SECONDS: positiveInt(3600).default(10),
  /**
   * Rate limits per procedure (apps/api/src/services/rate-limits.ts; README, "Rate limits"), counted in Redis across
   * api processes. `off` turns them all off (benchmarks, the test suites); otherwise `;`-separated entries
   * `procedure=scope:points/seconds[,scope:points/seconds…]` laid over the defaults below, scope by scope. Scopes: `ip`
   * (any procedure, counted before authentication), `user` (signed-in procedures), `email` (auth.login's target account).
   * `*` stands for every procedure without a value of its own for that scope; `scope:off` drops one. Parsed into
   * { procedure: { ip?, user?, email? } } with null for a scope turned off, or null for all off. waitingRoom.status is
   * limited per user first, with a per-IP limit high enough for the crowd behind one carrier NAT in a flash sale.
   */
  RATE_LIMITS: z
    .string()
    .default('')
    .transform((value, ctx) => {
      if (value.trim() === 'off') return null;
      const defaults =
        '*=ip:600/60; auth.login=ip:10/60,email:5/60; auth.signup=ip:5/3600; orders.place=user:20/1,ip:100/1; coupons.claim=user:10/10; waitingRoom.status=user:60/60,ip:6000/60; waitingRoom.enter=user:10/60';
      type Limit = { points: number; seconds: number } | null;
      const table: Record<string, { ip?: Limit; user?: Limit; email?: Limit }> = {};
      const entries = `${defaults};${value}`.split(';').map((e) => e.trim());
      for (const entry of entries.filter(Boolean)) {
        const m = /^(\*|[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+)=(.+)$/.exec(entry);
        if (!m) {
          ctx.addIssue({ code: 'custom', message: `"${entry}": expected procedure=scope:points/seconds (e.g. auth.login=ip:10/60)` });
          continue;
        }
        const procedure = m[1]!;
        const rules = (table[procedure] ??= {});
        for (const rule of m[2]!.split(',').map((r) => r.trim())) {
          const r = /^(ip|user|email):(?:(off)|([0-9]{1,9})\/([0-9]{1,6}))$/.exec(rule);
          const [points, seconds] = [Number(r?.[3]), Number(r?.[4])];
          if (!r || (!r[2] && (points < 1 || seconds < 1 || seconds > 86_400))) {
            ctx.addIssue({ code: 'custom', message: `"${rule}" in "${entry}": expected ip|user|email:points/seconds (1 s to 1 day) or scope:off` });
          } else if (r[1] === 'email' && procedure !== 'auth.login') {
            ctx.addIssue({ code: 'custom', message: `"${entry}": the email scope is auth.login's only` });
          } else {
            rules[r[1] as 'ip' | 'user' | 'email'] = r[2] ? null : { points, seconds };
          }
        }
      }
      return table;
    }),
  /**
   * Unexpected exceptions of every process (not business refusals) go to this Slack incoming webhook, grouped by
   * fingerprint (ErrorNotifier): the first at once, repeats as one count per group every SLACK_REPEAT_SECONDS.
   * Unset: not sent (they are logged either way).
   */
  SLACK_WEBHOOK_URL: z.string().url().optional(),
  SLACK_REPEAT_SECONDS: positiveInt(86_400).default(60),
  /** How long a sign-in to the admin console (Bull Board, /admin/login) lasts. */
  ADMIN_SESSION_TTL_SECONDS: positiveInt(7 * 86400).default(8 * 3600),
  SHUTDOWN_TIMEOUT_MS: positiveInt(120_000).default(10_000),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * What a production process must not start with: a development secret or default (DEVELOPMENT_SECRETS), or no
 * admission-token signing key of its own. Empty outside NODE_ENV=production.
 */
export function productionProblems(config: Config): string[] {
  if (config.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  const dev = (name: string) => `${name}: the development default; set your own for NODE_ENV=production (or run with NODE_ENV=development)`;
  if (config.PAYMENT_SECRET_KEY === DEVELOPMENT_SECRETS.PAYMENT_SECRET_KEY) problems.push(dev('PAYMENT_SECRET_KEY'));
  if (config.ADMIN_PASSWORD === DEVELOPMENT_SECRETS.ADMIN_PASSWORD) problems.push(dev('ADMIN_PASSWORD'));
  if (config.ADMISSION_TOKEN_KEYS_FILE === undefined && config.ADMISSION_TOKEN_KEYS === DEVELOPMENT_SECRETS.ADMISSION_TOKEN_KEYS) {
    problems.push('ADMISSION_TOKEN_KEYS: no signing key of your own (the development key is public); set ADMISSION_TOKEN_KEYS or ADMISSION_TOKEN_KEYS_FILE');
  }
  return problems;
}

/** Parses the environment; throws a ConfigError naming every bad variable (and, in production, every development secret). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const problems = productionProblems(result.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data;
}

/** For a process entry point: parse, or print the problem and exit 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
