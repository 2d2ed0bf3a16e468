import type { PointsRepository } from '@bazaar/db';
import type { Logger, Metrics } from '@bazaar/platform';

/**
 * Writes the expiry of point lots that have expired with points left: an
 * EXPIRE movement and remaining 0, in batches (one transaction each). The
 * balance never counts an expired lot anyway; this makes the ledger say
 * so. One runner at a time (the job lease), and the movement is unique per
 * lot, so a lot is never expired twice.
 */
export class ExpirePointsJob {
  static readonly NAME = 'expire-points';

  constructor(
    private readonly points: PointsRepository,
    private readonly metrics: Pick<Metrics, 'points'>,
    private readonly clock: () => Date = () => new Date(),
    private readonly batch = 500,
    private readonly maxBatches = 20,
  ) {}

  async run(log: Logger): Promise<{ lots: number; points: number }> {
    const total = { lots: 0, points: 0 };
    for (let i = 0; i < this.maxBatches; i++) {
      const done = await this.points.expireDue(this.clock(), this.batch);
      total.lots += done.lots;
      total.points += done.points;
      if (done.points > 0) this.metrics.points.inc({ movement: 'expire' }, done.points);
      if (done.lots < this.batch) break;
    }
    if (total.lots > 0) log.info(total, 'point lots expired');
    return total;
  }
}
