import { randomBytes } from 'node:crypto';

/**
 * Each jest run gets a fresh database and Redis key prefix, named here by the
 * global setup and dropped by the global teardown. Base settings come from
 * MYSQL_URL / REDIS_URL when given, else localhost.
 */
export function newRunNames(): { database: string; prefix: string } {
  const tag = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return { database: `bazaar_test_${tag}`, prefix: `bzt${tag}` };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestEnv {
  MYSQL_URL: string;
  REDIS_URL: string;
  REDIS_PREFIX: string;
  /** `off` unless a suite sets its own (apps/api/test/rate-limits.int.spec.ts): suites that fire bursts from one user or address are not cut. */
  RATE_LIMITS?: string;
}

/** The run's settings, as the global setup put them in the environment; rate limits off. */
export function testEnv(): TestEnv {
  const { TEST_MYSQL_URL, TEST_REDIS_URL, TEST_REDIS_PREFIX } = process.env;
  if (!TEST_MYSQL_URL || !TEST_REDIS_URL || !TEST_REDIS_PREFIX) throw new Error('run the tests through jest (global setup sets TEST_* variables)');
  return { MYSQL_URL: TEST_MYSQL_URL, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: TEST_REDIS_PREFIX, RATE_LIMITS: 'off' };
}
