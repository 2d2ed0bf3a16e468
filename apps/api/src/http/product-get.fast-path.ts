import type { FastifyReply, FastifyRequest } from 'fastify';
import { productGetInput } from '@bazaar/contracts';
import type { Metrics } from '@bazaar/platform';
import type { ProductDetailCache, ProductRead } from '../services/product-detail.cache';
import type { RateLimits } from '../services/rate-limits';
import { fastPathLimit } from './fast-path-limit';
import { isStreamRequest } from './stream-request';
import { writeJson } from './write-json';

const PATH = '/trpc/products.get';

/**
 * products.get without the tRPC adapter's per-request cost, same bytes on the
 * wire. The stock adapter builds a fetch Request, an AbortController, a URL
 * and a context per call and then serializes the answer; for the hottest read
 * that is most of the CPU. This serves a GET of products.get (alone, or a
 * batch of only products.get, as httpLink / httpBatchLink send it) straight
 * from the product cache, writing the cached answer's JSON (built once per
 * product version) around the live stock and view count.
 *
 * Anything else — bad input, an unknown product, a streaming request, a batch
 * mixing procedures — is left to tRPC, which answers with its own errors. A
 * found product is answered here (its view counted once); an unknown one
 * counts nothing, so tRPC's second look counts nothing either.
 */
export function productGetFastPath(products: ProductDetailCache, metrics: Metrics, limits: RateLimits | null = null) {
  return async function fastPath(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (!mayServe(req)) return false;
    const started = process.hrtime.bigint();
    const call = parse(req.url);
    if (!call) return false;
    const limitHeaders = await fastPathLimit(limits, 'products.get', req, call.productIds.length);
    if (!limitHeaders) return false;
    let body: string;
    if (call.batch) {
      const reads = await Promise.all(call.productIds.map((id) => products.read(id)));
      if (reads.some((r) => r === null)) return false;
      body = `[${(reads as ProductRead[]).map(result).join(',')}]`;
    } else {
      const read = await products.read(call.productIds[0] ?? 0);
      if (!read) return false;
      body = result(read);
    }
    writeJson(req, reply, 200, body, limitHeaders);
    metrics.httpDuration.observe({ procedure: 'products.get', code: 'OK' }, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };
}

/** A GET of products.get that is not a streaming request: the only requests the fast path looks at. */
export const mayServe = (req: FastifyRequest): boolean => req.method === 'GET' && req.url.startsWith(PATH) && !isStreamRequest(req);

const result = (r: ProductRead): string => `{"result":{"data":${r.entry.head}${r.stock},"viewCount":${r.viewCount}}}}`;

/** `/trpc/products.get?input=…` or `/trpc/products.get,products.get?batch=1&input=…`; null when it is anything else. */
function parse(url: string): { batch: boolean; productIds: number[] } | null {
  const q = url.indexOf('?');
  if (q < 0) return null;
  const path = url.slice(0, q);
  const params = new URLSearchParams(url.slice(q + 1));
  const raw = params.get('input');
  if (raw === null) return null;
  let input: unknown;
  try {
    input = JSON.parse(raw);
  } catch {
    return null;
  }
  const batch = params.get('batch');
  if (batch === null) return path === PATH ? one(input) : null;
  if (batch !== '1' || typeof input !== 'object' || input === null) return null;
  const paths = path.slice('/trpc/'.length).split(',');
  if (paths.length > 100 || paths.some((p) => p !== 'products.get')) return null;
  const productIds: number[] = [];
  for (let i = 0; i < paths.length; i++) {
    const id = one((input as Record<string, unknown>)[String(i)])?.productIds[0];
    if (id === undefined) return null;
    productIds.push(id);
  }
  return Object.keys(input).length === paths.length ? { batch: true, productIds } : null;
}

function one(input: unknown): { batch: false; productIds: number[] } | null {
  const parsed = productGetInput.safeParse(input);
  return parsed.success ? { batch: false, productIds: [parsed.data.productId] } : null;
}
