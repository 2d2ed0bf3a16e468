/**
 * The long fuzz run (issue 13, part 4): the jest spec's fuzzing of every procedure (test/fuzz/procedures.fuzz.spec.ts)
 * with as many cases as you like, against the real api started in this process on a fresh database and Redis prefix
 * of its own (dropped at the end unless --keep), as the test harness starts it.
 *
 *   npx tsx --conditions=bazaar-source scripts/fuzz.ts --cases 200000 [--seed 123] [--only 'valid:orders\.'] [--keep]
 *
 * Needs MariaDB and Redis as the tests do (MYSQL_URL / REDIS_URL, else localhost). Prints a line per procedure and
 * phase as it finishes (cases, time, answers by code, the slowest case), then every failure with its seed and its
 * shrunk counter-example; exits 1 if there was one. Replay one with the same --seed (and --only).
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { appRouter } from '@bazaar/api/hosting';
import { createDataSource, ensureDatabase, parseMysqlUrl } from '@bazaar/db';
import { loadConfig } from '@bazaar/platform';
import { newRunNames, withDatabase } from '../test/support/test-env';
import { ProcedureFuzzer, type ProcedureReport, deriveAll, formatReports, planCases } from '../test/fuzz/fuzz-run';
import { createFuzzWorld, startFuzzApi } from '../test/fuzz/fuzz-world';
import { deleteKeysUnder } from '../test/support/redis-keys';
import { proceduresOf } from '../test/fuzz/procedures';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { cases: { type: 'string', default: '200000' }, seed: { type: 'string' }, only: { type: 'string' }, keep: { type: 'boolean', default: false } },
  });
  const total = Number(values.cases);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(total) || total < 1 || !Number.isInteger(seed)) throw new Error('--cases and --seed take integers');

  // A database and prefix of its own, made as the jest global setup makes the run's (test/support/global-setup.ts).
  const base = loadConfig({ ...process.env, NODE_ENV: 'test' });
  const { database, prefix } = newRunNames();
  const mysqlUrl = withDatabase(base.MYSQL_URL, database.replace('bazaar_test_', 'bazaar_fuzz_'));
  await ensureDatabase(mysqlUrl);
  const ds = createDataSource({ ...base, MYSQL_URL: mysqlUrl, MYSQL_REPLICA_URLS: [] });
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  await ds.destroy();
  // The test harness reads the run's settings from these (test/support/test-env.ts).
  Object.assign(process.env, { TEST_MYSQL_URL: mysqlUrl, TEST_REDIS_URL: base.REDIS_URL, TEST_REDIS_PREFIX: `${prefix}fz` });
  const env = { MYSQL_URL: mysqlUrl, REDIS_PREFIX: `${prefix}fz` };

  const hosted = await startFuzzApi(env);
  const reports: ProcedureReport[] = [];
  try {
    const world = await createFuzzWorld(hosted.api);
    const procedures = proceduresOf(appRouter);
    const plan = planCases(procedures, total, values.only ? new RegExp(values.only) : undefined);
    const fuzzer = new ProcedureFuzzer(world, procedures, deriveAll(procedures, world.known));
    const t0 = Date.now();
    console.log(
      `fuzzing ${procedures.length} procedures, ${plan.reduce((n, e) => n + e.runs, 0)} cases, seed ${seed} (database ${new URL(mysqlUrl).pathname.slice(1)}, prefix ${env.REDIS_PREFIX})`,
    );
    for (const entry of plan) {
      const report = await fuzzer.run(entry, seed);
      reports.push(report);
      console.log(formatReports([report]));
      if (report.failure) console.log(`  ${report.failure.replaceAll('\n', '\n  ')}`);
    }
    await world.close();
    const failures = reports.filter((r) => r.failure);
    console.log(
      `\n${reports.reduce((n, r) => n + r.runs, 0)} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s, seed ${seed}: ${failures.length ? `${failures.length} failed` : 'no failure'}`,
    );
    for (const f of failures) console.log(`\n${f.failure}`);
    return failures.length ? 1 : 0;
  } finally {
    await hosted.close();
    if (!values.keep) await dropRun(mysqlUrl, hosted.redisUrl, env.REDIS_PREFIX);
  }
}

/** Drops the run's database and deletes its Redis keys (as test/support/global-teardown.ts does for a jest run). */
async function dropRun(mysqlUrl: string, redisUrl: string, prefix: string): Promise<void> {
  const { type, database, ...c } = parseMysqlUrl(mysqlUrl);
  const ds = new DataSource({ type, ...c });
  await ds.initialize();
  await ds.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await ds.destroy();
  const redis = new Redis(redisUrl);
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
