import { RawJson, parseLikeServer, stringsIn, toJsonText } from './wire-json';
import type { ProcedureType } from './procedures';

/** One HTTP request to /trpc: one call, or a batch (`/trpc/a,b?batch=1`) of calls of one procedure type. */
export interface Call {
  path: string;
  /** A wire value (wire-json.ts); undefined sends no input. */
  input: unknown;
}

export interface HttpCase {
  type: ProcedureType;
  /** The Authorization header, if any. */
  authorization?: string;
  batch: boolean;
  calls: Call[];
  /** A POST's content type; application/json unless a case tries another. */
  contentType?: string;
}

export interface CallAnswer {
  ok: boolean;
  /** tRPC's error code (data.code), or `HTTP <status>` for an answer that is not tRPC's JSON. */
  code: string;
  /** The call's own status (data.httpStatus in a batch), else the answer's. */
  httpStatus: number;
  error?: unknown;
}

export interface HttpAnswer {
  status: number;
  text: string;
  calls: CallAnswer[];
}

/** The text of a case's input: the call's input, or the batch's `{"0": …, "1": …}` (absent inputs left out). */
export function inputText(c: HttpCase): string | undefined {
  if (!c.batch) return toJsonText(c.calls[0]!.input);
  const parts = c.calls.flatMap((call, i) => {
    const t = toJsonText(call.input);
    return t === undefined ? [] : [`"${i}":${t}`];
  });
  return `{${parts.join(',')}}`;
}

/** What each call's procedure receives, as the server will parse it: `{ parsed: false }` when the text is not JSON. */
export function receivedInputs(c: HttpCase): ({ parsed: true; value: unknown } | { parsed: false })[] {
  const parsed = parseLikeServer(inputText(c));
  if (!parsed.ok) return c.calls.map(() => ({ parsed: false as const }));
  if (!c.batch) return [{ parsed: true, value: parsed.value }];
  const v = parsed.value;
  const isObject = typeof v === 'object' && v !== null && !Array.isArray(v);
  // tRPC refuses a batch whose input is not an object, for every call that reads its input.
  if (!isObject) return c.calls.map(() => ({ parsed: false as const }));
  return c.calls.map((_, i) => ({ parsed: true as const, value: Object.hasOwn(v, String(i)) ? (v as Record<string, unknown>)[String(i)] : undefined }));
}

