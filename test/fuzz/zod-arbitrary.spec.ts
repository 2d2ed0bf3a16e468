import fc from 'fast-check';
import { z } from 'zod';
import { orderPlaceInput, productListInput, signupInput, storeUpdateInput } from '@bazaar/contracts';
import { RawJson, parseLikeServer, toJsonText } from './wire-json';
import { UnsupportedSchemaError, accepts, deriveArbitraries } from './zod-arbitrary';

/** The deriver on its own (no server): what it draws is what the schema says, and what it cannot read it names. */
describe('zod → fast-check derivation', () => {
  const onTheWire = (v: unknown) => {
    const parsed = parseLikeServer(toJsonText(v));
    return parsed.ok ? { json: true as const, value: parsed.value } : { json: false as const };
  };

  it.each([
    ['signup', signupInput],
    ['orders.place', orderPlaceInput],
    ['products.list', productListInput],
    ['stores.update', storeUpdateInput],
  ])('every valid %s input passes its schema, as sent on the wire', (_name, schema) => {
    const { valid } = deriveArbitraries(schema);
    fc.assert(
      fc.property(valid, (v) => {
        const sent = onTheWire(v);
        return sent.json && accepts(schema, sent.value);
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('invalid inputs are mostly refused, and reach past each bound', () => {
    const schema = z.strictObject({ n: z.number().int().min(1).max(99), s: z.string().min(2).max(5), tags: z.array(z.enum(['A', 'B'])).max(2) });
    const { invalid } = deriveArbitraries(schema);
    const samples = fc.sample(invalid!, { numRuns: 2000, seed: 7 }).map(onTheWire);
    const refused = samples.filter((s) => !s.json || !accepts(schema, s.value)).length;
    expect(refused / samples.length).toBeGreaterThan(0.85);
    const texts = fc.sample(invalid!, { numRuns: 2000, seed: 7 }).map((v) => toJsonText(v) ?? '');
    for (const edge of ['"n":0', '"n":100', '"n":1e400', '"n":-0', '"n":9007199254740993', '__proto__']) expect(texts.some((t) => t.includes(edge))).toBe(true);
  });

  it('writes what JSON.stringify cannot: -0, huge numbers, own __proto__ keys', () => {
    const o: Record<string, unknown> = {};
    Object.defineProperty(o, '__proto__', { value: { role: 'ADMIN' }, enumerable: true });
    expect(toJsonText({ a: new RawJson('-0'), b: new RawJson('1e400'), o, skip: undefined })).toBe('{"a":-0,"b":1e400,"o":{"__proto__":{"role":"ADMIN"}}}');
  });

  it.each([
    ['a date', z.strictObject({ at: z.date() }), 'zod type "date" at at'],
    ['a bigint', z.bigint(), 'zod type "bigint" at (root)'],
    ['a map', z.strictObject({ m: z.map(z.string(), z.string()) }), 'zod type "map" at m'],
    ['a url', z.url(), 'string format "url" at (root)'],
    ['a lazy schema', z.lazy(() => z.string()), 'zod type "lazy" at (root)'],
    ['a multipleOf', z.strictObject({ list: z.array(z.number().multipleOf(5)) }), 'number check "multiple_of" at list.0'],
  ])('names what it cannot derive: %s', (_what, schema, message) => {
    let error: unknown;
    try {
      deriveArbitraries(schema);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UnsupportedSchemaError);
    expect((error as Error).message).toContain(message);
  });
});
