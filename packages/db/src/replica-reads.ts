import type { DataSource, QueryRunner } from 'typeorm';
import type { Logger } from '@bazaar/platform';

/** Why a read meant for a replica ran on the primary (`bazaar_db_replica_fallbacks_total{reason}`). */
export type ReplicaFallbackReason =
  /** No replica connection could be made (refused, timed out, the server is shutting down). */
  | 'unreachable'
  /** The replica connection died in the middle of the read; the read ran again on the primary. */
  | 'lost'
  /** Sent straight to the primary: a replica failed less than `retryMs` ago (or another read is trying it again). */
  | 'down';

export interface ReplicaReadsOptions {
  /** Counts every read sent to the primary instead of a replica (platform metrics: `replicaFallbacks`). */
  fallbacks?: { inc(labels: { reason: ReplicaFallbackReason }): void };
  log?: Pick<Logger, 'warn' | 'info'>;
  /** How long reads stay on the primary after a replica failed, before one read tries a replica again. Default 1 s. */
  retryMs?: number;
  /** At most one warning per this interval while reads fall back (it says how many did since the last). Default 30 s. */
  warnEveryMs?: number;
  now?: () => number;
}

/** mysql2 / Node error codes and MySQL errnos that say the connection (not the statement) failed. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'POOL_CLOSED',
  'POOL_NOEXIST',
  'POOL_NONEONLINE',
]);
/** Too many connections, server shutdown, connection killed, can't connect, gone away, lost during query, idle disconnect (MySQL 8). */
const CONNECTION_ERRNOS = new Set([1040, 1053, 1927, 2002, 2003, 2006, 2013, 4031]);

/** True when err says the connection to the server failed or died, rather than that the server refused the statement. */
export function isConnectionError(err: unknown): boolean {
  for (const e of [err, (err as { driverError?: unknown } | null)?.driverError]) {
    if (!e || typeof e !== 'object') continue;
    const { code, errno, fatal } = e as { code?: unknown; errno?: unknown; fatal?: unknown };
    if (fatal === true) return true;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (typeof errno === 'number' && CONNECTION_ERRNOS.has(errno)) return true;
  }
  return false;
}

const messageOf = (err: unknown) => (err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err));

/**
 * Reads that may go to a replica, with a way out when the replicas fail: a
 * read whose replica connection cannot be made, or dies mid-read, runs on the
 * primary instead (a replica read may lag; one from the primary never does,
 * so the answer is only fresher). After a failure every read goes to the
 * primary for `retryMs`; then one read at a time tries a replica again, and
 * the first that succeeds brings reads back to the replicas. Each read sent to
 * the primary is counted; a warning is logged at most once per `warnEveryMs`,
 * and one line when the replicas are back.
 *
 * The pool cluster itself never drops a node (createDataSource sets it so):
 * mysql2's default removes a node for good after a few failed connects, which
 * would leave a process without its replica, or its primary, until restarted.
 */
export class ReplicaReads {
  private readonly retryMs: number;
  private readonly warnEveryMs: number;
  private readonly now: () => number;
  /** Since when reads fall back (null: the replicas serve). */
  private downSince: number | null = null;
  private retryAt = 0;
  private trying = false;
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  private sinceWarn = 0;
  private duringOutage = 0;

  constructor(
    private readonly ds: DataSource,
    /** How many replicas the DataSource has (0: every read is the primary's, nothing counted). */
    private readonly replicas: number,
    private readonly opts: ReplicaReadsOptions = {},
  ) {
    this.retryMs = opts.retryMs ?? 1_000;
    this.warnEveryMs = opts.warnEveryMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** True while reads are being sent to the primary because a replica failed. */
  get fallingBack(): boolean {
    return this.downSince !== null;
  }

  /** Runs fn (which must only read) on a replica connection, or on the primary as above; the runner is always released. */
  async run<T>(fn: (q: QueryRunner) => Promise<T>): Promise<T> {
    if (this.replicas === 0) return this.onPrimary(fn);
    if (this.downSince !== null && (this.now() < this.retryAt || this.trying)) {
      this.fellBack('down');
      return this.onPrimary(fn);
    }
    const retrying = this.downSince !== null;
    if (retrying) this.trying = true;
    try {
      let q: QueryRunner;
      try {
        q = await this.connectReplica();
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        this.failed('unreachable', err);
        return await this.onPrimary(fn);
      }
      let result: T;
      try {
        result = await fn(q);
      } catch (err) {
        if (!isConnectionError(err)) {
          this.answered(); // the replica answered: the statement failed, not the replica
          throw err;
        }
        this.failed('lost', err);
        return await this.onPrimary(fn);
      } finally {
        await q.release();
      }
      this.answered();
      return result;
    } finally {
      if (retrying) this.trying = false;
    }
  }

  /** A connected replica runner; with several replicas, the next one (round robin) when one cannot be reached. */
  private async connectReplica(): Promise<QueryRunner> {
    for (let attempt = 1; ; attempt++) {
      const q = this.ds.createQueryRunner('slave');
      try {
        await q.connect();
        return q;
      } catch (err) {
        await q.release();
        if (attempt >= this.replicas || !isConnectionError(err)) throw err;
      }
    }
  }

  private async onPrimary<T>(fn: (q: QueryRunner) => Promise<T>): Promise<T> {
    const q = this.ds.createQueryRunner('master');
    try {
      return await fn(q);
    } finally {
      await q.release();
    }
  }

  private failed(reason: ReplicaFallbackReason, err: unknown): void {
    const now = this.now();
    this.downSince ??= now;
    this.retryAt = now + this.retryMs;
    this.fellBack(reason, err);
  }

  private fellBack(reason: ReplicaFallbackReason, err?: unknown): void {
    this.opts.fallbacks?.inc({ reason });
    this.sinceWarn++;
    this.duringOutage++;
    const now = this.now();
    if (now - this.lastWarnAt < this.warnEveryMs) return;
    this.opts.log?.warn(
      { reason, ...(err === undefined ? {} : { err: messageOf(err) }), fallbacks: this.sinceWarn, downForMs: now - (this.downSince ?? now) },
      'replica reads fall back to the primary',
    );
    this.lastWarnAt = now;
    this.sinceWarn = 0;
  }

  private answered(): void {
    if (this.downSince === null) return;
    this.opts.log?.info({ downForMs: this.now() - this.downSince, fallbacks: this.duringOutage }, 'replica reads are back on the replicas');
    this.downSince = null;
    this.retryAt = 0;
    this.duringOutage = 0;
  }
}
