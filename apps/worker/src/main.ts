import 'reflect-metadata';
import { createLogger, loadConfigOrExit } from '@bazaar/platform';
import { startWorkerApp } from './worker-app';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger('worker', config.LOG_LEVEL);
  const app = await startWorkerApp(config, { log });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing active jobs');
    const timer = setTimeout(() => {
      log.error('shutdown timed out; unfinished jobs will be picked up again (stalled) and are idempotent');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
    await app.close();
    clearTimeout(timer);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
