import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { appRouter } from '../router';

/** Fastify's own refusals of a request, by status, as the tRPC codes that mean the same. */
const CODES: Partial<Record<number, TRPCError['code']>> = {
  400: 'BAD_REQUEST',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * The error handler: a request to /trpc that Fastify refuses before tRPC sees it (a content type it has no parser
 * for, a body over API_BODY_LIMIT_BYTES) is answered as tRPC answers — the contract's error shape, one per procedure
 * of a batch — not with Fastify's own body and its FST_ERR_* code. Every other error goes on to Fastify's handler.
 */
export function frameworkErrorsAsTrpc(error: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const code = CODES[error.statusCode ?? 0];
  if (!code || !req.url.startsWith('/trpc/') || !error.code?.startsWith('FST_')) throw error;
  const message =
    code === 'UNSUPPORTED_MEDIA_TYPE'
      ? `Unsupported content-type "${String(req.headers['content-type'] ?? '')}"`
      : code === 'PAYLOAD_TOO_LARGE'
        ? 'the request body is too large'
        : 'the request could not be read';
  const trpcError = new TRPCError({ code, message });
  const q = req.url.indexOf('?');
  const batch = q >= 0 && new URLSearchParams(req.url.slice(q + 1)).get('batch') === '1';
  const paths = req.url.slice('/trpc/'.length, q < 0 ? undefined : q).split(',');
  const shapes = paths.map((path) => ({
    error: getErrorShape({ config: appRouter._def._config, error: trpcError, type: 'unknown', path: safeDecode(path), input: undefined, ctx: undefined }),
  }));
  return reply
    .code(getHTTPStatusCodeFromError(trpcError))
    .type('application/json')
    .send(JSON.stringify(batch ? shapes : shapes[0]));
}

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};
