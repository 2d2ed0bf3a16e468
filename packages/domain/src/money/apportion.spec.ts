import fc from 'fast-check';
import { apportion } from './apportion';

describe('apportion', () => {
  it('gives floors, then the leftover to the largest remainders', () => {
    // 3000 over 30000/8000/0: floors 2368/631/0, remainders 16000/22000/0.
    expect(apportion(3000, [30_000, 8_000, 0])).toEqual([2368, 632, 0]);
    expect(apportion(4000, [27_632, 7_368, 7_500])).toEqual([2601, 693, 706]);
    expect(apportion(385, [25_031, 6_675, 6_794])).toEqual([250, 67, 68]);
  });

  it('breaks equal remainders by lower index', () => {
    expect(apportion(1, [1, 1, 1])).toEqual([1, 0, 0]);
    expect(apportion(2, [1, 1, 1])).toEqual([1, 1, 0]);
    expect(apportion(5, [0, 2, 2])).toEqual([0, 3, 2]);
  });

  it('returns zeros when every weight is 0 and the total is 0', () => {
    expect(apportion(0, [0, 0])).toEqual([0, 0]);
    expect(apportion(0, [])).toEqual([]);
  });

  it('is exact where total * weight is past 2^53', () => {
    const total = Number.MAX_SAFE_INTEGER;
    const shares = apportion(total, [1, 2, 3, Number.MAX_SAFE_INTEGER - 6]);
    // total * w / W with W = total: the shares are the weights themselves.
    expect(shares).toEqual([1, 2, 3, Number.MAX_SAFE_INTEGER - 6]);
  });

  it('throws a RangeError on bad input', () => {
    expect(() => apportion(1, [0, 0])).toThrow(RangeError);
    expect(() => apportion(1, [])).toThrow(RangeError);
    expect(() => apportion(-1, [1])).toThrow(RangeError);
    expect(() => apportion(1.5, [1])).toThrow(RangeError);
    expect(() => apportion(Number.NaN, [1])).toThrow(RangeError);
    expect(() => apportion(10, [1, -1])).toThrow(RangeError);
    expect(() => apportion(10, [0.5])).toThrow(RangeError);
    expect(() => apportion(Number.MAX_SAFE_INTEGER + 1, [1])).toThrow(RangeError);
    expect(() => apportion(10, [Number.MAX_SAFE_INTEGER, 1])).toThrow(RangeError); // W past 2^53
  });

  describe('properties', () => {
    const weight = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1e12 }));
    const total = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
    const nonZeroWeights = fc.array(weight, { minLength: 1, maxLength: 20 }).filter((ws) => ws.some((w) => w > 0));

    it('sums to the total exactly', () => {
      fc.assert(
        fc.property(total, nonZeroWeights, (t, ws) => {
          expect(apportion(t, ws).reduce((a, b) => a + b, 0)).toBe(t);
        }),
      );
    });

    it('keeps each share within 1 of the exact proportion, and a zero weight at 0', () => {
      fc.assert(
        fc.property(total, nonZeroWeights, (t, ws) => {
          const shares = apportion(t, ws);
          const bigW = BigInt(ws.reduce((a, b) => a + b, 0));
          shares.forEach((share, i) => {
            const w = ws[i] ?? 0;
            // |share - t*w/W| < 1  <=>  |share*W - t*w| < W
            const diff = BigInt(share) * bigW - BigInt(t) * BigInt(w);
            expect(diff < bigW && -diff < bigW).toBe(true);
            if (w === 0) expect(share).toBe(0);
          });
        }),
      );
    });

    it('gives the +1s to the largest remainders, lower index first', () => {
      fc.assert(
        fc.property(total, nonZeroWeights, (t, ws) => {
          const shares = apportion(t, ws);
          const bigW = BigInt(ws.reduce((a, b) => a + b, 0));
          const lines = ws.map((w, i) => {
            const p = BigInt(t) * BigInt(w);
            return { i, floor: p / bigW, rem: p % bigW, bumped: BigInt(shares[i] ?? 0) - p / bigW };
          });
          for (const a of lines) {
            expect(a.bumped === 0n || a.bumped === 1n).toBe(true);
            for (const b of lines) {
              // Every bumped line ranks before every line that was not bumped.
              if (a.bumped === 1n && b.bumped === 0n) {
                expect(a.rem > b.rem || (a.rem === b.rem && a.i < b.i)).toBe(true);
              }
            }
          }
        }),
      );
    });
  });
});
