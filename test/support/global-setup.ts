import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { newRunNames, withDatabase } from './test-env';

export default async function globalSetup(): Promise<void> {
  // The end-to-end suites start the compiled processes (apps/*/dist), as production runs them: build them now.
  const build = spawnSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'build.mjs'), '--quiet'], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error(`npm run build failed (exit ${build.status})`);
  // Imported once built: jest resolves a global setup's imports without the suites' "bazaar-source" condition,
  // so the workspace packages load from dist/ here.
  const { createDataSource, ensureDatabase } = await import('@bazaar/db');
  const { loadConfig } = await import('@bazaar/platform');
  const base = loadConfig({ ...process.env, NODE_ENV: 'test' });
  const { database, prefix } = newRunNames();
  const mysqlUrl = withDatabase(base.MYSQL_URL, database);

  const redis = new Redis(base.REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis at ${base.REDIS_URL} does not answer (${String(err)}). Start it (see README: Requirements).`);
  } finally {
    redis.disconnect();
  }
  try {
    await ensureDatabase(mysqlUrl);
  } catch (err) {
    throw new Error(`MySQL at ${new URL(base.MYSQL_URL).host} does not answer (${String(err)}). Start it (see README: Requirements).`);
  }
  const ds = createDataSource({ ...base, MYSQL_URL: mysqlUrl, MYSQL_REPLICA_URLS: [] });
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  await ds.destroy();

  process.env.TEST_MYSQL_URL = mysqlUrl;
  process.env.TEST_REDIS_URL = base.REDIS_URL;
  process.env.TEST_REDIS_PREFIX = prefix;
}
