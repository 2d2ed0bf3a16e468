import fc from 'fast-check';
import { priceOrder } from './pricing';
import { applyClawback, cum, refundShares } from './refund';

const rose = { quantity: 2, lineCash: 25_031, linePoints: 2_601, lineEarned: 250 };

describe('cum', () => {
  it('is floor(X * n / q), exact past 2^53', () => {
    expect(cum(25_031, 1, 2)).toBe(12_515);
    expect(cum(25_031, 2, 2)).toBe(25_031);
    expect(cum(7, 0, 3)).toBe(0);
    // In floats (2^53 - 1) * 2 / 3 rounds up to ...661; the exact floor is ...660.
    expect(cum(Number.MAX_SAFE_INTEGER, 2, 3)).toBe(6_004_799_503_160_660);
  });

  it('throws a RangeError on bad input', () => {
    expect(() => cum(1, 1, 0)).toThrow(RangeError);
    expect(() => cum(1, 3, 2)).toThrow(RangeError);
    expect(() => cum(-1, 1, 2)).toThrow(RangeError);
  });
});

describe('refundShares', () => {
  it('splits a line by cumulative floors (money.md §5 roses)', () => {
    expect(refundShares({ ...rose, refundedBefore: 0, refundNow: 1 })).toEqual({ cash: 12_515, points: 1_300, clawback: 125 });
    expect(refundShares({ ...rose, refundedBefore: 1, refundNow: 1 })).toEqual({ cash: 12_516, points: 1_301, clawback: 125 });
    expect(refundShares({ ...rose, refundedBefore: 0, refundNow: 2 })).toEqual({ cash: 25_031, points: 2_601, clawback: 250 });
  });

  it('throws a RangeError on bad input', () => {
    const bad = [
      { ...rose, refundedBefore: 0, refundNow: 0 },
      { ...rose, refundedBefore: 1, refundNow: 2 },
      { ...rose, refundedBefore: 2, refundNow: 1 },
      { ...rose, refundedBefore: -1, refundNow: 1 },
      { ...rose, refundedBefore: 0, refundNow: 1.5 },
      { ...rose, quantity: 0, refundedBefore: 0, refundNow: 1 },
      { ...rose, lineCash: -1, refundedBefore: 0, refundNow: 1 },
      { ...rose, linePoints: 0.5, refundedBefore: 0, refundNow: 1 },
      { ...rose, lineEarned: Number.NaN, refundedBefore: 0, refundNow: 1 },
    ];
    for (const input of bad) expect(() => refundShares(input)).toThrow(RangeError);
  });

  it('returns exactly cashPaid, pointsUsed and earned over any split of refunds of all units', () => {
    const line = fc.record({
      storeId: fc.integer({ min: 1, max: 3 }),
      unitPrice: fc.integer({ min: 0, max: 1_000_000 }),
      quantity: fc.integer({ min: 1, max: 99 }),
    });
    const scenario = fc.record({
      lines: fc.array(line, { minLength: 1, maxLength: 6 }),
      pointsPerMille: fc.integer({ min: 0, max: 1000 }),
      percent: fc.integer({ min: 1, max: 100 }),
      // Partial refunds: (which of the lines with units left, how many units, capped to what is left).
      refunds: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 99 })), { maxLength: 40 }),
    });
    fc.assert(
      fc.property(scenario, ({ lines, pointsPerMille, percent, refunds }) => {
        const coupon = { kind: 'PERCENT' as const, value: percent, minOrderAmount: 0, storeId: null };
        const base = priceOrder({ lines, coupon, pointBalance: 0 });
        if (!base.ok) throw new Error(base.reason);
        const points = Math.floor(((base.itemsTotal - base.discount) * pointsPerMille) / 1000);
        const order = priceOrder({ lines, coupon, points, pointBalance: points });
        if (!order.ok) throw new Error(order.reason);

        const refunded = lines.map(() => 0);
        const total = { cash: 0, points: 0, clawback: 0 };
        const refund = (i: number, k: number): void => {
          const l = order.lines[i];
          const q = lines[i]?.quantity ?? 0;
          if (l === undefined) throw new Error('no line');
          const s = refundShares({
            quantity: q,
            refundedBefore: refunded[i] ?? 0,
            refundNow: k,
            lineCash: l.cash,
            linePoints: l.points,
            lineEarned: l.earned,
          });
          expect(Math.min(s.cash, s.points, s.clawback)).toBeGreaterThanOrEqual(0);
          refunded[i] = (refunded[i] ?? 0) + k;
          total.cash += s.cash;
          total.points += s.points;
          total.clawback += s.clawback;
        };
        for (const [pick, units] of refunds) {
          const open = lines.map((l, i) => i).filter((i) => (refunded[i] ?? 0) < (lines[i]?.quantity ?? 0));
          const i = open[pick % Math.max(open.length, 1)];
          if (i === undefined) break;
          refund(i, Math.min(units, (lines[i]?.quantity ?? 0) - (refunded[i] ?? 0)));
        }
        // A final full refund names everything left.
        lines.forEach((l, i) => {
          const left = l.quantity - (refunded[i] ?? 0);
          if (left > 0) refund(i, left);
        });
        expect(total).toEqual({ cash: order.cashPaid, points: order.pointsUsed, clawback: order.earned });
      }),
    );
  });
});

