import 'reflect-metadata';
import { loadConfigOrExit } from '@bazaar/platform';
import { createDataSource, ensureDatabase } from '../data-source';

/** `npm run db:migrate`: creates the database if needed and applies pending migrations. */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  await ensureDatabase(config.MYSQL_URL);
  const ds = createDataSource({ ...config, MYSQL_REPLICA_URLS: [] });
  await ds.initialize();
  try {
    const applied = await ds.runMigrations({ transaction: 'each' });
    process.stdout.write(applied.length ? `applied ${applied.map((m) => m.name).join(', ')}\n` : 'schema is up to date\n');
  } finally {
    await ds.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
