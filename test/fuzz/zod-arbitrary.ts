import fc from 'fast-check';
import type { $ZodCheckDef, $ZodType, $ZodTypeDef } from 'zod/v4/core';
import { RawJson, ownObject, toJsonText, withKey, withoutKey } from './wire-json';

/**
 * fast-check arbitraries derived from a zod 4 schema by walking its definition (`schema._zod.def`: its `type`, its
 * children, and its checks with their bounds):
 *
 * - `valid`: inputs the schema accepts, biased to the edges (every bound itself, small ids, odd but legal unicode,
 *   numbers spelt `-0` or `5.0`), filtered through the schema so refinements hold;
 * - `invalid`: near-valid and hostile inputs — a valid value with one field wrong, missing or added (`__proto__`,
 *   `constructor`), wrong types, strings and arrays one past each bound or huge, numbers at and past every bound
 *   (NaN-ish strings, `1e400`, 30-digit integers, MAX_SAFE_INTEGER + 1), deep nesting, duplicate keys.
 *
 * Values are wire values (wire-json.ts): RawJson tokens stand for text JSON.stringify cannot write. An invalid value
 * is not guaranteed to be refused (a `-0` may be legal); callers classify by parsing what goes on the wire.
 *
 * A schema type or check this module does not know throws UnsupportedSchemaError naming it and where it is, so a new
 * procedure whose input uses it fails loudly instead of going unfuzzed.
 */
export class UnsupportedSchemaError extends Error {
  constructor(
    readonly at: string,
    readonly what: string,
  ) {
    super(`cannot derive arbitraries for ${what} at ${at}`);
  }
}

export interface Derived {
  valid: fc.Arbitrary<unknown>;
  /** null when nothing is refused here (z.unknown()). */
  invalid: fc.Arbitrary<unknown> | null;
}

export interface DeriveOptions {
  /** Strings worth trying wherever a string schema accepts them: ids the fixtures made (order ids, cursors). */
  known?: readonly string[];
  /** The clock refinements compare to (pickup times, coupon windows): datetimes are drawn around it. */
  now?: () => number;
}

type Node = $ZodType;
type Def = $ZodTypeDef & Record<string, unknown>;

const defOf = (s: Node) => s._zod.def as Def;
const checksOf = (s: Node): $ZodCheckDef[] => (defOf(s).checks ?? []).map((c) => c._zod.def);

/** Whether the schema accepts the value (Standard Schema validate; our schemas are synchronous). */
export function accepts(schema: Node, value: unknown, at = '(root)'): boolean {
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) throw new UnsupportedSchemaError(at, 'an asynchronous refinement or transform');
  return !result.issues;
}

/** Strings that often break code that trusts its input: SQL, markup, control characters, unicode edge cases. */
export const HOSTILE_STRINGS = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udc00x',
  '😀',
  '👩‍👩‍👧‍👦',
  'e\u0301',
  '\u202eabc',
  '\ufeff',
  'İ',
  'ß',
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '" OR ""="',
  '\\',
  '%',
  '_',
  '%00',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '${7*7}',
  '{{7*7}}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'null',
  'undefined',
  'true',
  'NaN',
  'Infinity',
  '-Infinity',
  '0',
  '-0',
  '1e3',
  '0x1F',
  ' 1',
  '1 ',
  '١٢٣',
  '[object Object]',
] as const;

/** Keys that pollute or confuse: prototype keys, and names of what an attacker would like to set. */
export const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'then',
  'role',
  'userId',
  'isAdmin',
  '',
] as const;

const NOT_JSON = [
  '{',
  '[',
  '{"a":}',
  '{"a":1,}',
  '[1,2',
  '"unterminated',
  'undefined',
  'NaN',
  "'x'",
  'tru',
  '-',
  '1e',
  '.5',
  '+1',
  '0x10',
  '\ufeff{}',
  '/**/{}',
  '\u0000',
];

