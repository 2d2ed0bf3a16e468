/**
 * The ceiling for a route on this machine: a bare Fastify route that answers
 * the same bytes, with the same headers, as the real one, and nothing else.
 * GET /bare answers BARE_BODY_FILE (a cached products.get answer, for the
 * read bench), GET /bare/<name> each `name:file` of BARE_GET_FILES
 * (comma-separated; the read bench: each products.list page and the search
 * page). POST /bare/<name> answers each `name:status:file` of
 * BARE_POST_FILES (comma-separated; the money bench: a claim's yes and its
 * sold-out refusal), after Fastify parsed the JSON body as the api would.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const app = Fastify();
if (process.env.BARE_BODY_FILE) {
  const body = readFileSync(process.env.BARE_BODY_FILE);
  app.get('/bare', (_req, reply) => {
    void reply.header('vary', 'trpc-accept, accept').header('content-type', 'application/json').send(body);
  });
}
for (const spec of (process.env.BARE_GET_FILES ?? '').split(',').filter(Boolean)) {
  const [name, file] = spec.split(':');
  const body = readFileSync(file ?? '');
  app.get(`/bare/${name}`, (_req, reply) => {
    void reply.header('vary', 'trpc-accept, accept').header('content-type', 'application/json').send(body);
  });
}
for (const spec of (process.env.BARE_POST_FILES ?? '').split(',').filter(Boolean)) {
  const [name, status, file] = spec.split(':');
  const body = readFileSync(file ?? '');
  app.post(`/bare/${name}`, (_req, reply) => {
    void reply.code(Number(status)).header('vary', 'trpc-accept, accept').header('content-type', 'application/json').send(body);
  });
}
app.get('/readyz', async () => ({ status: 'ready' }));
app.listen({ host: '127.0.0.1', port: Number(process.env.BARE_PORT) }).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
