/**
 * A store's opening hours and the pickup rules they imply, pure: a weekly
 * schedule in the store's own time zone (IANA name), intervals of local
 * wall-clock time per weekday. A day with no intervals is closed.
 */
export const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** "HH:MM", 00:00 to 24:00 (24:00 closes at midnight). */
export type ClockTime = string;
export interface OpeningInterval {
  open: ClockTime;
  close: ClockTime;
}
export type WeeklyHours = Partial<Record<Weekday, OpeningInterval[]>>;

export interface PickupPolicy {
  hours: WeeklyHours;
  timeZone: string;
  /** How long the store needs to prepare an order: a pickup is at least this far from the moment it is ordered. */
  pickupLeadMinutes: number;
}

/** What a store gets until its seller says otherwise: every day 10:00–21:00 Korea time, 30 minutes to prepare. */
export const DEFAULT_OPENING_HOURS: WeeklyHours = Object.freeze(
  Object.fromEntries(WEEKDAYS.map((d) => [d, [{ open: '10:00', close: '21:00' }]])) as WeeklyHours,
);
export const DEFAULT_TIME_ZONE = 'Asia/Seoul';
export const DEFAULT_PICKUP_LEAD_MINUTES = 30;
export const MAX_INTERVALS_PER_DAY = 4;

const OPENS = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const CLOSES = /^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/;

/** Minutes since local midnight of "HH:MM". */
export function clockMinutes(t: ClockTime): number {
  const [h, m] = t.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * What is wrong with a weekly schedule, as [path, message] pairs (empty when it is valid): each time "HH:MM",
 * each interval opening before it closes, a day's intervals in order and not overlapping, at most
 * {@link MAX_INTERVALS_PER_DAY} per day.
 */
export function hoursProblems(hours: WeeklyHours): [string[], string][] {
  const problems: [string[], string][] = [];
  for (const day of WEEKDAYS) {
    const intervals = hours[day];
    if (!intervals) continue;
    if (intervals.length > MAX_INTERVALS_PER_DAY) problems.push([[day], `at most ${MAX_INTERVALS_PER_DAY} intervals a day`]);
    let lastClose = -1;
    intervals.forEach((iv, i) => {
      if (!OPENS.test(iv.open)) problems.push([[day, String(i), 'open'], 'a time HH:MM, 00:00 to 23:59']);
      if (!CLOSES.test(iv.close)) problems.push([[day, String(i), 'close'], 'a time HH:MM, 00:01 to 24:00']);
      if (!OPENS.test(iv.open) || !CLOSES.test(iv.close)) return;
      const open = clockMinutes(iv.open);
      const close = clockMinutes(iv.close);
      if (open >= close) problems.push([[day, String(i), 'close'], 'after the opening time (an interval ends by midnight: split one that runs past it)']);
      if (open < lastClose) problems.push([[day, String(i), 'open'], "after the day's previous interval closes"]);
      lastClose = Math.max(lastClose, close);
    });
  }
  return problems;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export interface LocalTime {
  weekday: Weekday;
  /** YYYY-MM-DD, the local calendar date. */
  date: string;
  /** Minutes since local midnight. */
  minutes: number;
  /** The local wall-clock time read as if it were UTC, in ms (for offsets). */
  wallMs: number;
}

/** The instant as the store's wall clock shows it. */
export function localTime(at: Date, timeZone: string): LocalTime {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(at).map((p) => [p.type, p.value]));
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  const hour = Number(parts.hour);
  const minute = Number(parts.minute);
  const second = Number(parts.second);
  const weekday = String(parts.weekday).toUpperCase().slice(0, 3) as Weekday;
  return {
    weekday,
    date: `${parts.year}-${parts.month}-${parts.day}`,
    minutes: hour * 60 + minute,
    wallMs: Date.UTC(year, month - 1, day, hour, minute, second) + (at.getTime() % 1000),
  };
}

/** The instant local midnight starts `date` (YYYY-MM-DD) in the zone: the start of "today" for a store's pickup list. */
export function startOfLocalDay(date: string, timeZone: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d);
  // The zone's offset at that instant, found by reading the guess back (twice settles a DST change).
  let guess = wall;
  for (let i = 0; i < 2; i++) guess = wall - (localTime(new Date(guess), timeZone).wallMs - guess);
  return new Date(guess);
}

/** [start, end) of the local calendar day `date` in the zone. */
export function localDayRange(date: string, timeZone: string): { from: Date; to: Date } {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  return { from: startOfLocalDay(date, timeZone), to: startOfLocalDay(next, timeZone) };
}

/** Whether the store is open at that instant (open ≤ t < close on its local weekday). */
export function isOpenAt(hours: WeeklyHours, timeZone: string, at: Date): boolean {
  const local = localTime(at, timeZone);
  return (hours[local.weekday] ?? []).some((iv) => clockMinutes(iv.open) <= local.minutes && local.minutes < clockMinutes(iv.close));
}

/** "MON 10:00–21:00, TUE closed, …": for refusals, so a customer can pick a time that works. */
export function describeHours(hours: WeeklyHours): string {
  return WEEKDAYS.map((d) => {
    const ivs = hours[d] ?? [];
    return `${d} ${ivs.length === 0 ? 'closed' : ivs.map((iv) => `${iv.open}–${iv.close}`).join(', ')}`;
  }).join('; ');
}

/**
 * Why a pickup at `pickupAt`, ordered at `now`, does not suit the store (null when it does): it must leave the
 * store its lead time, and fall inside its opening hours on the store's local clock.
 */
export function pickupRefusal(policy: PickupPolicy, pickupAt: Date, now: Date): string | null {
  const earliest = now.getTime() + policy.pickupLeadMinutes * 60_000;
  if (pickupAt.getTime() < earliest) {
    return `at least ${policy.pickupLeadMinutes} minutes from now (the store's preparation time): ${new Date(earliest).toISOString()} or later`;
  }
  if (!isOpenAt(policy.hours, policy.timeZone, pickupAt)) {
    const local = localTime(pickupAt, policy.timeZone);
    const hh = String(Math.floor(local.minutes / 60)).padStart(2, '0');
    const mm = String(local.minutes % 60).padStart(2, '0');
    return `within the store's opening hours (${policy.timeZone}; that is ${local.weekday} ${hh}:${mm} there): ${describeHours(policy.hours)}`;
  }
  return null;
}
