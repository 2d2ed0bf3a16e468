import { createDataSource, ensureDatabase, parseMysqlUrl } from '@bazaar/db';
import { loadConfig } from '@bazaar/platform';
import { testEnv, withDatabase, type TestEnv } from './test-env';

/**
 * A database and Redis prefix of its own for one suite that starts a fleet of
 * processes. Jest runs suites in parallel: suites sharing a queue would have
 * each other's workers take their jobs, and their schedulers reconcile and
 * expire each other's orders. Named under the run's names, so the global
 * teardown drops them with the rest.
 */
export async function isolatedEnv(name: string): Promise<TestEnv> {
  const base = testEnv();
  const database = `${parseMysqlUrl(base.MYSQL_URL).database}_${name}`;
  const env: TestEnv = { MYSQL_URL: withDatabase(base.MYSQL_URL, database), REDIS_URL: base.REDIS_URL, REDIS_PREFIX: `${base.REDIS_PREFIX}-${name}` };
  await ensureDatabase(env.MYSQL_URL);
  const ds = createDataSource({ ...loadConfig({ ...env }), MYSQL_REPLICA_URLS: [] });
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  await ds.destroy();
  return env;
}
