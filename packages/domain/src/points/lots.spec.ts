import fc from 'fast-check';
import { FailureReason } from '@bazaar/contracts';
import {
  InsufficientPointsError,
  REISSUE_VALID_DAYS,
  REWARD_VALID_DAYS,
  expiryAfter,
  isLotLive,
  liveBalance,
  planGiveBack,
  planSpend,
  type ConsumedLot,
  type PointLot,
} from './lots';

const DAY_MS = 86_400_000;
const EPOCH = Date.UTC(2025, 0, 1);
const day = (n: number): Date => new Date(EPOCH + n * DAY_MS);

describe('constants', () => {
  it('matches money.md', () => {
    expect(REWARD_VALID_DAYS).toBe(365);
    expect(REISSUE_VALID_DAYS).toBe(30);
    expect(expiryAfter(day(12), REISSUE_VALID_DAYS)).toEqual(day(42));
  });
});

describe('liveBalance / isLotLive', () => {
  it('counts only lots with expiresAt > now', () => {
    const lots: PointLot[] = [
      { id: 1, remaining: 3_000, expiresAt: day(10) },
      { id: 2, remaining: 5_000, expiresAt: day(40) },
    ];
    expect(liveBalance(lots, day(5))).toBe(8_000);
    expect(liveBalance(lots, day(10))).toBe(5_000); // expired at its expiresAt
    expect(isLotLive({ expiresAt: day(10) }, new Date(day(10).getTime() - 1))).toBe(true);
    expect(liveBalance(lots, day(40))).toBe(0);
  });
});

