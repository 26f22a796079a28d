import type { Timeframe, TimeOfDay } from './policy-schemas';
import { MINUTES_PER_WEEK } from './wall-clock';

/*
 * The weekly wall-clock grid: minute 0 is Monday 00:00, minute 10079 Sunday 23:59, and the
 * week wraps (Sunday 22:00 → 06:00 runs into Monday). Overlaps and evaluation both work on it.
 */

export const MINUTES_PER_DAY = 24 * 60;
export const DAY_NAMES = [
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'Saturday',
  'Sunday',
] as const;

/** Minutes since midnight of "HH:MM" ("24:00" → 1440). */
export function minutesOfDay(time: TimeOfDay): number {
  const [h, m] = time.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** "Monday 17:00" for a minute of the week. */
export function formatMinuteOfWeek(minute: number): string {
  const m = ((minute % MINUTES_PER_WEEK) + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
  const day = DAY_NAMES[Math.floor(m / MINUTES_PER_DAY)] ?? 'Monday';
  return `${day} ${formatTime(m % MINUTES_PER_DAY)}`;
}

function formatTime(minuteOfDay: number): string {
  const h = Math.floor(minuteOfDay / 60);
  const m = minuteOfDay % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

/** The occurrences of a timeframe on the grid: [start, start + length) per day, may wrap. */
export function occurrences(tf: Pick<Timeframe, 'days' | 'start' | 'end'>): {
  start: number;
  length: number;
}[] {
  const s = minutesOfDay(tf.start);
  const e = minutesOfDay(tf.end);
  // end at or before start: it ends the next day; start = end is empty (validation refuses it).
  const length = e > s ? e - s : e === s ? 0 : e + MINUTES_PER_DAY - s;
  return [...new Set(tf.days)].map((d) => ({ start: (d - 1) * MINUTES_PER_DAY + s, length }));
}

/**
 * Owner of every minute of the week: the index of the timeframe covering it, or -1 (default).
 * With overlaps (only in unvalidated input) the later timeframe wins; `onOverlap` sees each
 * doubly-claimed minute.
 */
export function ownerGrid(
  timeframes: readonly Pick<Timeframe, 'days' | 'start' | 'end'>[],
  onOverlap?: (minute: number, earlier: number, later: number) => void,
): Int16Array {
  const grid = new Int16Array(MINUTES_PER_WEEK).fill(-1);
  timeframes.forEach((tf, index) => {
    for (const { start, length } of occurrences(tf)) {
      for (let i = 0; i < length; i++) {
        const m = (start + i) % MINUTES_PER_WEEK;
        const prior = grid[m] ?? -1;
        if (prior !== -1 && prior !== index) onOverlap?.(m, prior, index);
        grid[m] = index;
      }
    }
  });
  return grid;
}

/** Minutes of the week where the owner changes (ascending), with the owner from there on. */
export function boundaries(grid: Int16Array): { minute: number; owner: number }[] {
  const out: { minute: number; owner: number }[] = [];
  for (let m = 0; m < MINUTES_PER_WEEK; m++) {
    const prev = grid[(m + MINUTES_PER_WEEK - 1) % MINUTES_PER_WEEK];
    const cur = grid[m] ?? -1;
    if (cur !== prev) out.push({ minute: m, owner: cur });
  }
  return out;
}

/** "17:00–18:00" style range text for a run [start, end) of grid minutes on one or two days. */
export function formatRun(start: number, end: number): string {
  const startText = formatMinuteOfWeek(start);
  const sameDay =
    Math.floor(start / MINUTES_PER_DAY) === Math.floor((end - 1) / MINUTES_PER_DAY) &&
    end - start <= MINUTES_PER_DAY;
  const endOfDay = end % MINUTES_PER_DAY === 0;
  if (sameDay) {
    const endText = endOfDay ? '24:00' : formatTime(end % MINUTES_PER_DAY);
    return `${startText}–${endText}`;
  }
  return `${startText} – ${formatMinuteOfWeek(end)}`;
}
