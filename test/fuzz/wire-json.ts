/**
 * JSON as it goes on the wire, including what JSON.stringify cannot write: a RawJson token is written as its text
 * (`-0`, `1e400`, a 30-digit integer, malformed JSON), and an own `__proto__` key is written like any other key.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A plain object with these own keys, `__proto__` included (an object literal would set the prototype instead). */
export function ownObject(entries: Iterable<readonly [string, unknown]>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
  return o;
}

/** `o` with key `k` set to `v` (its other own keys kept, in order). */
export const withKey = (o: Record<string, unknown>, k: string, v: unknown) => ownObject([...Object.entries(o).filter(([key]) => key !== k), [k, v] as const]);

/** `o` without key `k`. */
export const withoutKey = (o: Record<string, unknown>, k: string) => ownObject(Object.entries(o).filter(([key]) => key !== k));

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RawJson);

/** The JSON text of a wire value; undefined for `undefined` (an absent input, or a key left out). */
export function toJsonText(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (v instanceof RawJson) return v.text;
  if (Array.isArray(v)) return `[${v.map((x) => toJsonText(x) ?? 'null').join(',')}]`;
  if (isPlainObject(v)) {
    const parts: string[] = [];
    for (const k of Object.keys(v)) {
      const text = toJsonText(v[k]);
      if (text !== undefined) parts.push(`${JSON.stringify(k)}:${text}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What the server's JSON.parse makes of the text: `{ ok: false }` when it is not JSON. */
export function parseLikeServer(text: string | undefined): { ok: true; value: unknown } | { ok: false } {
  if (text === undefined || text === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Every string in a wire value (keys and values, raw texts whole): what an answer may echo back. */
export function stringsIn(v: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof v === 'string') out.add(v);
  else if (v instanceof RawJson) out.add(v.text);
  else if (Array.isArray(v)) for (const x of v) stringsIn(x, out);
  else if (isPlainObject(v))
    for (const k of Object.keys(v)) {
      out.add(k);
      stringsIn(v[k], out);
    }
  return out;
}