/** Sends the case over plain HTTP (fetch): GET with ?input= for queries and subscriptions, POST with a body for mutations. */
export async function sendCase(baseUrl: string, c: HttpCase, opts: { timeoutMs?: number; streamWaitMs?: number } = {}): Promise<HttpAnswer> {
  const text = inputText(c);
  const paths = c.calls.map((call) => call.path).join(',');
  const params = new URLSearchParams();
  if (c.batch) params.set('batch', '1');
  const headers: Record<string, string> = {};
  if (c.authorization !== undefined) headers.authorization = c.authorization;
  let body: string | undefined;
  const method = c.type === 'mutation' ? 'POST' : 'GET';
  if (method === 'GET') {
    if (text !== undefined) params.set('input', text);
  } else {
    body = text ?? '';
    headers['content-type'] = c.contentType ?? 'application/json';
  }
  const query = params.toString();
  const url = `${baseUrl}/trpc/${paths}${query ? `?${query}` : ''}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs ?? 15_000);
  try {
    const res = await fetch(url, { method, headers, body, signal: abort.signal });
    const isStream = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
    const answerText = isStream ? await firstFrames(res, opts.streamWaitMs ?? 300) : await res.text();
    return { status: res.status, text: answerText, calls: isStream ? streamCalls(answerText) : jsonCalls(res.status, answerText, c) };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** What an SSE answer sent within `waitMs`: its first frames (a subscription that has nothing to say yet sends none). */
async function firstFrames(res: Response, waitMs: number): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + waitMs;
  try {
    while (!text.includes('\n\n') && Date.now() < deadline) {
      const left = deadline - Date.now();
      const chunk: Awaited<ReturnType<typeof reader.read>> | null = await Promise.race([
        reader.read(),
        new Promise<null>((r) => setTimeout(() => r(null), left)),
      ]);
      if (!chunk || chunk.done) break;
      text += decoder.decode(chunk.value as Uint8Array, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text;
}

function streamCalls(text: string): CallAnswer[] {
  const error = /event: serialized-error\ndata: (.*)\n/.exec(text);
  if (!error) return [{ ok: true, code: 'OK', httpStatus: 200 }];
  const shape = safeJson(error[1]!) as { data?: { code?: string; httpStatus?: number } } | undefined;
  return [{ ok: false, code: shape?.data?.code ?? 'UNREADABLE SSE ERROR', httpStatus: shape?.data?.httpStatus ?? 0, error: shape }];
}

function jsonCalls(status: number, text: string, c: HttpCase): CallAnswer[] {
  const json = safeJson(text);
  const one = (item: unknown): CallAnswer => {
    const i = item as { result?: unknown; error?: { data?: { code?: string; httpStatus?: number } } } | undefined;
    if (i && typeof i === 'object' && 'result' in i) return { ok: true, code: 'OK', httpStatus: status === 207 ? 200 : status };
    if (i && typeof i === 'object' && typeof i.error === 'object' && i.error !== null) {
      return { ok: false, code: i.error.data?.code ?? 'NO data.code', httpStatus: i.error.data?.httpStatus ?? status, error: i.error };
    }
    // Not tRPC's answer (the HTTP server refusing a header too large, say).
    return { ok: false, code: `HTTP ${status}`, httpStatus: status };
  };
  if (c.batch && Array.isArray(json)) return c.calls.map((_, i) => one(json[i]));
  // A batch refused as a whole (not JSON, too deep, a bad content type) answers one error for all its calls.
  const answer = one(json);
  return c.calls.map(() => answer);
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/**
 * What must never be in an error answer: stack frames, SQL and driver errors, file paths, runtime exception text.
 * (" at " alone is not one: the contract's own messages say "at least 10 characters".)
 */
export const LEAKS: readonly RegExp[] = [
  /\bat \S+ \(/,
  /\bat (?:file:|node:|\/)\S+:\d+/,
  /\.(?:ts|js|mjs|cjs):\d+/,
  /node_modules/,
  /node:internal/,
  /\bstack\b/i,
  /\b(?:SELECT|INSERT|UPDATE|DELETE)\b.*\b(?:FROM|INTO|SET|WHERE)\b/,
  /\bsql/i,
  /\bER_[A-Z_]+\b/,
  /errno/i,
  /QueryFailedError|EntityNotFound|TypeORM/i,
  /Duplicate entry|Data too long|Incorrect \w+ value|Out of range value|Deadlock found|Lock wait timeout/i,
  /ioredis|ReplyError|WRONGTYPE|ECONNREFUSED|ETIMEDOUT/,
  /TypeError|ReferenceError|RangeError|SyntaxError|Cannot read propert|is not a function|is not defined|undefined is not/,
  /in JSON at position|Unexpected token|Unexpected end of JSON|is not valid JSON/,
  /FST_[A-Z_]+/,
];

/** Leaks in `text`, once every string the request itself sent has been taken out (an answer may name a field it got). */
export function leaksIn(text: string, sent: Iterable<unknown>): string[] {
  const echoes = new Set<string>();
  for (const v of sent) for (const s of stringsIn(v)) if (s.length >= 3) echoes.add(s);
  let scrubbed = text;
  for (const s of [...echoes].sort((a, b) => b.length - a.length)) {
    scrubbed = scrubbed.split(s).join('∅');
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s) scrubbed = scrubbed.split(escaped).join('∅');
  }
  return LEAKS.filter((re) => re.test(scrubbed)).map((re) => `${re}: …${excerpt(scrubbed, re)}…`);
}

const excerpt = (text: string, re: RegExp) => {
  const m = re.exec(text);
  const i = m?.index ?? 0;
  return text.slice(Math.max(0, i - 60), i + 80);
};

/** A case as a reader can replay it: method, URL, body. */
export function describeCase(c: HttpCase): string {
  const text = inputText(c);
  const shown = text === undefined ? '(no input)' : text.length > 600 ? `${text.slice(0, 600)}… (${text.length} chars)` : text;
  const paths = c.calls.map((call) => call.path).join(',');
  return `${c.type === 'mutation' ? 'POST' : 'GET'} /trpc/${paths}${c.batch ? '?batch=1' : ''} input=${shown}${c.contentType ? ` content-type=${c.contentType}` : ''} auth=${c.authorization ? c.authorization.slice(0, 24) : '(none)'}`;
}

export { RawJson };
