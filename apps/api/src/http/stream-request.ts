import type { FastifyRequest } from 'fastify';

/**
 * A request tRPC answers as a stream (JSON lines, httpBatchStreamLink): one
 * with a trpc-accept header, or an accept header listing application/jsonl
 * (tRPC reads trpc-accept first, then accept). The fast paths leave those to
 * tRPC.
 */
export function isStreamRequest(req: FastifyRequest): boolean {
  if (req.headers['trpc-accept'] !== undefined) return true;
  const accept = req.headers.accept;
  return accept !== undefined && accept.includes('application/jsonl');
}
