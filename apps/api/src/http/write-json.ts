import type { FastifyReply, FastifyRequest } from 'fastify';
import { SECURITY_HEADERS } from './security-headers';

/**
 * A fast path's answer, as tRPC's adapter answers a plain (unbatched or batched, non-streaming) call: the same
 * status and headers (the security headers too), written straight to the socket (Node sends the head and a string body in one write, where
 * Fastify's reply would send a Buffer body in a second). `extra`: the RateLimit-* headers, Retry-After.
 */
export function writeJson(req: FastifyRequest, reply: FastifyReply, status: number, body: string, extra: Record<string, string> = {}): void {
  reply.hijack();
  reply.raw.writeHead(status, {
    ...SECURITY_HEADERS,
    vary: 'trpc-accept, accept',
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': String(req.id),
    ...extra,
  });
  reply.raw.end(body);
}