/** Whole inputs that are not JSON, or JSON that no schema expects: for the root of a request only. */
export const hostileRoot = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.constantFrom(...NOT_JSON).map((t) => new RawJson(t)),
    fc.integer({ min: 33, max: 2000 }).map((n) => new RawJson('['.repeat(n) + ']'.repeat(n))),
    fc.integer({ min: 33, max: 200 }).map((n) => new RawJson('{"a":'.repeat(n) + '1' + '}'.repeat(n))),
    fc.integer({ min: 33, max: 2000 }).map((n) => new RawJson('['.repeat(n))),
    fc.constantFrom(null, true, 0, -1, '', 'x', [], {}, [{}]),
    fc.jsonValue({ maxDepth: 3 }),
  );

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const DAY = 86_400_000;

/** Derives `valid` and `invalid` arbitraries for a schema, or throws UnsupportedSchemaError. */
export function deriveArbitraries(schema: Node, opts: DeriveOptions = {}, at = '(root)'): Derived {
  const now = opts.now ?? Date.now;
  const known = opts.known ?? [];

  const derive = (s: Node, path: string): Derived => {
    const def = defOf(s);
    switch (def.type) {
      case 'string':
        return stringArbs(s, path);
      case 'number':
        return numberArbs(s, path);
      case 'boolean':
        noChecks(s, path);
        return { valid: fc.boolean(), invalid: fc.constantFrom<unknown>('true', 'false', 1, 0, null, '', [true], {}) };
      case 'null':
        return { valid: fc.constant(null), invalid: fc.constantFrom<unknown>('null', 0, false, '', [], {}) };
      case 'literal':
      case 'enum': {
        const values = (def.type === 'literal' ? (def.values as unknown[]) : Object.values(def.entries as Record<string, unknown>)) as (
          string | number | boolean | null
        )[];
        noChecks(s, path);
        return { valid: fc.constantFrom(...values), invalid: nearValues(values) };
      }
      case 'optional':
      case 'default':
      case 'prefault': {
        const inner = derive(def.innerType as Node, path);
        return { valid: fc.oneof({ weight: 5, arbitrary: inner.valid }, { weight: 1, arbitrary: fc.constant(undefined) }), invalid: withNull(inner.invalid) };
      }
      case 'nullable': {
        const inner = derive(def.innerType as Node, path);
        return { valid: fc.oneof({ weight: 5, arbitrary: inner.valid }, { weight: 1, arbitrary: fc.constant(null) }), invalid: inner.invalid };
      }
      case 'readonly':
      case 'nonoptional':
      case 'catch':
        return derive(def.innerType as Node, path);
      case 'pipe': {
        // The input side says what may be sent; the whole pipe (its transforms and output checks) says what passes.
        const inner = derive(def.in as Node, path);
        return { valid: inner.valid.filter((v) => accepts(s, v, path)), invalid: inner.invalid };
      }
      case 'array':
        return arrayArbs(s, path);
      case 'tuple':
        return tupleArbs(s, path);
      case 'object':
        return objectArbs(s, path);
      case 'record':
        return recordArbs(s, path);
      case 'union':
        return unionArbs(s, path);
      case 'unknown':
      case 'any':
        return { valid: fc.jsonValue({ maxDepth: 2 }), invalid: null };
      default:
        throw new UnsupportedSchemaError(path, `zod type "${def.type}"`);
    }
  };

  const noChecks = (s: Node, path: string) => {
    for (const c of checksOf(s)) if (c.check !== 'custom') throw new UnsupportedSchemaError(path, `${defOf(s).type} check "${c.check}"`);
  };
  const refined = (s: Node) => checksOf(s).some((c) => c.check === 'custom');
  const withNull = (a: fc.Arbitrary<unknown> | null) =>
    a ? fc.oneof({ weight: 6, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) }) : fc.constant(null);

  /** Near misses of an enum or literal: another case, a space, a lookalike, another type. */
  const nearValues = (values: readonly unknown[]): fc.Arbitrary<unknown> =>
    fc.oneof(
      fc.constantFrom(...values).chain((v) => {
        const str = String(v);
        return fc.constantFrom<unknown>(
          str.toLowerCase() === str ? str.toUpperCase() : str.toLowerCase(),
          `${str} `,
          ` ${str}`,
          `${str}\u0000`,
          str.replace(/[A-Za-z]/, (c) => (c === 'A' ? 'А' : c === 'E' ? 'Е' : c === 'O' ? 'О' : `${c}\u0301`)),
          typeof v === 'string' ? [v] : str,
          typeof v === 'string' ? { [v]: true } : !v,
        );
      }),
      fc.constantFrom<unknown>(null, '', 0, -1, true, values.join(','), values.join('|'), []),
      fc.string({ maxLength: 12 }),
    );

  const stringArbs = (s: Node, path: string): Derived => {
    const def = defOf(s);
    let min = 0;
    let max = Infinity;
    let trims = false;
    const patterns: RegExp[] = [];
    const formats: { format: string; pattern?: RegExp; def: Record<string, unknown> }[] = [];
    if (typeof def.format === 'string') formats.push({ format: def.format, pattern: def.pattern as RegExp | undefined, def });
    for (const c of checksOf(s) as (Record<string, unknown> & $ZodCheckDef)[]) {
      if (c.check === 'min_length') min = Math.max(min, c.minimum as number);
      else if (c.check === 'max_length') max = Math.min(max, c.maximum as number);
      else if (c.check === 'length_equals') min = max = c.length as number;
      else if (c.check === 'overwrite')
        trims = true; // trim or case: valid values are drawn without surrounding space
      else if (c.check === 'string_format' && c.format === 'regex') patterns.push(c.pattern as RegExp);
      else if (c.check === 'string_format') formats.push({ format: c.format as string, pattern: c.pattern as RegExp | undefined, def: c });
      else if (c.check !== 'custom') throw new UnsupportedSchemaError(path, `string check "${c.check}"`);
    }
    if (formats.length > 1) throw new UnsupportedSchemaError(path, `a string of ${formats.length} formats`);
    const format = formats[0];
    const capped = (n: number) => Math.min(n, 20_000);

    let base: fc.Arbitrary<string>;
    if (format?.format === 'email') {
      const word = fc.stringMatching(/^[a-z0-9]{1,12}$/);
      base = fc
        .tuple(word, fc.constantFrom('', '.', '+', '_'), word, word, fc.constantFrom('com', 'test', 'co.kr', 'xn--p1ai'), fc.boolean())
        .map(([a, sep, b, d, tld, upper]) => {
          const e = `${a}${sep}${b}@${d}.${tld}`;
          return upper ? e.toUpperCase() : e;
        });
    } else if (format?.format === 'datetime' || format?.format === 'date') {
      const offsetMs = fc.oneof(
        fc.integer({ min: -3 * DAY, max: 3 * DAY }),
        fc.integer({ min: -400 * DAY, max: 400 * DAY }),
        fc.integer({ min: 60_000, max: 29 * DAY }),
      );
      if (format.format === 'date') base = offsetMs.map((o) => new Date(now() + o).toISOString().slice(0, 10));
      else {
        const withOffset = format.def.offset === true;
        base = fc
          .tuple(offsetMs, fc.constantFrom(0, 540, -300, 330, 840, -720), fc.boolean())
          .map(([o, tzMinutes, millis]) => isoWithOffset(now() + o, withOffset ? tzMinutes : 0, millis));
      }
    } else if (format?.pattern) base = fc.stringMatching(format.pattern);
    else if (format) throw new UnsupportedSchemaError(path, `string format "${format.format}"`);
    else if (patterns.length > 0) base = fc.stringMatching(patterns[0]!);
    else {
      const hi = Math.min(max, min + 24);
      const text = fc.oneof(
        fc.string({ minLength: min, maxLength: hi, unit: 'grapheme-ascii' }),
        fc.string({ minLength: min, maxLength: hi, unit: 'grapheme' }),
        fc.string({ minLength: min, maxLength: hi, unit: 'binary' }),
      );
      const atBounds: fc.Arbitrary<string>[] = [fc.constantFrom(...HOSTILE_STRINGS)];
      if (Number.isFinite(max)) atBounds.push(fc.constantFrom('x', 'é', '가').map((c) => c.repeat(capped(max))));
      if (min > 0) atBounds.push(fc.constant('y'.repeat(min)));
      base = fc.oneof({ weight: 4, arbitrary: text }, { weight: 2, arbitrary: fc.oneof(...atBounds) });
    }
    if (trims) base = base.map((v) => v.trim()).filter((v) => v.length > 0 || min === 0);
    const fitting = known.filter((k) => accepts(s, k, path));
    const valid = (fitting.length ? fc.oneof({ weight: 3, arbitrary: base }, { weight: 2, arbitrary: fc.constantFrom(...fitting) }) : base).filter((v) =>
      accepts(s, v, path),
    );

    const bad: fc.Arbitrary<unknown>[] = [
      fc.constantFrom(...HOSTILE_STRINGS),
      fc.constantFrom<unknown>(null, 0, 1, -1, true, [], {}, ['x']),
      fc.integer({ min: 20_001, max: 200_000 }).map((n) => 'z'.repeat(n)),
      fc.string({ maxLength: 40, unit: 'binary' }),
      // A valid value, one character off: space around it, a control character, a lookalike, doubled.
      fc
        .tuple(base, fc.constantFrom(' ', '\n', '\u0000', '\u200b', '\ud800', '!', '😀'))
        .chain(([v, c]) => fc.constantFrom(`${c}${v}`, `${v}${c}`, `${v}${v}`, v.slice(1), v.toLowerCase(), v.toUpperCase())),
    ];
    if (min > 0) bad.push(fc.constant('q'.repeat(min - 1)));
    if (Number.isFinite(max)) bad.push(fc.constantFrom('w', '가', '😀').map((c) => c.repeat(capped(max + 1))));
    return { valid, invalid: fc.oneof(...bad) };
  };

  const numberArbs = (s: Node, path: string): Derived => {
    const def = defOf(s);
    let lo = -Infinity;
    let hi = Infinity;
    let loIn = true;
    let hiIn = true;
    let int = false;
    const formatBounds = (format: string) => {
      if (format === 'safeint') [int, lo, hi] = [true, Math.max(lo, -MAX_SAFE), Math.min(hi, MAX_SAFE)];
      else if (format === 'int32') [int, lo, hi] = [true, Math.max(lo, -(2 ** 31)), Math.min(hi, 2 ** 31 - 1)];
      else if (format === 'uint32') [int, lo, hi] = [true, Math.max(lo, 0), Math.min(hi, 2 ** 32 - 1)];
      else if (format === 'float32') [lo, hi] = [Math.max(lo, -3.4028234663852886e38), Math.min(hi, 3.4028234663852886e38)];
      else if (format !== 'float64') throw new UnsupportedSchemaError(path, `number format "${format}"`);
    };
    if (typeof def.format === 'string') formatBounds(def.format);
    for (const c of checksOf(s) as (Record<string, unknown> & $ZodCheckDef)[]) {
      if (c.check === 'number_format') formatBounds(c.format as string);
      else if (c.check === 'greater_than' && (c.value as number) >= lo) [lo, loIn] = [c.value as number, c.inclusive as boolean];
      else if (c.check === 'less_than' && (c.value as number) <= hi) [hi, hiIn] = [c.value as number, c.inclusive as boolean];
      else if (c.check !== 'custom' && c.check !== 'greater_than' && c.check !== 'less_than')
        throw new UnsupportedSchemaError(path, `number check "${c.check}"`);
    }
    const min = int ? (loIn ? Math.ceil(lo) : Math.floor(lo) + 1) : lo;
    const max = int ? (hiIn ? Math.floor(hi) : Math.ceil(hi) - 1) : hi;
    const edges: unknown[] = [];
    const inRange = (n: number) => n >= min && n <= max && (loIn || n > lo) && (hiIn || n < hi);
    for (const n of [min, max, min + 1, max - 1, 0, 1, 2, 3, 100]) if (Number.isFinite(n) && inRange(n)) edges.push(n);
    // The same numbers spelt as JSON.stringify would not: negative zero, a fraction part, an exponent.
    if (inRange(0)) edges.push(new RawJson('-0'), new RawJson('0.0'), new RawJson('0e5'));
    if (inRange(1)) edges.push(new RawJson('1.0'), new RawJson('1E0'), new RawJson('10e-1'));
    if (inRange(100)) edges.push(new RawJson('1e2'));
    let body: fc.Arbitrary<number>;
    if (int) {
      const lower = Math.max(min, -MAX_SAFE);
      const upper = Math.min(max, MAX_SAFE);
      const small = fc.integer({ min: Math.max(lower, Math.min(1, upper)), max: Math.min(upper, Math.max(lower, 1) + 40) });
      body = fc.oneof({ weight: 3, arbitrary: small }, { weight: 2, arbitrary: fc.integer({ min: lower, max: upper }) });
    } else {
      body = fc.double({ min: Math.max(min, -Number.MAX_VALUE), max: Math.min(max, Number.MAX_VALUE), noNaN: true, noDefaultInfinity: true });
    }
    const valid = fc
      .oneof({ weight: 3, arbitrary: body }, ...(edges.length ? [{ weight: 2, arbitrary: fc.constantFrom(...edges) }] : []))
      .filter((v) => accepts(s, v instanceof RawJson ? (JSON.parse(v.text) as unknown) : v, path));

    const past: unknown[] = [
      MAX_SAFE + 1,
      -MAX_SAFE - 1,
      1e308,
      -1e308,
      5e-324,
      0.1 + 0.2,
      1.5,
      -1,
      new RawJson('9007199254740993'),
      new RawJson('123456789012345678901234567890'),
      new RawJson('-123456789012345678901234567890'),
      new RawJson('1e400'),
      new RawJson('-1e400'),
      new RawJson('-0'),
      new RawJson('1e-400'),
    ];
    for (const n of [min, max])
      if (Number.isFinite(n)) {
        past.push(n - 1, n + 1, n - 0.5, n + 0.5, n + Number.EPSILON * Math.max(1, Math.abs(n)) * 4, new RawJson(`${n}.0000000000000001`), `${n}`, [n]);
      }
    const invalid = fc.oneof(
      fc.constantFrom(...past),
      fc.constantFrom<unknown>('NaN', 'Infinity', '-Infinity', '1', '0x10', '1e3', ' 1', '', '١', null, true, false, {}, { valueOf: 1 }),
      fc.double({ noDefaultInfinity: false }).filter((n) => !Number.isNaN(n)),
    );
    return { valid, invalid };
  };

  const lengthBounds = (s: Node, path: string) => {
    let min = 0;
    let max = Infinity;
    for (const c of checksOf(s) as (Record<string, unknown> & $ZodCheckDef)[]) {
      if (c.check === 'min_length') min = Math.max(min, c.minimum as number);
      else if (c.check === 'max_length') max = Math.min(max, c.maximum as number);
      else if (c.check === 'length_equals') min = max = c.length as number;
      else if (c.check !== 'custom') throw new UnsupportedSchemaError(path, `${defOf(s).type} check "${c.check}"`);
    }
    return { min, max };
  };

  /** A value nested `depth` arrays or objects deep. */
  const nested = (inner: fc.Arbitrary<unknown>) =>
    fc.tuple(inner, fc.integer({ min: 8, max: 40 }), fc.boolean()).map(([v, depth, asObject]) => {
      let out = v;
      for (let i = 0; i < depth; i++) out = asObject ? { a: out } : [out];
      return out;
    });

  const arrayArbs = (s: Node, path: string): Derived => {
    const element = derive(defOf(s).element as Node, `${path}.0`);
    const { min, max } = lengthBounds(s, path);
    const shapes = [fc.array(element.valid, { minLength: min, maxLength: Math.min(max, min + 3) })];
    if (Number.isFinite(max) && max <= 200) shapes.push(fc.array(element.valid, { minLength: max, maxLength: max }));
    const valid = fc.oneof(...shapes).filter((v) => accepts(s, v, path));
    const bad: fc.Arbitrary<unknown>[] = [
      fc.constantFrom<unknown>(null, '', 0, {}, { 0: 1, length: 1 }, '[]'),
      nested(fc.constant(1)),
      element.valid.map((v) => ownObject([['0', v]])),
      element.valid,
    ];
    if (element.invalid) {
      bad.push(
        fc
          .tuple(fc.array(element.valid, { minLength: Math.max(min, 1), maxLength: Math.max(min, 1) + 2 }), element.invalid, fc.nat())
          .map(([arr, x, i]) => arr.map((v, j) => (j === i % arr.length ? x : v))),
      );
    }
    if (min > 0) bad.push(fc.array(element.valid, { maxLength: min - 1 }));
    if (Number.isFinite(max) && max < 5000) bad.push(fc.array(element.valid, { minLength: max + 1, maxLength: max + 3 }));
    bad.push(fc.integer({ min: 1000, max: 20_000 }).map((n) => new RawJson(`[${Array.from({ length: n }, (_, i) => i + 1).join(',')}]`)));
    return { valid, invalid: fc.oneof(...bad) };
  };

  const tupleArbs = (s: Node, path: string): Derived => {
    const def = defOf(s);
    if (def.rest) throw new UnsupportedSchemaError(path, 'a tuple with a rest element');
    noChecks(s, path);
    const items = (def.items as Node[]).map((item, i) => derive(item, `${path}.${i}`));
    const valid = fc.tuple(...items.map((i) => i.valid)).filter((v) => accepts(s, v, path));
    const bad: fc.Arbitrary<unknown>[] = [fc.constantFrom<unknown>(null, {}, ''), valid.map((v) => [...v, 1]), valid.map((v) => v.slice(0, -1))];
    items.forEach((item, i) => {
      if (item.invalid) bad.push(fc.tuple(valid, item.invalid).map(([v, x]) => v.map((y, j) => (j === i ? x : y))));
    });
    return { valid, invalid: fc.oneof(...bad) };
  };

  const objectArbs = (s: Node, path: string): Derived => {
    const def = defOf(s);
    const shape = def.shape as Record<string, Node>;
    const catchall = def.catchall as Node | undefined;
    const catchallType = catchall ? defOf(catchall).type : undefined;
    if (catchallType !== undefined && catchallType !== 'never' && catchallType !== 'unknown')
      throw new UnsupportedSchemaError(path, `object catchall "${catchallType}"`);
    noChecks(s, path);
    const keys = Object.keys(shape);
    const fields = Object.fromEntries(keys.map((k) => [k, derive(shape[k]!, path === '(root)' ? k : `${path}.${k}`)]));
    const required = keys.filter((k) => shape[k]!._zod.optin === undefined);
    const record = fc.record(Object.fromEntries(keys.map((k) => [k, fields[k]!.valid])), { requiredKeys: required });
    // An optional field drawn as undefined is left out, as JSON leaves it out, before refinements judge the object.
    const present = record.map((v) => ownObject(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined)));
    const valid = refined(s) ? present.filter((v) => accepts(s, v, path)) : present;

    const bad: fc.Arbitrary<unknown>[] = [fc.constantFrom<unknown>(null, '', 0, true, [], '{}'), valid.map((v) => [v]), nested(valid)];
    const breakable = keys.filter((k) => fields[k]!.invalid);
    if (breakable.length) {
      bad.push(fc.constantFrom(...breakable).chain((k) => fc.tuple(valid, fields[k]!.invalid!).map(([v, x]) => withKey(v, k, x))));
      // The same key twice in the text: the server's JSON.parse keeps the last.
      bad.push(
        fc.constantFrom(...breakable).chain((k) =>
          fc.tuple(valid, fields[k]!.invalid!, fc.boolean()).map(([v, x, badLast]) => {
            const rest = Object.entries(v)
              .filter(([key]) => key !== k)
              .map(([key, y]) => ({ key, y }));
            const good = k in v ? v[k] : x;
            const pair = (y: unknown) => ({ key: k, y });
            const entries = badLast ? [pair(good), ...rest, pair(x)] : [pair(x), ...rest, pair(good)];
            const text = entries
              .map(({ key, y }) => [key, toJsonText(y)] as const)
              .filter(([, t]) => t !== undefined)
              .map(([key, t]) => `${JSON.stringify(key)}:${t}`);
            return new RawJson(`{${text.join(',')}}`);
          }),
        ),
      );
    }
    if (required.length) bad.push(fc.tuple(valid, fc.constantFrom(...required)).map(([v, k]) => withoutKey(v, k)));
    if (catchallType === 'never') {
      const extraKey = fc
        .oneof(
          fc.constantFrom(...HOSTILE_KEYS),
          fc.string({ maxLength: 20 }),
          fc.constantFrom(...keys).map((k) => k.toUpperCase()),
        )
        .filter((k) => !keys.includes(k));
      const extraValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant({ role: 'ADMIN', userId: 1, isAdmin: true }));
      bad.push(fc.tuple(valid, extraKey, extraValue).map(([v, k, x]) => withKey(v, k, x)));
    }
    return { valid, invalid: fc.oneof(...bad) };
  };

  const recordArbs = (s: Node, path: string): Derived => {
    const def = defOf(s);
    noChecks(s, path);
    const key = derive(def.keyType as Node, `${path}.(key)`);
    const value = derive(def.valueType as Node, `${path}.(value)`);
    const keyStrings = key.valid.filter((k): k is string => typeof k === 'string');
    const valid = fc
      .array(fc.tuple(keyStrings, value.valid), { maxLength: 5 })
      .map((pairs) => ownObject(pairs))
      .filter((v) => accepts(s, v, path));
    const bad: fc.Arbitrary<unknown>[] = [fc.constantFrom<unknown>(null, '', 0, [], [1])];
    if (value.invalid) bad.push(fc.tuple(valid, keyStrings, value.invalid).map(([v, k, x]) => withKey(v, k, x)));
    if (key.invalid)
      bad.push(
        fc
          .tuple(
            valid,
            key.invalid.filter((k): k is string => typeof k === 'string'),
            value.valid,
          )
          .map(([v, k, x]) => withKey(v, k, x)),
      );
    return { valid, invalid: fc.oneof(...bad) };
  };

  const unionArbs = (s: Node, path: string): Derived => {
    const def = defOf(s);
    noChecks(s, path);
    const options = (def.options as Node[]).map((o) => derive(o, path));
    const valid = fc.oneof(...options.map((o) => o.valid)).filter((v) => accepts(s, v, path));
    const bad = options.flatMap((o) => (o.invalid ? [o.invalid] : []));
    const discriminator = def.discriminator as string | undefined;
    if (discriminator) {
      // One option's fields under another option's tag.
      const tags = (def.options as Node[]).flatMap((o) => [...(o._zod.propValues?.[discriminator] ?? [])]);
      bad.push(
        fc
          .tuple(fc.oneof(...options.map((o) => o.valid)), fc.constantFrom(...tags))
          .map(([v, tag]) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? withKey(v as Record<string, unknown>, discriminator, tag) : v)),
      );
    }
    return { valid, invalid: bad.length ? fc.oneof(...bad) : null };
  };

  return derive(schema, at);
}

/** An ISO 8601 date-time at `ms`, written in a zone `tzMinutes` east of UTC (Z for 0), with or without milliseconds. */
function isoWithOffset(ms: number, tzMinutes: number, millis: boolean): string {
  const local = new Date(ms + tzMinutes * 60_000).toISOString().slice(0, millis ? 23 : 19);
  if (tzMinutes === 0) return `${local}Z`;
  const sign = tzMinutes > 0 ? '+' : '-';
  const abs = Math.abs(tzMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
