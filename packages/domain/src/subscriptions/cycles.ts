/** How often a subscription repeats: every `count` weeks or calendar months. */
export interface Every {
  count: number;
  unit: 'WEEK' | 'MONTH';
}

const DAY_MS = 86_400_000;

/** Days in a UTC calendar month (month 0..11). */
const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();

/**
 * The due time of cycle `n` (0 = startAt itself), always computed from startAt, never from the previous
 * cycle, so a clamped month does not drift: WEEK adds 7·count·n days; MONTH adds count·n calendar months
 * (UTC) keeping the time of day, clamped to the month's last day (Jan 31 + 1 month = Feb 28 or 29, and
 * + 2 months = Mar 31 again).
 */
export function cycleDueAt(startAt: Date, every: Every, n: number): Date {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`cycle ${n}: a whole number from 0`);
  if (!Number.isInteger(every.count) || every.count < 1) throw new RangeError(`every.count ${every.count}: a whole number from 1`);
  const t = startAt.getTime();
  if (every.unit === 'WEEK') return new Date(t + 7 * every.count * n * DAY_MS);
  const months = startAt.getUTCMonth() + every.count * n;
  const year = startAt.getUTCFullYear() + Math.floor(months / 12);
  const month = months % 12;
  const day = Math.min(startAt.getUTCDate(), daysInMonth(year, month));
  const timeOfDay = t - Date.UTC(startAt.getUTCFullYear(), startAt.getUTCMonth(), startAt.getUTCDate());
  return new Date(Date.UTC(year, month, day) + timeOfDay);
}

/**
 * The latest cycle due at `now` (its due time ≤ now), or -1 if not even cycle 0 is due. Cycles are
 * increasing in n, so this walks from an estimate.
 */
export function latestDueCycle(startAt: Date, every: Every, now: Date): number {
  if (now.getTime() < startAt.getTime()) return -1;
  const approxDays = every.unit === 'WEEK' ? 7 * every.count : 28 * every.count;
  let n = Math.max(0, Math.floor((now.getTime() - startAt.getTime()) / (approxDays * DAY_MS)) + 1);
  while (n > 0 && cycleDueAt(startAt, every, n).getTime() > now.getTime()) n--;
  while (cycleDueAt(startAt, every, n + 1).getTime() <= now.getTime()) n++;
  return n;
}

/** The first cycle strictly after `now` (where a resumed subscription goes on). */
export function nextCycleAfter(startAt: Date, every: Every, now: Date): number {
  return latestDueCycle(startAt, every, now) + 1;
}
