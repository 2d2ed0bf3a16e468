import type { $ZodType } from 'zod/v4/core';

export type ProcedureType = 'query' | 'mutation' | 'subscription';

export interface ProcedureInfo {
  path: string;
  type: ProcedureType;
  /** The input schema; null for a procedure that takes no input (tRPC never parses what is sent to it). */
  schema: $ZodType | null;
}

/** What a tRPC v11 router exposes of its procedures: a flat record by path, each with its type and input parsers. */
interface RouterLike {
  _def: { procedures: object };
}
type ProcedureLike = { _def: { type: ProcedureType; inputs: unknown[] } };

const isZod = (p: unknown): p is $ZodType => typeof p === 'object' && p !== null && '_zod' in p && '~standard' in p;

/** Every procedure of the router, with its type and its input schema; throws on an input that is not one zod schema. */
export function proceduresOf(router: RouterLike): ProcedureInfo[] {
  return Object.entries(router._def.procedures as Record<string, ProcedureLike>)
    .map(([path, proc]) => {
      const { type, inputs } = proc._def;
      if (inputs.length > 1) throw new Error(`${path}: ${inputs.length} chained .input() parsers; the fuzzer derives from one schema`);
      const schema = inputs[0] ?? null;
      if (schema !== null && !isZod(schema)) throw new Error(`${path}: its input parser is not a zod schema`);
      return { path, type, schema };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}
