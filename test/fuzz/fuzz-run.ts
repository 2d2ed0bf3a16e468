import fc from 'fast-check';
import { type CallAnswer, type HttpAnswer, type HttpCase, describeCase, leaksIn, receivedInputs, sendCase } from './http-case';
import type { ProcedureInfo } from './procedures';
import type { Excuse, StateDiff, StateWatcher } from './state-snapshot';
import { type Derived, accepts, deriveArbitraries, hostileRoot } from './zod-arbitrary';

/**
 * The fuzzing of every procedure over HTTP, shared by the jest spec (test/fuzz/procedures.fuzz.spec.ts) and the long
 * run (scripts/fuzz.ts). Two phases per procedure:
 *
 * - `refused`: inputs the procedure's own schema refuses (near-valid and hostile), alone or batched with other
 *   refused calls, from every kind of caller. Every call must be refused (BAD_REQUEST naming fields with
 *   data.issues, or UNAUTHORIZED / FORBIDDEN before validation, or the transport's 4xx), and the case must change
 *   nothing: row counts of every table and the set of Redis keys under the run's prefix, before and after each case.
 * - `valid`: inputs the schema accepts, which reach the handlers and may change state. A case every call of which was
 *   refused all the same (NOT_FOUND, a handler's BAD_REQUEST, PRECONDITION_FAILED…) must change nothing either.
 *
 * Both: never a 5xx or INTERNAL_SERVER_ERROR, and no stack trace, SQL or internal message in any error answer.
 */
export type Phase = 'refused' | 'valid';

export type CallerName = 'anonymous' | 'customer' | 'seller' | 'admin' | 'forged';

export interface FuzzWorld {
  url: string;
  watcher: StateWatcher;
  /** The Authorization header of each kind of caller. */
  authorization(caller: CallerName): string | undefined;
  /** Issues the signed-in callers new tokens (after a case may have ended a session: auth.logout). */
  refreshSessions(): Promise<void>;
  /** Strings the fixtures made (order ids…), tried wherever a string schema accepts them. */
  known: readonly string[];
  close(): Promise<void>;
}

export interface PlanEntry {
  path: string;
  phase: Phase;
  runs: number;
}

export interface ProcedureReport extends PlanEntry {
  /** Calls sent to this procedure (shrinking included), by the answer's code. */
  codes: Record<string, number>;
  ms: number;
  /** The slowest case and its time. */
  slowest?: { ms: number; case: string };
  failure?: string;
}

/** Codes a refused input may get: validation, or the caller stopped before it, or the transport refusing the request. */
const REFUSALS = new Set(['BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE', 'HTTP 413', 'HTTP 414', 'HTTP 431']);

/** Spreads `total` cases over the procedures: 55% to refused input, 45% to valid; a subscription gets a quarter share. */
export function planCases(procs: ProcedureInfo[], total: number, only?: RegExp): PlanEntry[] {
  const weight = (p: ProcedureInfo) => (p.type === 'subscription' ? 0.25 : 1);
  const share = (phase: Phase, eligible: ProcedureInfo[], budget: number) => {
    const sum = eligible.reduce((s, p) => s + weight(p), 0);
    return eligible.map((p) => ({ path: p.path, phase, runs: Math.max(1, Math.floor((budget * weight(p)) / sum)) }));
  };
  const refusedBudget = Math.floor(total * 0.55);
  const plan: PlanEntry[] = [
    ...share(
      'refused',
      procs.filter((p) => p.schema),
      refusedBudget,
    ),
    ...share('valid', procs, total - refusedBudget),
  ];
  return only ? plan.filter((e) => only.test(`${e.phase}:${e.path}`)) : plan;
}

