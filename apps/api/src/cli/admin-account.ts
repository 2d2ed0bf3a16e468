import 'reflect-metadata';
import { createDataSource } from '@bazaar/db';
import { loadConfigOrExit } from '@bazaar/platform';
import { ensureAdminAccount } from '../services/admin-account';

/**
 * `node apps/api/dist/cli/admin-account.js`: the admin account from ADMIN_EMAIL / ADMIN_PASSWORD (created or updated),
 * against a migrated schema. Compose's one-shot `migrate` runs it after the migrations; `npm run up` seeds it.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const ds = createDataSource({ ...config, MYSQL_REPLICA_URLS: [] });
  await ds.initialize();
  try {
    process.stdout.write(`${await ensureAdminAccount(ds, config)}\n`);
  } finally {
    await ds.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`admin account failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