describe('planSpend', () => {
  it('consumes soonest expiry first, then lower id, skipping expired and empty lots', () => {
    const lots: PointLot[] = [
      { id: 5, remaining: 100, expiresAt: day(20) },
      { id: 4, remaining: 100, expiresAt: day(20) },
      { id: 3, remaining: 999, expiresAt: day(2) }, // expired
      { id: 2, remaining: 0, expiresAt: day(6) }, // empty
      { id: 1, remaining: 50, expiresAt: day(8) },
    ];
    expect(planSpend(lots, 220, day(5))).toEqual([
      { lotId: 1, amount: 50 },
      { lotId: 4, amount: 100 },
      { lotId: 5, amount: 70 },
    ]);
    expect(lots[0]).toEqual({ id: 5, remaining: 100, expiresAt: day(20) }); // not mutated
    expect(planSpend(lots, 0, day(5))).toEqual([]);
  });

  it('throws InsufficientPointsError when the live lots fall short', () => {
    const lots: PointLot[] = [
      { id: 1, remaining: 100, expiresAt: day(3) },
      { id: 2, remaining: 100, expiresAt: day(9) },
    ];
    expect(() => planSpend(lots, 101, day(5))).toThrow(InsufficientPointsError);
    try {
      planSpend(lots, 101, day(5));
    } catch (e) {
      expect(e).toMatchObject({ reason: FailureReason.INSUFFICIENT_POINTS, requested: 101, available: 100 });
    }
  });

  it('throws a RangeError on bad input', () => {
    const lot: PointLot = { id: 1, remaining: 10, expiresAt: day(9) };
    expect(() => planSpend([lot], -1, day(5))).toThrow(RangeError);
    expect(() => planSpend([lot], 1.5, day(5))).toThrow(RangeError);
    expect(() => planSpend([{ ...lot, remaining: -1 }], 0, day(5))).toThrow(RangeError);
    expect(() => planSpend([{ ...lot, id: 0 }], 0, day(5))).toThrow(RangeError);
    expect(() => planSpend([{ ...lot, expiresAt: new Date(Number.NaN) }], 0, day(5))).toThrow(RangeError);
    expect(() => planSpend([lot], 0, new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('planGiveBack', () => {
  const consumed = (l1: number, l2: number): ConsumedLot[] => [
    { lotId: 1, amount: l1, expiresAt: day(10) },
    { lotId: 2, amount: l2, expiresAt: day(40) },
  ];

  it('undoes from the last consumed lot backwards', () => {
    expect(planGiveBack(consumed(3_000, 1_000), 1_300, day(8))).toEqual({
      undone: [
        { lotId: 2, amount: 1_000 },
        { lotId: 1, amount: 300 },
      ],
      toLots: [
        { lotId: 2, amount: 1_000 },
        { lotId: 1, amount: 300 },
      ],
      reissue: 0,
    });
  });

  it('sums what belongs to expired lots into reissue, and skips rows already given back', () => {
    expect(planGiveBack(consumed(2_700, 0), 706, day(12))).toEqual({
      undone: [{ lotId: 1, amount: 706 }],
      toLots: [],
      reissue: 706,
    });
    expect(planGiveBack(consumed(500, 200), 600, day(10))).toEqual({
      undone: [
        { lotId: 2, amount: 200 },
        { lotId: 1, amount: 400 },
      ],
      toLots: [{ lotId: 2, amount: 200 }],
      reissue: 400,
    });
    expect(planGiveBack(consumed(500, 200), 0, day(10))).toEqual({ undone: [], toLots: [], reissue: 0 });
  });

  it('throws a RangeError when asked for more than is outstanding, or on bad input', () => {
    expect(() => planGiveBack(consumed(10, 5), 16, day(1))).toThrow(RangeError);
    expect(() => planGiveBack(consumed(10, 5), -1, day(1))).toThrow(RangeError);
    expect(() => planGiveBack(consumed(-1, 5), 1, day(1))).toThrow(RangeError);
    expect(() => planGiveBack(consumed(10, 5), 1, new Date(Number.NaN))).toThrow(RangeError);
  });

  it('gives every point back to the row it came from over any sequence of partial give-backs', () => {
    const lot = fc.record({
      remaining: fc.integer({ min: 0, max: 10_000 }),
      expiresInDays: fc.integer({ min: -5, max: 60 }),
    });
    const scenario = fc.record({
      lots: fc.array(lot, { minLength: 1, maxLength: 8 }),
      spendPerMille: fc.integer({ min: 0, max: 1000 }),
      chunks: fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 12 }),
      refundDay: fc.integer({ min: 0, max: 70 }),
    });
    fc.assert(
      fc.property(scenario, ({ lots: raw, spendPerMille, chunks, refundDay }) => {
        const now = day(0);
        const lots: PointLot[] = raw.map((l, i) => ({ id: i + 1, remaining: l.remaining, expiresAt: day(l.expiresInDays) }));
        const amount = Math.floor((liveBalance(lots, now) * spendPerMille) / 1000);
        const spend = planSpend(lots, amount, now);
        expect(spend.reduce((a, r) => a + r.amount, 0)).toBe(amount);

        const expiry = new Map(lots.map((l) => [l.id, l.expiresAt]));
        const net = spend.map((r) => ({ lotId: r.lotId, amount: r.amount, expiresAt: expiry.get(r.lotId) ?? now }));
        const at = day(refundDay);
        let outstanding = amount;
        const giveBack = (n: number): void => {
          const plan = planGiveBack(net, n, at);
          const live = plan.toLots.reduce((a, r) => a + r.amount, 0);
          expect(plan.undone.reduce((a, r) => a + r.amount, 0)).toBe(n);
          expect(live + plan.reissue).toBe(n);
          for (const r of plan.undone) {
            const row = net.find((c) => c.lotId === r.lotId);
            if (row === undefined) throw new Error('unknown lot');
            row.amount -= r.amount; // the caller's bookkeeping
            expect(row.amount).toBeGreaterThanOrEqual(0);
          }
          // Last consumed first: a row is touched only once every later row is fully given back.
          const touched = plan.undone.map((r) => net.findIndex((c) => c.lotId === r.lotId));
          const first = Math.min(...touched);
          for (let j = first + 1; j < net.length; j++) expect(net[j]?.amount).toBe(0);
          outstanding -= n;
        };
        for (const c of chunks) giveBack(Math.min(c, outstanding));
        giveBack(outstanding);
        expect(net.every((r) => r.amount === 0)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps every lot at or above 0 and the mapping rows equal to the spend over any sequence of spends', () => {
    const scenario = fc.record({
      lots: fc.array(fc.record({ remaining: fc.integer({ min: 0, max: 10_000 }), expiresInDays: fc.integer({ min: -5, max: 60 }) }), {
        minLength: 1,
        maxLength: 10,
      }),
      spends: fc.array(fc.record({ perMille: fc.integer({ min: 0, max: 1200 }), day: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 10 }),
    });
    fc.assert(
      fc.property(scenario, ({ lots: raw, spends }) => {
        const lots: PointLot[] = raw.map((l, i) => ({ id: i + 1, remaining: l.remaining, expiresAt: day(l.expiresInDays) }));
        for (const s of spends) {
          const now = day(s.day);
          const live = liveBalance(lots, now);
          const amount = Math.floor((live * s.perMille) / 1000);
          if (amount > live) {
            expect(() => planSpend(lots, amount, now)).toThrow(InsufficientPointsError);
            continue;
          }
          const rows = planSpend(lots, amount, now);
          expect(rows.reduce((a, r) => a + r.amount, 0)).toBe(amount);
          expect(new Set(rows.map((r) => r.lotId)).size).toBe(rows.length);
          // Soonest expiry first, then lower id; never an expired lot.
          const taken = rows.map((r) => lots.find((l) => l.id === r.lotId)!);
          for (const l of taken) expect(isLotLive(l, now)).toBe(true);
          for (let k = 1; k < taken.length; k++) {
            const a = taken[k - 1]!;
            const b = taken[k]!;
            expect(a.expiresAt.getTime() < b.expiresAt.getTime() || (a.expiresAt.getTime() === b.expiresAt.getTime() && a.id < b.id)).toBe(true);
          }
          for (const r of rows) {
            const lot = lots.find((l) => l.id === r.lotId)!;
            lot.remaining -= r.amount; // what the conditional UPDATE does
            expect(lot.remaining).toBeGreaterThanOrEqual(0);
          }
          expect(liveBalance(lots, now)).toBe(live - amount);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
