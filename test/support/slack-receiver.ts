import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for a Slack incoming webhook (a real HTTP server): records each accepted post with its time;
 * `answers` scripts the statuses of the first posts (e.g. a 429 with Retry-After), 200 after them.
 */
export async function slackReceiver(answers: { status: number; retryAfter?: string }[] = []) {
  const posts: { at: number; text: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const a = answers.shift() ?? { status: 200 };
      if (a.status === 200) posts.push({ at: Date.now(), text: (JSON.parse(body) as { text: string }).text });
      res.writeHead(a.status, a.retryAfter ? { 'retry-after': a.retryAfter } : {}).end(a.status === 200 ? 'ok' : 'rate_limited');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/XXXX`,
    posts,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Waits until ok() or ms pass. */
export async function waitFor(ok: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}
