/**
 * The ceiling for products.get on this machine: a bare Fastify route that
 * answers the same bytes, with the same headers, as a cached products.get
 * answer (BARE_BODY_FILE), and nothing else.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const body = readFileSync(process.env.BARE_BODY_FILE ?? '');
const app = Fastify();
app.get('/bare', (_req, reply) => {
  void reply.header('vary', 'trpc-accept, accept').header('content-type', 'application/json').send(body);
});
app.get('/readyz', async () => ({ status: 'ready' }));
app.listen({ host: '127.0.0.1', port: Number(process.env.BARE_PORT) }).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