/** Derives every procedure's arbitraries; throws naming the procedure and the schema part it cannot handle. */
export function deriveAll(procs: ProcedureInfo[], known: readonly string[]): Map<string, Derived | null> {
  const out = new Map<string, Derived | null>();
  for (const p of procs) {
    try {
      out.set(p.path, p.schema ? deriveArbitraries(p.schema, { known }) : null);
    } catch (err) {
      throw new Error(`${p.path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return out;
}

/**
 * What a handler may write while it refuses a valid input, excused in the valid phase (never in the refused one, where
 * no handler runs): products.get caches what it read, a missing product too (30 s), with its one-rebuilder lock; the
 * accept path's pricing snapshot of a product (`<prefix>:product:<id>`, read by orders.place, cart and
 * subscriptions.create) is filled on a miss and dropped when the product changes; chat.send counts the attempt in the
 * sender's rate window before it looks the thread up; the customer's key at the card gateway (billing_customers) is
 * made once, on first use, whether or not the card is then registered.
 */
const HANDLER_WRITES: Excuse = {
  key: (key) => /\}:(?:detail:v2|rebuild)$/.test(key) || /:(?:chat-rate|product):\d+$/.test(key),
  table: (name) => name === 'billing_customers',
};

/** How long shrinking a failure may go on (each candidate is a request). */
const SHRINK_BUDGET_MS = 10_000;

const stableHash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) | 0, 7);

/** Whether the server must refuse this call's input: its schema refuses what the server will parse. */
function mustRefuse(proc: ProcedureInfo, received: ReturnType<typeof receivedInputs>[number], c: HttpCase): boolean {
  if (!proc.schema) return false; // tRPC never reads the input of a procedure that takes none
  if (c.contentType && !/^application\/json\b/i.test(c.contentType)) return !accepts(proc.schema, {}) && !accepts(proc.schema, undefined);
  return !received.parsed || !accepts(proc.schema, received.value);
}

export class ProcedureFuzzer {
  private readonly byPath: Map<string, ProcedureInfo>;

  constructor(
    private readonly world: FuzzWorld,
    private readonly procs: ProcedureInfo[],
    private readonly derived: Map<string, Derived | null>,
  ) {
    this.byPath = new Map(procs.map((p) => [p.path, p]));
  }

  /** The root input of one call in a phase. */
  private rootInput(p: ProcedureInfo, phase: Phase): fc.Arbitrary<unknown> {
    const d = this.derived.get(p.path);
    if (!d)
      return fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
        { weight: 1, arbitrary: hostileRoot() },
      );
    if (phase === 'valid') return d.valid;
    return fc.oneof({ weight: 8, arbitrary: d.invalid ?? hostileRoot() }, { weight: 2, arbitrary: hostileRoot() });
  }

  private caseArbitrary(p: ProcedureInfo, phase: Phase): fc.Arbitrary<HttpCase> {
    const peers = this.procs.filter((q) => q.type === p.type && q.type !== 'subscription' && (phase === 'valid' || q.schema));
    const callers: CallerName[] = phase === 'refused' ? ['anonymous', 'customer', 'seller', 'admin', 'forged'] : ['anonymous', 'customer', 'seller', 'admin'];
    const peerCalls = peers.length
      ? fc.array(
          fc.constantFrom(...peers).chain((q) => this.rootInput(q, phase).map((input) => ({ path: q.path, input }))),
          { maxLength: 2 },
        )
      : fc.constant([]);
    const contentTypes =
      phase === 'refused' && p.type === 'mutation'
        ? fc.oneof(
            { weight: 12, arbitrary: fc.constant(undefined) },
            {
              weight: 2,
              arbitrary: fc.constantFrom(
                'application/json; charset=utf-8',
                'APPLICATION/JSON',
                'text/plain',
                'application/x-www-form-urlencoded',
                'multipart/form-data; boundary=x',
                'application/octet-stream',
              ),
            },
          )
        : fc.constant(undefined);
    return fc
      .record({
        caller: fc.constantFrom(...callers),
        forged: fc.constantFrom('Bearer ', 'Bearer x', `Bearer ${'a'.repeat(4000)}`, 'Basic Zm9vOmJhcg==', 'Bearer a b', 'Token abc'),
        batched: p.type === 'subscription' ? fc.constant(false) : fc.boolean(),
        position: fc.nat(),
        input: this.rootInput(p, phase),
        peers: peerCalls,
        contentType: contentTypes,
      })
      .map(({ caller, forged, batched, position, input, peers: others, contentType }) => {
        const own = { path: p.path, input };
        const calls = batched ? [...others] : [];
        calls.splice(position % (calls.length + 1), 0, own);
        const c: HttpCase = { type: p.type, batch: batched, calls, authorization: caller === 'forged' ? forged : this.world.authorization(caller) };
        if (contentType && !batched) c.contentType = contentType;
        return c;
      })
      .filter((c) => phase === 'valid' || receivedInputs(c).every((r, i) => mustRefuse(this.byPath.get(c.calls[i]!.path)!, r, c)));
  }

  /** Problems with one answer that hold in both phases. */
  private answerProblems(c: HttpCase, a: HttpAnswer): string[] {
    const problems: string[] = [];
    if (a.status >= 500) problems.push(`HTTP ${a.status}`);
    const sent = c.calls.map((call) => call.input);
    a.calls.forEach((ans: CallAnswer, i) => {
      const path = c.calls[i]!.path;
      if (ans.code === 'INTERNAL_SERVER_ERROR') problems.push(`${path}: INTERNAL_SERVER_ERROR`);
      else if (ans.httpStatus >= 500) problems.push(`${path}: ${ans.code} (HTTP ${ans.httpStatus})`);
      if (ans.code === 'BAD_REQUEST') {
        const issues = (ans.error as { data?: { issues?: unknown } } | undefined)?.data?.issues;
        const wellFormed =
          Array.isArray(issues) &&
          issues.length > 0 &&
          issues.every((x: { path?: unknown; message?: unknown }) => typeof x.path === 'string' && typeof x.message === 'string');
        if (!wellFormed) problems.push(`${path}: BAD_REQUEST without data.issues [{path, message}]`);
      }
    });
    const errorText = a.calls.some((x) => !x.ok)
      ? a.calls.every((x) => x.error === undefined)
        ? a.text
        : JSON.stringify(a.calls.map((x) => x.error ?? null))
      : '';
    for (const leak of leaksIn(errorText, sent)) problems.push(`leak ${leak}`);
    return problems;
  }

  /** Fuzzes one procedure in one phase; the report carries the first failure (its seed, its shrunk case) if any. */
  async run(entry: PlanEntry, baseSeed: number): Promise<ProcedureReport> {
    const p = this.byPath.get(entry.path)!;
    const report: ProcedureReport = { ...entry, codes: {}, ms: 0 };
    const t0 = Date.now();
    const seed = (baseSeed ^ stableHash(`${entry.phase}:${entry.path}`)) | 0;
    let firstFailure: { at: number; message: string } | undefined;
    const property = fc.asyncProperty(this.caseArbitrary(p, entry.phase), async (c) => {
      // Shrinking sends a request per candidate: past its budget, candidates pass untried and the smallest so far stands.
      if (firstFailure && Date.now() - firstFailure.at > SHRINK_BUDGET_MS) return;
      const before = await this.world.watcher.snapshot();
      const sentAt = Date.now();
      const answer = await sendCase(this.world.url, c);
      const took = Date.now() - sentAt;
      if (took > (report.slowest?.ms ?? 0)) report.slowest = { ms: took, case: describeCase(c).slice(0, 300) };
      answer.calls.forEach((x, i) => {
        if (c.calls[i]!.path === p.path) report.codes[x.code] = (report.codes[x.code] ?? 0) + 1;
      });
      const problems = this.answerProblems(c, answer);
      const refusedAll = answer.calls.every((x) => !x.ok && x.httpStatus >= 400 && x.httpStatus < 500);
      if (entry.phase === 'refused') {
        answer.calls.forEach((x, i) => {
          if (x.ok) problems.push(`${c.calls[i]!.path}: accepted an input its schema refuses`);
          else if (!REFUSALS.has(x.code)) problems.push(`${c.calls[i]!.path}: refused with ${x.code}, not as bad input`);
        });
      }
      if (refusedAll) {
        const diff = this.world.watcher.diff(before, await this.world.watcher.snapshot(), entry.phase === 'valid' ? HANDLER_WRITES : undefined);
        if (diff) problems.push(`a refused case changed state: ${describeDiff(diff)}`);
      } else if (c.type === 'mutation' && answer.calls.some((x, i) => x.ok && !this.byPath.get(c.calls[i]!.path)!.schema)) {
        await this.world.refreshSessions();
      }
      if (problems.length) {
        const message = `${problems.join('\n')}\n  case: ${describeCase(c)}\n  answer: HTTP ${answer.status} ${answer.text.slice(0, 800)}`;
        firstFailure ??= { at: Date.now(), message };
        throw new Error(message);
      }
    });
    const out = await fc.check(property, { seed, numRuns: entry.runs, endOnFailure: false });
    report.ms = Date.now() - t0;
    if (out.failed) {
      const err = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
      report.failure = `${entry.phase} ${entry.path}: failed after ${out.numRuns} cases (FUZZ_SEED=${baseSeed}; fast-check seed ${out.seed}, path "${out.counterexamplePath}", ${out.numShrinks} shrinks)\n${err}`;
      if (firstFailure && !err.includes(firstFailure.message)) report.failure += `\nfirst seen as:\n${firstFailure.message}`;
    }
    return report;
  }
}

function describeDiff(d: StateDiff): string {
  const rows = Object.entries(d.rows).map(([t, { before, after }]) => `${t} ${before}→${after}`);
  return [
    rows.length ? `rows: ${rows.join(', ')}` : '',
    d.added.length ? `keys added: ${d.added.slice(0, 10).join(', ')}` : '',
    d.removed.length ? `keys removed: ${d.removed.slice(0, 10).join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

/** One line per procedure and phase: cases, time, answers by code. */
export function formatReports(reports: ProcedureReport[]): string {
  return reports
    .map((r) => {
      const codes = Object.entries(r.codes)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${code} ${n}`)
        .join(', ');
      const slowest = r.slowest ? `  (slowest ${r.slowest.ms} ms${r.slowest.ms > 1000 ? `: ${r.slowest.case}` : ''})` : '';
      return `${r.phase.padEnd(7)} ${r.path.padEnd(32)} ${String(r.runs).padStart(7)} cases ${String(r.ms).padStart(7)} ms  ${codes}${slowest}${r.failure ? '  FAILED' : ''}`;
    })
    .join('\n');
}
