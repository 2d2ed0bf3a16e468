import fc from 'fast-check';
import { cycleDueAt, latestDueCycle, nextCycleAfter, type Every } from './cycles';

const at = (s: string) => new Date(s);

describe('cycleDueAt', () => {
  it('adds weeks as 7·count days', () => {
    expect(cycleDueAt(at('2026-01-01T09:00:00Z'), { count: 2, unit: 'WEEK' }, 3).toISOString()).toBe('2026-02-12T09:00:00.000Z');
  });
  it('clamps a month to its last day without drifting', () => {
    const every: Every = { count: 1, unit: 'MONTH' };
    const start = at('2027-01-31T10:30:00Z');
    expect(cycleDueAt(start, every, 1).toISOString()).toBe('2027-02-28T10:30:00.000Z');
    expect(cycleDueAt(start, every, 2).toISOString()).toBe('2027-03-31T10:30:00.000Z');
    expect(cycleDueAt(at('2028-01-31T00:00:00Z'), every, 1).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(cycleDueAt(start, { count: 3, unit: 'MONTH' }, 4).toISOString()).toBe('2028-01-31T10:30:00.000Z');
  });
  it('refuses a negative cycle or a zero count', () => {
    expect(() => cycleDueAt(at('2026-01-01T00:00:00Z'), { count: 1, unit: 'WEEK' }, -1)).toThrow(RangeError);
    expect(() => cycleDueAt(at('2026-01-01T00:00:00Z'), { count: 0, unit: 'WEEK' }, 1)).toThrow(RangeError);
  });
});

const arbStart = fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true });
const arbEvery = fc.record({ count: fc.integer({ min: 1, max: 12 }), unit: fc.constantFrom<'WEEK' | 'MONTH'>('WEEK', 'MONTH') });

describe('cycle properties', () => {
  it('cycles strictly increase, keep the time of day, and a month cycle lands on the start day or its month end', () => {
    fc.assert(
      fc.property(arbStart, arbEvery, fc.integer({ min: 0, max: 200 }), (start, every, n) => {
        const a = cycleDueAt(start, every, n);
        const b = cycleDueAt(start, every, n + 1);
        expect(b.getTime()).toBeGreaterThan(a.getTime());
        expect(a.getTime() % 86_400_000).toBe(start.getTime() % 86_400_000);
        if (every.unit === 'MONTH') {
          const lastDay = new Date(Date.UTC(a.getUTCFullYear(), a.getUTCMonth() + 1, 0)).getUTCDate();
          expect(a.getUTCDate()).toBe(Math.min(start.getUTCDate(), lastDay));
          const monthsApart = (a.getUTCFullYear() - start.getUTCFullYear()) * 12 + a.getUTCMonth() - start.getUTCMonth();
          expect(monthsApart).toBe(every.count * n);
        } else {
          expect(a.getTime() - start.getTime()).toBe(7 * every.count * n * 86_400_000);
        }
      }),
    );
  });
  it('latestDueCycle is the last cycle not after now, and nextCycleAfter the first after it', () => {
    fc.assert(
      fc.property(arbStart, arbEvery, fc.integer({ min: 0, max: 5 * 365 * 86_400_000 }), (start, every, offset) => {
        const now = new Date(start.getTime() + offset);
        const n = latestDueCycle(start, every, now);
        expect(n).toBeGreaterThanOrEqual(0);
        expect(cycleDueAt(start, every, n).getTime()).toBeLessThanOrEqual(now.getTime());
        expect(cycleDueAt(start, every, n + 1).getTime()).toBeGreaterThan(now.getTime());
        expect(nextCycleAfter(start, every, now)).toBe(n + 1);
      }),
    );
    expect(latestDueCycle(at('2026-01-02T00:00:00Z'), { count: 1, unit: 'WEEK' }, at('2026-01-01T00:00:00Z'))).toBe(-1);
  });
});
