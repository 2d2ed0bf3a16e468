import 'reflect-metadata';
import type { ListenOptions } from 'node:net';
import type { FastifyListenOptions } from 'fastify';
import { createLogger, loadConfigOrExit, logRedisErrors, reportFatalErrors } from '@bazaar/platform';
import { createDeps } from './deps';
import { buildServer, startMetricsServer } from './server';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('api', config.LOG_LEVEL);
  logRedisErrors(logger);
  const deps = await createDeps(config);
  reportFatalErrors(deps.notifier, logger);
  const app = await buildServer(deps, logger);
  // Fastify hands these options to Node's server.listen as they are; its type does not list reusePort (Node's ListenOptions does).
  const listen: FastifyListenOptions & Pick<ListenOptions, 'reusePort'> = {
    host: config.API_HOST,
    port: config.API_PORT,
    backlog: config.API_LISTEN_BACKLOG,
    reusePort: config.API_REUSE_PORT,
  };
  await app.listen(listen);
  const metrics = await startMetricsServer(deps);
  logger.info({ port: config.API_PORT, metricsPort: metrics.port }, 'api listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
    try {
      // Open order subscriptions end first, so their long-lived responses do not hold the close.
      await deps.orderEvents.close();
      await app.close();
      await metrics.close();
      await deps.close();
      clearTimeout(timer);
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
