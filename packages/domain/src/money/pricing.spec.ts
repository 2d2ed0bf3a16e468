import fc from 'fast-check';
import { FailureReason } from '@bazaar/contracts';
import { priceOrder, type CouponTerms, type PricedOrder, type PricingInput, type PricingLineInput } from './pricing';

const S1 = 1;
const S2 = 2;
const exampleLines: PricingLineInput[] = [
  { storeId: S1, unitPrice: 15_000, quantity: 2 },
  { storeId: S1, unitPrice: 8_000, quantity: 1 },
  { storeId: S2, unitPrice: 2_500, quantity: 3 },
];
const exampleCoupon: CouponTerms = { kind: 'PERCENT', value: 10, maxDiscount: 3_000, minOrderAmount: 20_000, storeId: S1 };

function priced(input: PricingInput): PricedOrder {
  const result = priceOrder(input);
  if (!result.ok) throw new Error(`expected a priced order, got ${result.reason}`);
  return result;
}

describe('priceOrder', () => {
  it('prices the worked example (money.md §5)', () => {
    const order = priced({ lines: exampleLines, coupon: exampleCoupon, points: 4_000, pointBalance: 8_000 });
    expect(order).toEqual({
      ok: true,
      lines: [
        { subtotal: 30_000, discount: 2_368, points: 2_601, cash: 25_031, earned: 250 },
        { subtotal: 8_000, discount: 632, points: 693, cash: 6_675, earned: 67 },
        { subtotal: 7_500, discount: 0, points: 706, cash: 6_794, earned: 68 },
      ],
      itemsTotal: 45_500,
      discount: 3_000,
      pointsUsed: 4_000,
      cashPaid: 38_500,
      earned: 385,
    });
  });

  it('prices without a coupon or points, with the default 1% reward', () => {
    const order = priced({ lines: exampleLines, pointBalance: 0 });
    expect(order.discount).toBe(0);
    expect(order.pointsUsed).toBe(0);
    expect(order.cashPaid).toBe(45_500);
    expect(order.earned).toBe(455);
    expect(order.lines.map((l) => l.earned)).toEqual([300, 80, 75]);
  });

  it('applies a FIXED coupon as min(value, E), and a platform coupon to every line', () => {
    const fixed = priced({
      lines: exampleLines,
      coupon: { kind: 'FIXED', value: 100_000, minOrderAmount: 0, storeId: S2 },
      pointBalance: 0,
    });
    expect(fixed.lines.map((l) => l.discount)).toEqual([0, 0, 7_500]);
    const platform = priced({
      lines: exampleLines,
      coupon: { kind: 'FIXED', value: 4_550, minOrderAmount: 45_500, storeId: null },
      pointBalance: 0,
    });
    expect(platform.lines.map((l) => l.discount)).toEqual([3_000, 800, 750]);
  });

  it('leaves a PERCENT coupon uncapped when maxDiscount is null or absent', () => {
    for (const maxDiscount of [null, undefined]) {
      const order = priced({ lines: exampleLines, coupon: { ...exampleCoupon, maxDiscount }, pointBalance: 0 });
      expect(order.discount).toBe(3_800);
    }
  });

  it('uses the given reward rate', () => {
    expect(priced({ lines: exampleLines, pointBalance: 0, rewardBps: 0 }).earned).toBe(0);
    expect(priced({ lines: exampleLines, pointBalance: 0, rewardBps: 250 }).earned).toBe(1_137); // floor(1137.5)
  });

  it('refuses a coupon whose eligible subtotal is under its minimum', () => {
    expect(priceOrder({ lines: exampleLines, coupon: { ...exampleCoupon, minOrderAmount: 38_001 }, pointBalance: 0 })).toEqual({
      ok: false,
      reason: FailureReason.COUPON_NOT_APPLICABLE,
    });
    // E = 38,000 meets a minimum of exactly 38,000.
    expect(priceOrder({ lines: exampleLines, coupon: { ...exampleCoupon, minOrderAmount: 38_000 }, pointBalance: 0 }).ok).toBe(true);
  });

  it('refuses a store coupon when no line is of that store', () => {
    expect(priceOrder({ lines: exampleLines, coupon: { ...exampleCoupon, minOrderAmount: 0, storeId: 99 }, pointBalance: 0 })).toEqual({
      ok: false,
      reason: FailureReason.COUPON_NOT_APPLICABLE,
    });
  });

  it('refuses points above the live balance', () => {
    expect(priceOrder({ lines: exampleLines, coupon: exampleCoupon, points: 4_000, pointBalance: 3_999 })).toEqual({
      ok: false,
      reason: FailureReason.INSUFFICIENT_POINTS,
    });
  });

  it('allows points up to the whole payable total, leaving no cash and no reward', () => {
    const order = priced({ lines: exampleLines, coupon: exampleCoupon, points: 42_500, pointBalance: 50_000 });
    expect(order.cashPaid).toBe(0);
    expect(order.earned).toBe(0);
    expect(order.lines.map((l) => l.cash)).toEqual([0, 0, 0]);
  });

  it('throws a RangeError on bad input', () => {
    const ok: PricingInput = { lines: exampleLines, coupon: exampleCoupon, points: 0, pointBalance: 0 };
    const bad: PricingInput[] = [
      { ...ok, lines: [] },
      { ...ok, points: 42_501, pointBalance: 100_000 }, // more than the payable total
      { ...ok, points: -1 },
      { ...ok, points: 1.5, pointBalance: 10 },
      { ...ok, pointBalance: -1 },
      { ...ok, rewardBps: 10_001 },
      { ...ok, rewardBps: 1.5 },
      { ...ok, lines: [{ storeId: S1, unitPrice: 100, quantity: 0 }] },
      { ...ok, lines: [{ storeId: S1, unitPrice: -100, quantity: 1 }] },
      { ...ok, lines: [{ storeId: S1, unitPrice: 100.5, quantity: 1 }] },
      { ...ok, lines: [{ storeId: 0, unitPrice: 100, quantity: 1 }] },
      { ...ok, lines: [{ storeId: S1, unitPrice: Number.MAX_SAFE_INTEGER, quantity: 2 }] },
      { ...ok, coupon: { ...exampleCoupon, value: 0 } },
      { ...ok, coupon: { ...exampleCoupon, value: 101 } },
      { ...ok, coupon: { ...exampleCoupon, maxDiscount: -1 } },
      { ...ok, coupon: { ...exampleCoupon, minOrderAmount: -1 } },
      { ...ok, coupon: { kind: 'FIXED', value: -5, minOrderAmount: 0, storeId: null } },
      { ...ok, coupon: { ...exampleCoupon, kind: 'BOGUS' as CouponTerms['kind'] } },
    ];
    for (const input of bad) expect(() => priceOrder(input)).toThrow(RangeError);
  });

  describe('properties', () => {
    const line = fc.record({
      storeId: fc.integer({ min: 1, max: 3 }),
      unitPrice: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100_000_000 })),
      quantity: fc.integer({ min: 1, max: 99 }),
    });
    const coupon: fc.Arbitrary<CouponTerms | null> = fc.option(
      fc.oneof(
        fc.record({
          kind: fc.constant('FIXED' as const),
          value: fc.integer({ min: 0, max: 10_000_000 }),
          minOrderAmount: fc.integer({ min: 0, max: 100_000 }),
          storeId: fc.option(fc.integer({ min: 1, max: 3 })),
        }),
        fc.record({
          kind: fc.constant('PERCENT' as const),
          value: fc.integer({ min: 1, max: 100 }),
          maxDiscount: fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined }),
          minOrderAmount: fc.integer({ min: 0, max: 100_000 }),
          storeId: fc.option(fc.integer({ min: 1, max: 3 })),
        }),
      ),
    );
    const order = fc.record({
      lines: fc.array(line, { minLength: 1, maxLength: 8 }),
      coupon,
      pointsPerMille: fc.integer({ min: 0, max: 1000 }),
      rewardBps: fc.integer({ min: 0, max: 10_000 }),
    });

    it('keeps itemsTotal = discount + pointsUsed + cashPaid per line and per order', () => {
      fc.assert(
        fc.property(order, ({ lines, coupon: c, pointsPerMille, rewardBps }) => {
          const base = priceOrder({ lines, coupon: c, pointBalance: 0, rewardBps });
          if (!base.ok) {
            expect(base.reason).toBe(FailureReason.COUPON_NOT_APPLICABLE);
            return;
          }
          const payable = base.itemsTotal - base.discount;
          const points = Math.floor((payable * pointsPerMille) / 1000);
          const o = priced({ lines, coupon: c, points, pointBalance: points, rewardBps });

          const sum = (f: (l: (typeof o.lines)[number]) => number): number => o.lines.reduce((a, l) => a + f(l), 0);
          for (const l of o.lines) {
            expect(l.subtotal).toBe(l.discount + l.points + l.cash);
            expect(Math.min(l.discount, l.points, l.cash, l.earned)).toBeGreaterThanOrEqual(0);
          }
          expect(o.itemsTotal).toBe(o.discount + o.pointsUsed + o.cashPaid);
          expect(sum((l) => l.subtotal)).toBe(o.itemsTotal);
          expect(sum((l) => l.discount)).toBe(o.discount);
          expect(sum((l) => l.points)).toBe(o.pointsUsed);
          expect(sum((l) => l.cash)).toBe(o.cashPaid);
          expect(sum((l) => l.earned)).toBe(o.earned);
          expect(o.pointsUsed).toBe(points);
          expect(o.earned).toBe(Math.floor((o.cashPaid * rewardBps) / 10_000));
          if (c !== null) {
            lines.forEach((input, i) => {
              if (c.storeId !== null && input.storeId !== c.storeId) expect(o.lines[i]?.discount).toBe(0);
            });
            if (c.kind === 'PERCENT' && c.maxDiscount !== undefined && c.maxDiscount !== null) {
              expect(o.discount).toBeLessThanOrEqual(c.maxDiscount);
            }
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
});
