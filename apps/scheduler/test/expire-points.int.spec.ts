import type { DataSource } from 'typeorm';
import { PointsRepository, createDataSource, execute, selectRows } from '@bazaar/db';
import { createLogger, createMetrics, loadConfig } from '@bazaar/platform';
import { sqlFixtures, tag } from '../../../test/support/db-fixtures';
import { ledgerProblems } from '../../../test/support/money-fixtures';
import { testEnv } from '../../../test/support/test-env';
import { ExpirePointsJob } from '../src/jobs/expire-points.job';

/**
 * The points expiry job: every lot that expired with points left gets one
 * EXPIRE movement and remaining 0, however many runners race; live lots are
 * untouched; the ledger still explains every remaining.
 */
describe('ExpirePointsJob (MariaDB)', () => {
  let ds: DataSource;
  let points: PointsRepository;
  const log = createLogger('scheduler-test', 'silent');

  beforeAll(async () => {
    ds = createDataSource({ ...loadConfig({ ...testEnv() }), MYSQL_POOL_SIZE: 8 });
    await ds.initialize();
    points = new PointsRepository(ds);
  });
  afterAll(async () => ds?.destroy());

  const { newCustomer } = sqlFixtures(() => ds);
  const at = (ms: number) => new Date(Date.now() + ms);

  it('expires each due lot once across 4 concurrent runners, in batches, and leaves live lots alone', async () => {
    const users = await Promise.all([0, 1, 2].map(() => newCustomer(0)));
    // 3 users × (7 due lots + 2 live ones); grants go through the repository (lot + GRANT movement), then are aged.
    const due: number[] = [];
    const live: number[] = [];
    for (const userId of users) {
      for (let i = 0; i < 9; i++) {
        const lotId = await points.grant({
          grantId: `exp-${tag()}`,
          adminId: userId,
          userId,
          amount: 100 + i,
          expiresAt: at(86_400_000),
          reason: 'expiry test',
          now: new Date(),
        });
        if (i < 7) due.push(lotId);
        else live.push(lotId);
      }
    }
    await execute(ds, `UPDATE point_lots SET expires_at = ? WHERE id IN (${due.map(() => '?').join(',')})`, [at(-60_000), ...due]);
    const before = await Promise.all(users.map((u) => points.balance(u, new Date())));
    expect(before).toEqual(users.map(() => 107 + 108));

    const metrics = createMetrics('scheduler-test');
    const runners = [0, 1, 2, 3].map(() => new ExpirePointsJob(points, metrics, () => new Date(), 4));
    const results = await Promise.all(runners.map((r) => r.run(log)));
    expect(results.reduce((s, r) => s + r.lots, 0)).toBe(due.length);

    const rows = await selectRows<{ lot_id: number | string; amount: number | string; n: number | string }>(
      ds,
      `SELECT lot_id, SUM(amount) AS amount, COUNT(*) AS n FROM point_movements WHERE kind = 'EXPIRE' AND lot_id IN (${[...due, ...live].map(() => '?').join(',')}) GROUP BY lot_id`,
      [...due, ...live],
    );
    expect(rows.map((r) => Number(r.lot_id)).sort((a, b) => a - b)).toEqual([...due].sort((a, b) => a - b));
    expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
    const lots = await selectRows<{ id: number | string; remaining: number | string }>(
      ds,
      `SELECT id, remaining FROM point_lots WHERE id IN (${[...due, ...live].map(() => '?').join(',')})`,
      [...due, ...live],
    );
    for (const l of lots) {
      if (due.includes(Number(l.id))) expect(Number(l.remaining)).toBe(0);
      else expect([107, 108]).toContain(Number(l.remaining)); // live lots keep their whole grant
    }
    const expired = (await metrics.points.get()).values.find((v) => v.labels.movement === 'expire')?.value;
    expect(expired).toBe(users.length * (100 + 101 + 102 + 103 + 104 + 105 + 106));

    // Balances never counted the due lots, before or after; the ledger explains every remaining.
    expect(await Promise.all(users.map((u) => points.balance(u, new Date())))).toEqual(before);
    expect(await ledgerProblems(ds, users)).toEqual([]);
    // A second round finds nothing.
    expect(await runners[0]!.run(log)).toEqual({ lots: 0, points: 0 });
  });
});
