import type { ZodType } from 'zod';

/**
 * Reading a procedure's zod input schema (zod 4's `_zod.def`): which of its keys, at any depth, look like ids, and a
 * valid input built from it. Only what the sweep needs: objects, arrays, optional/default/nullable/pipe wrappers,
 * unions (the first option), strings, numbers, booleans, enums and literals.
 */

type Schema = ZodType;
interface Def {
  type: string;
  shape?: Record<string, Schema>;
  innerType?: Schema;
  in?: Schema;
  element?: Schema;
  options?: Schema[];
  entries?: Record<string, string | number>;
  values?: unknown[];
  format?: string;
}
const def = (s: Schema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/**
 * A key that may name something someone holds: `id`, `…Id`, `…Ids`, `…Key` or `…Token` (orderId, productIds,
 * orderItemId, billingKey, admissionToken — and idempotencyKey, clientMessageId, lastEventId, which the sweep's
 * field table says name nothing of anyone's).
 */
export const isIdKey = (key: string): boolean => key === 'id' || /[a-z](Ids?|Key|Token)$/.test(key);

/** The schema under optional, default, nullable and pipe wrappers, and whether a caller may leave it out. */
function unwrap(s: Schema): { inner: Schema; optional: boolean } {
  let inner = s;
  let optional = false;
  for (;;) {
    const d = def(inner);
    if ((d.type === 'optional' || d.type === 'default' || d.type === 'prefault') && d.innerType) optional = true;
    if ((d.type === 'optional' || d.type === 'default' || d.type === 'prefault' || d.type === 'nullable' || d.type === 'readonly') && d.innerType) {
      inner = d.innerType;
    } else if (d.type === 'pipe' && d.in) inner = d.in;
    else return { inner, optional };
  }
}

/** The schemas a value of `s` may hold one level down: an object's fields (by key), an array's element, a union's options. */
function children(s: Schema): [string | null, Schema][] {
  const d = def(unwrap(s).inner);
  if (d.type === 'object') return Object.entries(d.shape ?? {});
  if (d.type === 'array' && d.element) return [[null, d.element]];
  if (d.type === 'union') return (d.options ?? []).map((o) => [null, o]);
  return [];
}

/** Every id-like key of the input, at any depth (`items.productId` is reported as `productId`), once each. */
export function idKeys(s: Schema | undefined): string[] {
  if (!s) return [];
  const found = new Set<string>();
  const walk = (node: Schema) => {
    for (const [key, child] of children(node)) {
      if (key !== null && isIdKey(key)) found.add(key);
      walk(child);
    }
  };
  walk(s);
  return [...found];
}

/** The id-like keys that hold a list or sit in one (`productIds`, `items.productId`): where a check of the first element alone would let the rest through. */
export function listedIdKeys(s: Schema | undefined): string[] {
  if (!s) return [];
  const found = new Set<string>();
  const walk = (node: Schema, listed: boolean) => {
    const inArray = listed || def(unwrap(node).inner).type === 'array';
    for (const [key, child] of children(node)) {
      if (key !== null && isIdKey(key) && (inArray || def(unwrap(child).inner).type === 'array')) found.add(key);
      walk(child, inArray);
    }
  };
  walk(s, false);
  return [...found];
}

const holdsIdKey = (s: Schema): boolean => children(s).some(([key, child]) => (key !== null && isIdKey(key)) || holdsIdKey(child));

/** A value for a field, by its name; `undefined`: none, build it from the schema. */
export type FieldValues = (key: string) => unknown;

/**
 * A valid value for `s`: a field `values` knows gets that value; other required fields are built from the schema
 * (the smallest number it takes, a string of its minimum length, an ISO date-time or date for those formats, the
 * first enum value, option or literal, one array element). Optional fields are left out unless `values` knows them
 * or they hold an id key (`items` of orders.place), so every id of the input is the one the sweep chose. With
 * `second`, a list of things holding ids gets a second element built from `second`'s values.
 */
export function buildInput(s: Schema, values: FieldValues, second?: FieldValues): unknown {
  const { inner } = unwrap(s);
  const d = def(inner);
  switch (d.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(d.shape ?? {})) {
        const known = values(key);
        if (known !== undefined) out[key] = known;
        else if (!unwrap(field).optional || holdsIdKey(field)) out[key] = buildInput(field, values, second);
      }
      return out;
    }
    case 'array':
      return second && holdsIdKey(d.element!) ? [buildInput(d.element!, values), buildInput(d.element!, second)] : [buildInput(d.element!, values, second)];
    case 'union':
      return buildInput(d.options![0]!, values, second);
    case 'enum':
      return Object.values(d.entries ?? {})[0];
    case 'literal':
      return d.values?.[0];
    case 'boolean':
      return true;
    case 'number': {
      const min = (inner as unknown as { minValue: number | null }).minValue;
      const n = min === null || !Number.isFinite(min) ? 1 : Math.ceil(min);
      const parse = (v: number) => (inner as unknown as { safeParse(v: unknown): { success: boolean } }).safeParse(v).success;
      return parse(n) ? n : n + 1;
    }
    case 'string': {
      const format = (inner as unknown as { format?: string | null }).format ?? d.format;
      if (format === 'datetime') return new Date(Date.now() + 2 * 86_400_000).toISOString();
      if (format === 'date') return new Date().toISOString().slice(0, 10);
      const min = (inner as unknown as { minLength: number | null }).minLength ?? 1;
      return 'x'.repeat(Math.max(min, 1));
    }
    default:
      throw new Error(`the sweep cannot build a value of zod type ${d.type}`);
  }
}
