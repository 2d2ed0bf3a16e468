import fc from 'fast-check';
import {
  DEFAULT_OPENING_HOURS,
  describeHours,
  hoursProblems,
  isOpenAt,
  localDayRange,
  localTime,
  pickupRefusal,
  startOfLocalDay,
  type WeeklyHours,
} from './opening-hours';

const SEOUL = 'Asia/Seoul';

describe('opening hours', () => {
  it('reads an instant on the store’s own clock', () => {
    // 2026-12-02 is a Wednesday; 01:30 UTC is 10:30 in Seoul (UTC+9, no DST).
    expect(localTime(new Date('2026-12-02T01:30:00Z'), SEOUL)).toMatchObject({ weekday: 'WED', date: '2026-12-02', minutes: 630 });
    expect(localTime(new Date('2026-12-02T16:00:00Z'), SEOUL)).toMatchObject({ weekday: 'THU', date: '2026-12-03', minutes: 60 });
  });

  it('is open from opening time up to (not at) closing time', () => {
    const h = DEFAULT_OPENING_HOURS; // 10:00–21:00 every day
    expect(isOpenAt(h, SEOUL, new Date('2026-12-02T00:59:59Z'))).toBe(false); // 09:59:59
    expect(isOpenAt(h, SEOUL, new Date('2026-12-02T01:00:00Z'))).toBe(true); // 10:00
    expect(isOpenAt(h, SEOUL, new Date('2026-12-02T11:59:00Z'))).toBe(true); // 20:59
    expect(isOpenAt(h, SEOUL, new Date('2026-12-02T12:00:00Z'))).toBe(false); // 21:00
  });

  it('knows closed days and split days', () => {
    const h: WeeklyHours = { MON: [{ open: '09:00', close: '12:00' }, { open: '13:00', close: '18:00' }] };
    // 2026-11-30 is a Monday.
    expect(isOpenAt(h, SEOUL, new Date('2026-11-30T03:30:00Z'))).toBe(false); // 12:30, the lunch break
    expect(isOpenAt(h, SEOUL, new Date('2026-11-30T04:30:00Z'))).toBe(true); // 13:30
    expect(isOpenAt(h, SEOUL, new Date('2026-12-01T04:30:00Z'))).toBe(false); // Tuesday: closed
    expect(describeHours(h)).toMatch(/^MON 09:00–12:00, 13:00–18:00; TUE closed/);
  });

  it('follows daylight saving in zones that have it', () => {
    const h: WeeklyHours = { SUN: [{ open: '09:00', close: '17:00' }] };
    // New York, Sunday 2026-03-08 (DST starts 02:00): 09:00 local is 13:00 UTC; a week before it was 14:00 UTC.
    expect(isOpenAt(h, 'America/New_York', new Date('2026-03-08T13:00:00Z'))).toBe(true);
    expect(isOpenAt(h, 'America/New_York', new Date('2026-03-01T13:30:00Z'))).toBe(false);
    expect(startOfLocalDay('2026-03-08', 'America/New_York').toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect(localDayRange('2026-03-08', 'America/New_York').to.toISOString()).toBe('2026-03-09T04:00:00.000Z');
  });

  it('refuses a pickup inside the lead time or outside the hours, and says why', () => {
    const policy = { hours: DEFAULT_OPENING_HOURS, timeZone: SEOUL, pickupLeadMinutes: 30 };
    const now = new Date('2026-12-02T01:00:00Z'); // 10:00 in Seoul
    expect(pickupRefusal(policy, new Date('2026-12-02T01:20:00Z'), now)).toMatch(/at least 30 minutes/);
    expect(pickupRefusal(policy, new Date('2026-12-02T01:30:00Z'), now)).toBeNull();
    expect(pickupRefusal(policy, new Date('2026-12-02T13:00:00Z'), now)).toMatch(/opening hours .*WED 22:00/);
  });

  it('validates a schedule: times, order, overlaps', () => {
    expect(hoursProblems(DEFAULT_OPENING_HOURS)).toEqual([]);
    expect(hoursProblems({ MON: [{ open: '24:00', close: '24:00' }] }).map(([p]) => p.join('.'))).toEqual(['MON.0.open']);
    expect(hoursProblems({ MON: [{ open: '12:00', close: '11:00' }] }).map(([p]) => p.join('.'))).toEqual(['MON.0.close']);
    expect(hoursProblems({ TUE: [{ open: '09:00', close: '13:00' }, { open: '12:00', close: '18:00' }] }).map(([p]) => p.join('.'))).toEqual(['TUE.1.open']);
    expect(hoursProblems({ WED: [{ open: '9:00', close: '18:00' }] }).map(([p]) => p.join('.'))).toEqual(['WED.0.open']);
  });

  it('a local day’s range holds exactly the instants whose local date is that day (any zone, any date)', () => {
    const zone = fc.constantFrom(SEOUL, 'America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'UTC');
    fc.assert(
      fc.property(zone, fc.date({ min: new Date('2020-01-01'), max: new Date('2030-12-31'), noInvalidDate: true }), (tz, at) => {
        const { date } = localTime(at, tz);
        const { from, to } = localDayRange(date, tz);
        expect(from.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(at.getTime()).toBeLessThan(to.getTime());
        expect(localTime(from, tz).date).toBe(date);
        expect(localTime(new Date(from.getTime() - 1), tz).date).not.toBe(date);
      }),
    );
  });
});
