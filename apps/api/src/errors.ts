import { TRPCError } from '@trpc/server';
import type { CancelRefusal, ClaimRefusal, FailureReason, FulfillmentRefusal, RefundRefusal } from '@bazaar/contracts';

type Reason = FailureReason | ClaimRefusal | RefundRefusal | FulfillmentRefusal | CancelRefusal;

/** A business rule refused up front: PRECONDITION_FAILED with data.reason (contract). */
export class ReasonedError extends Error {
  constructor(
    readonly reason: Reason | null,
    message: string,
  ) {
    super(message);
  }
}

export function preconditionFailed(reason: Reason | null, message: string): TRPCError {
  return new TRPCError({ code: 'PRECONDITION_FAILED', message, cause: new ReasonedError(reason, message) });
}

/** A limit was hit: TOO_MANY_REQUESTS with data.retryAfterSeconds (contract). */
export class RetryAfterError extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(message);
  }
}

export function tooManyRequests(retryAfterSeconds: number, message: string): TRPCError {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  return new TRPCError({ code: 'TOO_MANY_REQUESTS', message, cause: new RetryAfterError(seconds, message) });
}

export interface FieldIssue {
  path: string;
  message: string;
}

/** BAD_REQUEST naming a field, for input that parses but names something that is not there. */
export class FieldError extends Error {
  constructor(readonly issues: FieldIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
}

export function badField(path: (string | number)[], message: string): TRPCError {
  const issues = [{ path: path.join('.'), message }];
  return new TRPCError({ code: 'BAD_REQUEST', message: `Invalid input: ${path.join('.')}: ${message}`, cause: new FieldError(issues) });
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Refuses (BAD_REQUEST naming the field) the first string in `value` that is not well-formed UTF-16, a lone
 * surrogate: what goes into a JSON column (an order's or a subscription's fulfillment) must be, for MariaDB's
 * json_valid refuses its `\ud800` escape and the write fails.
 */
export function refuseIllFormedText(value: unknown, path: (string | number)[]): void {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw badField(path, 'not valid unicode text (a lone surrogate)');
  } else if (Array.isArray(value)) value.forEach((v, i) => refuseIllFormedText(v, [...path, i]));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) refuseIllFormedText(v, [...path, k]);
}

/** Zod / Standard Schema issues (from tRPC input validation) as "a.0.b: message". */
export function schemaIssues(cause: unknown): FieldIssue[] | null {
  const issues = (cause as { issues?: unknown } | null)?.issues;
  if (!Array.isArray(issues)) return null;
  return issues.map((i: { path?: readonly (PropertyKey | { key: PropertyKey })[]; message?: string; code?: string; keys?: string[] }) => {
    const path = (i.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p));
    if (i.code === 'unrecognized_keys' && Array.isArray(i.keys)) {
      return { path: [...path, ...i.keys].join('.') || '(root)', message: `unknown field${i.keys.length > 1 ? 's' : ''}` };
    }
    return { path: path.join('.') || '(root)', message: i.message ?? 'invalid' };
  });
}
