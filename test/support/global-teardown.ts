import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { parseMysqlUrl } from '@bazaar/db';

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
    for (const pattern of [`${TEST_REDIS_PREFIX}*`, `{${TEST_REDIS_PREFIX}*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
    await redis.quit();
  }
}
