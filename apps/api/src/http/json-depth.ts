import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FieldError } from '../errors';
import { appRouter } from '../router';
import { SECURITY_HEADERS } from './security-headers';

/** No procedure's input nests deeper than a few levels; 32 leaves room and refuses the hostile. */
export const MAX_JSON_DEPTH = 32;

/**
 * Whether JSON text nests arrays and objects deeper than `max`, by one pass over it (strings skipped). A body of a
 * megabyte of `[` costs V8's JSON.parse ~100 ms of CPU; this refuses it in about a millisecond, before any parse.
 */
export function nestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

/**
 * The tRPC input of a request to /trpc (a GET's `input` parameter, a POST's body), if it nests too deep: answered
 * here as tRPC answers bad input (BAD_REQUEST naming the root, one error per procedure of a batch), before tRPC or a
 * fast path parses it. Returns true when it answered.
 */
export function refuseTooDeep(req: FastifyRequest, reply: FastifyReply, text: string | undefined): boolean {
  if (text === undefined || text.length <= MAX_JSON_DEPTH || !nestsDeeperThan(text)) return false;
  const q = req.url.indexOf('?');
  const pathPart = req.url.slice('/trpc/'.length, q < 0 ? undefined : q);
  const batch = q >= 0 && new URLSearchParams(req.url.slice(q + 1)).get('batch') === '1';
  const paths = decodeURIComponent(pathPart).split(',');
  const message = `nested more than ${MAX_JSON_DEPTH} levels deep`;
  const shapes = paths.map((path) => {
    const error = new TRPCError({ code: 'BAD_REQUEST', message: `Invalid input: (root): ${message}`, cause: new FieldError([{ path: '(root)', message }]) });
    return {
      error: getErrorShape({ config: appRouter._def._config, error, type: 'unknown', path, input: undefined, ctx: undefined }),
      status: getHTTPStatusCodeFromError(error),
    };
  });
  const body = batch ? JSON.stringify(shapes.map((s) => ({ error: s.error }))) : JSON.stringify({ error: shapes[0]!.error });
  reply.hijack();
  reply.raw.writeHead(shapes[0]!.status, {
    ...SECURITY_HEADERS,
    vary: 'trpc-accept, accept',
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': String(req.id),
  });
  reply.raw.end(body);
  return true;
}

/**
 * A GET's raw `input` parameter, decoded — only when the URL holds more opening brackets (`[`, `{`, or their
 * percent-encodings) than MAX_JSON_DEPTH, so that the hot reads pay one scan of their URL and no parse.
 */
export function queryInput(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  let opening = 0;
  for (let i = q; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 91 || c === 123) opening++;
    else if (c === 37 && (url.charCodeAt(i + 1) === 53 || url.charCodeAt(i + 1) === 55)) {
      const d = url.charCodeAt(i + 2) | 32; // %5B, %7B in either case
      if (d === 98) opening++;
    }
  }
  if (opening <= MAX_JSON_DEPTH) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get('input') ?? undefined;
}
