import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { parseMysqlUrl } from '@bazaar/db';
import { deleteKeysUnder } from './redis-keys';

/** Drops the run's database and deletes every Redis key under its prefix. (@bazaar/db loads from dist/, built by the global setup.) */
export default async function globalTeardown(): Promise<void> {
  const { TEST_MYSQL_URL, TEST_REDIS_URL, TEST_REDIS_PREFIX } = process.env;
  if (process.env.KEEP_TEST_DATA) return;
  if (TEST_MYSQL_URL) {
    const { type, database, ...c } = parseMysqlUrl(TEST_MYSQL_URL);
    const ds = new DataSource({ type, ...c });
    await ds.initialize();
    // The run's database and the suites' own (isolated-env.ts), all named after it.
    const rows = await ds.query<{ name: string }[]>('SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name = ? OR schema_name LIKE ?', [
      database,
      `${database}\\_%`,
    ]);
    for (const { name } of rows) await ds.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await ds.destroy();
  }
  if (TEST_REDIS_URL && TEST_REDIS_PREFIX) {
    const redis = new Redis(TEST_REDIS_URL);
    await deleteKeysUnder(redis, TEST_REDIS_PREFIX);
    await redis.quit();
  }
}
