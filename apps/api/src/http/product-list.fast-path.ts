import type { FastifyReply, FastifyRequest } from 'fastify';
import { productListInput } from '@bazaar/contracts';
import type { ProductListFilter } from '@bazaar/db';
import type { Metrics } from '@bazaar/platform';
import { listFilterOf } from '../routers/products/list.request';
import type { ProductListCache } from '../services/product-list.cache';
import type { RateLimits } from '../services/rate-limits';
import { fastPathLimit } from './fast-path-limit';
import { isStreamRequest } from './stream-request';
import { SECURITY_HEADERS } from './security-headers';

const PATH = '/trpc/products.list';
const PROCEDURE = 'products.list';

/**
 * products.list without the tRPC adapter's per-request cost, same bytes on
 * the wire. A GET of products.list (alone, or a batch of only products.list,
 * as httpLink / httpBatchLink send it) is validated with the procedure's own
 * schema and answered from the list cache, which the procedure reads too: the
 * page's JSON is built once per catalog version and written around the live
 * stock and view counts.
 *
 * Anything else — input the schema or the handler refuses (a query with
 * nothing to search for, a cursor this API did not return), a failed read, a
 * streaming request, a batch mixing procedures — is left to tRPC, which
 * answers with its own errors. Reads count nothing, so a second look by tRPC
 * changes nothing.
 */
export function productListFastPath(lists: ProductListCache, metrics: Metrics, limits: RateLimits | null = null) {
  return async function fastPath(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (!mayServeList(req)) return false;
    const started = process.hrtime.bigint();
    const call = parse(req.url);
    if (!call) return false;
    const limitHeaders = await fastPathLimit(limits, PROCEDURE, req, call.filters.length);
    if (!limitHeaders) return false;
    let body: Buffer;
    if (call.batch) {
      const n = call.filters.length;
      const pages = await Promise.all(call.filters.map((f, i) => lists.bytes(f, i === 0 ? BATCH_HEAD : NEXT_HEAD, i === n - 1 ? BATCH_TAIL : TAIL)));
      body = n === 1 ? pages[0]! : Buffer.concat(pages);
    } else {
      body = await lists.bytes(call.filters[0]!, HEAD, TAIL);
    }
    // Head and body in one write, with the adapter's status, headers and framing: the adapter hands Fastify a fetch
    // Response, whose body Fastify streams, so its answers are chunked (no content-length).
    reply.hijack();
    reply.raw.writeHead(200, {
      ...SECURITY_HEADERS,
      vary: 'trpc-accept, accept',
      'content-type': 'application/json',
      'x-request-id': String(req.id),
      ...limitHeaders,
      'transfer-encoding': 'chunked',
    });
    reply.raw.end(body);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (let i = 0; i < call.filters.length; i++) metrics.httpDuration.observe({ procedure: PROCEDURE, code: 'OK' }, seconds);
    return true;
  };
}

/** A GET of products.list (or a batch starting with it) that is not a streaming request: the only requests the fast path looks at. */
export const mayServeList = (req: FastifyRequest): boolean => req.method === 'GET' && req.url.startsWith(PATH) && !isStreamRequest(req);

/** What goes around each page's JSON: `{"result":{"data":…}}`, and in a batch `[…,…]`. */
const HEAD = Buffer.from('{"result":{"data":');
const TAIL = Buffer.from('}}');
const BATCH_HEAD = Buffer.from('[{"result":{"data":');
const NEXT_HEAD = Buffer.from(',{"result":{"data":');
const BATCH_TAIL = Buffer.from('}}]');

/**
 * `/trpc/products.list?input=…` or `/trpc/products.list,products.list?batch=1&input=…`, read as tRPC reads it
 * (no input, or an empty one, is the schema's default); null when it is anything else or any input is refused.
 */
function parse(url: string): { batch: boolean; filters: ProductListFilter[] } | null {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const raw = params.get('input');
  let input: unknown;
  if (raw) {
    try {
      input = JSON.parse(raw);
    } catch {
      return null;
    }
  }
  const batch = params.get('batch');
  if (batch === null) {
    if (path !== PATH) return null;
    const filter = one(input);
    return filter ? { batch: false, filters: [filter] } : null;
  }
  if (batch !== '1') return null;
  const paths = path.slice('/trpc/'.length).split(',');
  if (paths.length > 100 || paths.some((p) => p !== PROCEDURE)) return null;
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) return null;
  const filters: ProductListFilter[] = [];
  for (let i = 0; i < paths.length; i++) {
    const filter = one((input as Record<string, unknown> | undefined)?.[String(i)]);
    if (!filter) return null;
    filters.push(filter);
  }
  return { batch: true, filters };
}

function one(input: unknown): ProductListFilter | null {
  const parsed = productListInput.safeParse(input);
  if (!parsed.success) return null;
  const filter = listFilterOf(parsed.data);
  return 'refused' in filter ? null : filter;
}
