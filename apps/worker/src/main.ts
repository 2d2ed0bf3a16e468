import 'reflect-metadata';
import { setPriority } from 'node:os';
import { createLogger, loadConfigOrExit, logRedisErrors, reportFatalErrors } from '@bazaar/platform';
import { startWorkerApp } from './worker-app';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger('worker', config.LOG_LEVEL);
  logRedisErrors(log);
  if (config.WORKER_NICE > 0) {
    // Below the api on a shared host: accepting stays quick while settling takes the CPU left (the queue absorbs the difference).
    setPriority(0, config.WORKER_NICE);
    log.info({ nice: config.WORKER_NICE }, 'worker runs at a lower CPU priority');
  }
  const app = await startWorkerApp(config, { log });
  reportFatalErrors(app.notifier, log);

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
