import type { Logger } from './logger';

/** Where an unexpected error happened: the procedure or job, and the request it served. */
export interface ErrorContext {
  procedure?: string;
  job?: string;
  requestId?: string;
}

export interface ErrorNotifierOptions {
  /** A Slack incoming webhook (SLACK_WEBHOOK_URL); without one nothing is sent. */
  webhookUrl: string | undefined;
  /** The process kind (api, worker, scheduler), shown in every message. */
  service: string;
  /** Slack takes about one message per second per channel: at most one post per this many ms. */
  minIntervalMs?: number;
  /** Repeats of a known error are posted as one count per fingerprint at most this often. */
  repeatEveryMs?: number;
  /** Messages waiting to be sent at most; beyond, the oldest counts merge into their fingerprint's next summary. */
  maxQueue?: number;
  log?: Pick<Logger, 'warn'>;
  fetch?: typeof fetch;
}

interface Group {
  fingerprint: string;
  errorClass: string;
  where: string;
  message: string;
  frames: string[];
  firstSeen: number;
  /** Occurrences since the last message about this group. */
  unreported: number;
  total: number;
  lastRequestId?: string;
}

const REDACT: [RegExp, string][] = [
  [/Bearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer [redacted]'],
  [/\b(live|test)_(sk|gsk|ck)_[A-Za-z0-9_]+/g, '$1_$2_[redacted]'],
  [/\b(password|passwd|secret|token|authorization|api[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"',;]+/gi, '$1$2[redacted]'],
  [/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/g, 'hooks.slack.com/services/[redacted]'],
  [/\/\/([^:/@\s]+):([^@\s]+)@/g, '//$1:[redacted]@'],
];

/** An error's text with secrets taken out (tokens, keys, passwords, URLs with credentials), cut to `max` characters. */
export function redact(text: string, max = 300): string {
  let out = text;
  for (const [re, to] of REDACT) out = out.replace(re, to);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/** The frames of a stack that are ours (not node: internals or node_modules), as "fn (file:line)", without columns. */
function ownFrames(stack: string | undefined): string[] {
  return (stack ?? '')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().replace(/^at\s+/, ''))
    .filter((l) => l && !l.includes('node:internal') && !l.includes('node_modules'))
    .map((l) => l.replace(/:(\d+):\d+\)?$/, ':$1)').replace(/^\(?(.*?)\)?$/, '$1'));
}

/**
 * Unexpected exceptions (not business refusals) to a Slack channel, for on-call. Errors are grouped by fingerprint
 * (error class, top frame of our code, procedure or job): the first of a group is posted at once; repeats are counted
 * and posted as one "N more" per group every `repeatEveryMs`. Posting is paced (one message per `minIntervalMs`, and a
 * 429's Retry-After waited out), off the request path: `report` only counts and never throws or waits. Messages carry
 * the service, the request id and the place, never the request's data: the error's text is redacted and cut.
 *
 * Plain fetch to the incoming webhook: the grouping, pacing and 429 handling are ours either way (@slack/webhook
 * sends one message and leaves those to the caller).
 */
export class ErrorNotifier {
  private readonly groups = new Map<string, Group>();
  private readonly queue: { text: string; fingerprint: string; repeat: boolean; failures: number }[] = [];
  private notBefore = 0;
  private sending = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly minIntervalMs: number;
  private readonly repeatEveryMs: number;
  private readonly maxQueue: number;
  private readonly post: typeof fetch;
  /** Messages Slack accepted, and those given up on (for tests and logs). */
  readonly sent: string[] = [];
  dropped = 0;

  constructor(private readonly opts: ErrorNotifierOptions) {
    this.minIntervalMs = opts.minIntervalMs ?? 1_100;
    this.repeatEveryMs = opts.repeatEveryMs ?? 60_000;
    this.maxQueue = opts.maxQueue ?? 100;
    this.post = opts.fetch ?? fetch;
    if (opts.webhookUrl) {
      this.timer = setInterval(() => this.summarize(), this.repeatEveryMs);
      this.timer.unref();
    }
  }

  get enabled(): boolean {
    return Boolean(this.opts.webhookUrl);
  }

  /** Counts an unexpected error; the first of its kind is sent soon, repeats in the next summary. Never throws. */
  report(err: unknown, ctx: ErrorContext = {}): void {
    if (!this.opts.webhookUrl) return;
    try {
      const e = err instanceof Error ? err : new Error(String(err));
      const frames = ownFrames(e.stack);
      const where = ctx.procedure ? `procedure ${ctx.procedure}` : ctx.job ? `job ${ctx.job}` : 'process';
      const fingerprint = `${e.name}|${frames[0] ?? '?'}|${where}`;
      let g = this.groups.get(fingerprint);
      if (!g) {
        g = { fingerprint, errorClass: e.name, where, message: redact(e.message), frames: frames.slice(0, 3), firstSeen: Date.now(), unreported: 0, total: 0 };
        this.groups.set(fingerprint, g);
        g.total++;
        g.lastRequestId = ctx.requestId;
        this.enqueue(this.firstText(g), fingerprint, false);
        return;
      }
      g.total++;
      g.unreported++;
      g.lastRequestId = ctx.requestId ?? g.lastRequestId;
    } catch {
      // The notifier must never add a failure to the one it reports.
    }
  }

  /** Posts what is still counted and waits for the queue to drain (at shutdown); at most `waitMs`. */
  async close(waitMs = 5_000): Promise<void> {
    clearInterval(this.timer);
    this.summarize();
    const until = Date.now() + waitMs;
    while ((this.queue.length > 0 || this.sending) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }

  /** One "N more" message per group with occurrences since its last message. */
  summarize(): void {
    for (const g of this.groups.values()) {
      if (g.unreported === 0) continue;
      // A summary already waiting for this group absorbs the new count instead of queueing another.
      const waiting = this.queue.find((m) => m.repeat && m.fingerprint === g.fingerprint);
      const n = g.unreported;
      if (waiting) waiting.text = this.repeatText(g, n + Number(/×(\d+)/.exec(waiting.text)?.[1] ?? 0));
      else this.enqueue(this.repeatText(g, n), g.fingerprint, true);
      g.unreported = 0;
    }
  }

  private firstText(g: Group): string {
    return [
      `:rotating_light: *${this.opts.service}*: \`${g.errorClass}\` in ${g.where}: ${g.message}`,
      ...(g.frames.length ? ['```', ...g.frames, '```'] : []),
      g.lastRequestId ? `request id \`${g.lastRequestId}\`` : '',
    ]
      .filter(Boolean)
      .join('\n');
  }

  private repeatText(g: Group, n: number): string {
    return `:repeat: *${this.opts.service}*: \`${g.errorClass}\` in ${g.where} ×${n} more (${g.total} since ${new Date(g.firstSeen).toISOString()})${g.lastRequestId ? `, last request id \`${g.lastRequestId}\`` : ''}`;
  }

  private enqueue(text: string, fingerprint: string, repeat: boolean): void {
    if (this.queue.length >= this.maxQueue) {
      // Full: the oldest waiting message gives way; its group's count is not lost when it is a first message
      // (the group then reports at the next summary), and a dropped summary is counted.
      // (never the one being sent: it is at the head while a post is under way)
      const [old] = this.queue.splice(this.sending && this.queue.length > 1 ? 1 : 0, 1);
      this.dropped++;
      const g = old && this.groups.get(old.fingerprint);
      if (g && !old.repeat) g.unreported++;
    }
    this.queue.push({ text, fingerprint, repeat, failures: 0 });
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const wait = this.notBefore - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait).unref());
        const msg = this.queue[0]!;
        const outcome = await this.send(msg.text);
        this.notBefore = Date.now() + Math.max(this.minIntervalMs, outcome.retryAfterMs ?? 0);
        // A 429 is waited out and tried again; a failure (5xx, the network) up to 3 times; a refusal (4xx) not.
        if (!outcome.ok && outcome.retry && (outcome.rateLimited || ++msg.failures < 3)) continue;
        const at = this.queue.indexOf(msg);
        if (at >= 0) this.queue.splice(at, 1);
        if (outcome.ok) this.sent.push(msg.text);
        else this.dropped++;
      }
    } finally {
      this.sending = false;
    }
  }

  private async send(text: string): Promise<{ ok: boolean; retry: boolean; rateLimited?: boolean; retryAfterMs?: number }> {
    try {
      const res = await this.post(this.opts.webhookUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
        signal: AbortSignal.timeout(5_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, retry: false };
      if (res.status === 429) {
        const after = Number(res.headers.get('retry-after'));
        return { ok: false, retry: true, rateLimited: true, retryAfterMs: (Number.isFinite(after) && after > 0 ? after : 1) * 1000 };
      }
      this.opts.log?.warn({ status: res.status }, 'Slack refused an error notification');
      return { ok: false, retry: res.status >= 500, retryAfterMs: 2_000 };
    } catch (err) {
      this.opts.log?.warn({ err }, 'Slack error notification failed');
      return { ok: false, retry: true, retryAfterMs: 2_000 };
    }
  }
}

/**
 * A process's last word: on an uncaught exception or an unhandled rejection, log it, tell Slack (waiting up to
 * `flushMs` for the post), then exit 1 as Node would have, so the supervisor restarts a process in a known state.
 */
export function reportFatalErrors(
  notifier: ErrorNotifier,
  log: Pick<Logger, 'fatal'>,
  proc: Pick<NodeJS.Process, 'on' | 'exit'> = process,
  flushMs = 2_000,
): void {
  let dying = false;
  const die = (kind: string) => (err: unknown) => {
    if (dying) return;
    dying = true;
    log.fatal({ err }, `${kind}: exiting`);
    notifier.report(err, { job: kind });
    void notifier.close(flushMs).finally(() => proc.exit(1));
  };
  proc.on('uncaughtException', die('uncaught exception'));
  proc.on('unhandledRejection', die('unhandled rejection'));
}
