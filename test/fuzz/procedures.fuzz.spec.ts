import { appRouter } from '@bazaar/api/hosting';
import { Redis } from 'ioredis';
import { isolatedEnv } from '../support/isolated-env';
import { deleteKeysUnder } from '../support/redis-keys';
import { ProcedureFuzzer, type FuzzWorld, type ProcedureReport, deriveAll, formatReports, planCases } from './fuzz-run';
import { createFuzzWorld, startFuzzApi } from './fuzz-world';
import { proceduresOf } from './procedures';

/**
 * Every procedure of the app router, fuzzed over raw HTTP with inputs derived from its own zod schema (issue 13,
 * part 4; how: fuzz-run.ts, zod-arbitrary.ts). FUZZ_CASES cases in all (10,000 by default), spread over the
 * procedures; FUZZ_SEED replays a run (a failure prints it). Longer runs: `npx tsx --conditions=bazaar-source
 * scripts/fuzz.ts --cases 200000`.
 *
 * The api runs on a database and Redis prefix of its own (isolatedEnv): "a refused case changes nothing" compares
 * every table's row count and every key under the prefix, which other suites running beside this one would move.
 */
const TOTAL = Number(process.env.FUZZ_CASES ?? 10_000);
// CI replays one seed (a landing must not hang on a rare draw; the long runs of scripts/fuzz.ts explore others);
// a developer's run draws a new one each time. A failure prints the seed either way.
const SEED = Number(process.env.FUZZ_SEED ?? (process.env.CI ? 20261204 : Math.floor(Math.random() * 2 ** 31)));
const procedures = proceduresOf(appRouter);
/** FUZZ_ONLY: a pattern of `<phase>:<procedure>` to run only some (e.g. `valid:orders\.`). */
const plan = planCases(procedures, TOTAL, process.env.FUZZ_ONLY ? new RegExp(process.env.FUZZ_ONLY) : undefined);

let hosted: Awaited<ReturnType<typeof startFuzzApi>> | undefined;
let world: FuzzWorld;
let fuzzer: ProcedureFuzzer;
const reports: ProcedureReport[] = [];

beforeAll(async () => {
  const env = await isolatedEnv('fuzz');
  hosted = await startFuzzApi(env);
  world = await createFuzzWorld(hosted.api);
  fuzzer = new ProcedureFuzzer(world, procedures, deriveAll(procedures, world.known));
}, 60_000);

afterAll(async () => {
  if (reports.length) console.log(`fuzz seed ${SEED}, ${reports.reduce((n, r) => n + r.runs, 0)} cases\n${formatReports(reports)}`);
  await world?.close();
  await hosted?.close();
  if (hosted && !process.env.KEEP_TEST_DATA) {
    const redis = new Redis(hosted.redisUrl);
    await deleteKeysUnder(redis, hosted.api.deps.config.REDIS_PREFIX);
    await redis.quit();
  }
});

describe('fuzzing every procedure', () => {
  it('finds every procedure of the router, and derives arbitraries from each input schema', () => {
    expect(procedures.length).toBeGreaterThan(50);
    expect(procedures.map((p) => p.type)).toEqual(expect.arrayContaining(['query', 'mutation', 'subscription']));
    // Throws naming the procedure and the zod type or check the deriver does not know.
    expect(() => deriveAll(procedures, [])).not.toThrow();
    expect(plan.reduce((n, e) => n + e.runs, 0)).toBeLessThanOrEqual(TOTAL);
  });

  it.each(plan.map((e) => [e.phase, e.path, e] as const))(
    '%s input to %s',
    async (_phase, _path, entry) => {
      const report = await fuzzer.run(entry, SEED);
      reports.push(report);
      if (report.failure) throw new Error(report.failure);
      if (entry.phase === 'refused') {
        // Some caller got past authentication to the schema: the fuzzing reached validation.
        expect(Object.keys(report.codes)).toContain('BAD_REQUEST');
      }
    },
    120_000,
  );
});
