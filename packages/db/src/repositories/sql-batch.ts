import type { QueryRunner } from 'typeorm';

/** One parameterized SQL statement. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/** What one statement of a batch answered: a write's header, or a SELECT's rows. */
export type StatementResult = { affectedRows: number; insertId: number } | Record<string, unknown>[];

/**
 * Sends `statements` in one round trip (the connection needs
 * multipleStatements) and returns one result per statement, in order.
 */
export async function runBatch(q: QueryRunner, statements: readonly Statement[]): Promise<StatementResult[]> {
  if (statements.length === 0) return [];
  const raw = (await q.query(
    statements.map((s) => s.sql).join(';\n'),
    statements.flatMap((s) => s.params),
  )) as StatementResult | StatementResult[];
  // mysql2 answers a single statement with its result, several with an array of results.
  return statements.length === 1 ? [raw as StatementResult] : (raw as StatementResult[]);
}

export const affected = (r: StatementResult | undefined): number => (r && !Array.isArray(r) ? r.affectedRows : 0);

export const rowsOf = <T>(r: StatementResult | undefined): T[] => (Array.isArray(r) ? (r as T[]) : []);

/** `(?, ?, …), (?, ?, …)` for `rows` rows of `columns` placeholders. */
export const valuesList = (rows: number, columns: number): string => Array.from({ length: rows }, () => `(${Array(columns).fill('?').join(', ')})`).join(', ');
