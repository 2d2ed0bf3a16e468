import { createLogger, loadConfigOrExit } from '@bazaar/platform';
import { startFakeGateway } from './fake-gateway';

/** `npm run start:fake-gateway`: the local stand-in for the card gateway (FAKE_GATEWAY_PORT, PAYMENT_SECRET_KEY). */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger('fake-gateway', config.LOG_LEVEL);
  const gateway = await startFakeGateway({ port: config.FAKE_GATEWAY_PORT, host: '0.0.0.0', secretKey: config.PAYMENT_SECRET_KEY, logger: log });
  log.info({ url: gateway.url }, 'fake payment gateway started (Toss Payments API shape; test controls under /__test)');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await gateway.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fake gateway failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