describe('applyClawback', () => {
  it('takes the clawback from the reward lot when it can', () => {
    expect(applyClawback(12_515, 125, 385)).toEqual({ fromLot: 125, fromExpired: 0, fromCash: 0, cashBack: 12_515, waived: 0 });
  });

  it('deducts a shortfall from the cash given back', () => {
    expect(applyClawback(1_000, 125, 25)).toEqual({ fromLot: 25, fromExpired: 0, fromCash: 100, cashBack: 900, waived: 0 });
  });

  it('counts points the reward lot lost to expiry before taking cash, whether or not the expiry was written', () => {
    // Reward 200, of which the customer spent 150; the other 50 expired. A clawback of 200:
    // written expiry (remaining 0, 50 expired) and unwritten (remaining 50) give back the same cash.
    expect(applyClawback(20_000, 200, 0, 50)).toEqual({ fromLot: 0, fromExpired: 50, fromCash: 150, cashBack: 19_850, waived: 0 });
    expect(applyClawback(20_000, 200, 50, 0)).toEqual({ fromLot: 50, fromExpired: 0, fromCash: 150, cashBack: 19_850, waived: 0 });
  });

  it('never takes cash below 0, and reports what it could not cover', () => {
    expect(applyClawback(30, 125, 25)).toEqual({ fromLot: 25, fromExpired: 0, fromCash: 30, cashBack: 0, waived: 70 });
    expect(applyClawback(0, 125, 0)).toEqual({ fromLot: 0, fromExpired: 0, fromCash: 0, cashBack: 0, waived: 125 });
  });

  it('always accounts for the whole clawback', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), fc.nat(), (cash, claw, lot, expired) => {
        const p = applyClawback(cash, claw, lot, expired);
        expect(p.fromLot + p.fromExpired + p.fromCash + p.waived).toBe(claw);
        expect(p.cashBack + p.fromCash).toBe(cash);
        expect(p.fromLot).toBeLessThanOrEqual(lot);
        expect(p.fromExpired).toBeLessThanOrEqual(expired);
        expect(Math.min(p.fromLot, p.fromExpired, p.fromCash, p.cashBack, p.waived)).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('throws a RangeError on bad input', () => {
    expect(() => applyClawback(-1, 0, 0)).toThrow(RangeError);
    expect(() => applyClawback(0, 0.5, 0)).toThrow(RangeError);
    expect(() => applyClawback(0, 0, Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
