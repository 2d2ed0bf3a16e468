import { request } from 'node:http';

/** A tRPC call's HTTP answer: status, headers and the parsed body. */
export interface TrpcAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { result?: { data?: unknown }; error?: { code: number; message: string; data: { code: string; retryAfterSeconds?: number } } };
}

let ipSeq = 10;
/** A fresh source address in 127.0.0.0/8 for this jest worker's next case (127.0.0.10 and up): per-IP counters nobody else touches. */
export const newLoopbackIp = () => `127.0.0.${ipSeq++}`;

/**
 * One tRPC call over HTTP from a given loopback address: a POST for a mutation, a GET with ?input= for a query
 * (as httpLink sends them). A socket bound to 127.0.0.N reaches a server on 127.0.0.1, whose req.ip is 127.0.0.N.
 */
export function trpcFrom(baseUrl: string, path: string, input: unknown, opts: { ip: string; token?: string; query?: boolean }): Promise<TrpcAnswer> {
  const url = new URL(`${baseUrl}/trpc/${path}`);
  if (opts.query) url.searchParams.set('input', JSON.stringify(input));
  const body = opts.query ? undefined : JSON.stringify(input);
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.query ? 'GET' : 'POST', headers, localAddress: opts.ip, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString()) as TrpcAnswer['json'] }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
