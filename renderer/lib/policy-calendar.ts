import type { DayOfWeek, Policy, Timeframe } from '../../app/policy/policy-schemas';

/*
 * Timeframes are weekly and recurring; FullCalendar only shows concrete events. The calendar
 * runs in UTC on a fixed reference week whose UTC wall clock stands for the site's wall
 * clock (no DST inside it), and these functions translate both ways. Our policy stays the
 * data: the calendar's own copy of an event is only ever rebuilt from it.
 */

/** Monday 1 January 2024, 00:00 UTC. */
export const REFERENCE_MONDAY = Date.UTC(2024, 0, 1);
export const REFERENCE_DATE = '2024-01-01';
const DAY = 1440;
const WEEK = 7 * DAY;
const MS_PER_MIN = 60_000;

export interface CalendarEvent {
  readonly id: string;
  readonly title: string;
  readonly start: Date;
  readonly end: Date;
  readonly backgroundColor: string;
  readonly borderColor: string;
  /** The part of a Sunday timeframe shown on Monday morning is not draggable itself. */
  readonly editable: boolean;
  readonly classNames: string[];
  readonly extendedProps: { readonly timeframeId: string; readonly day: DayOfWeek };
}

export function minutesOf(time: string): number {
  const [h, m] = time.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

export function timeOf(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

/** Length in minutes: an end at or before the start is on the next day. */
export function durationOf(tf: Pick<Timeframe, 'start' | 'end'>): number {
  const s = minutesOf(tf.start);
  const e = minutesOf(tf.end);
  return e > s ? e - s : e + DAY - s;
}

const at = (weekMinutes: number): Date => new Date(REFERENCE_MONDAY + weekMinutes * MS_PER_MIN);
const weekMinutesOf = (d: Date): number =>
  Math.round((d.getTime() - REFERENCE_MONDAY) / MS_PER_MIN);

/** One event per day the timeframe starts on; one crossing the week's end wraps to Monday. */
export function timeframeEvents(tf: Timeframe, inForceId: string | undefined): CalendarEvent[] {
  const duration = durationOf(tf);
  const events: CalendarEvent[] = [];
  const base = {
    title: tf.name,
    backgroundColor: tf.colour,
    borderColor: tf.colour,
    classNames: tf.id === inForceId ? ['tl-in-force'] : [],
  };
  for (const day of tf.days) {
    const start = (day - 1) * DAY + minutesOf(tf.start);
    const end = start + duration;
    const extendedProps = { timeframeId: tf.id, day };
    events.push({
      ...base,
      id: `${tf.id}:${day}`,
      start: at(start),
      end: at(Math.min(end, WEEK)),
      editable: true,
      extendedProps,
    });
    if (end > WEEK) {
      events.push({
        ...base,
        id: `${tf.id}:${day}:wrap`,
        start: at(0),
        end: at(end - WEEK),
        editable: false,
        extendedProps,
      });
    }
  }
  return events;
}

/** A timeframe's predicted verdict and worst RPO, from the planner, shown on its events. */
export interface EventPrediction {
  readonly verdict: 'met' | 'at-risk' | 'missed';
  readonly label: string;
}

export function policyEvents(
  policy: Policy,
  inForceId: string | undefined,
  predictions?: ReadonlyMap<string, EventPrediction>,
): CalendarEvent[] {
  return policy.timeframes.flatMap((tf) => {
    const p = predictions?.get(tf.id);
    const events = timeframeEvents(tf, inForceId);
    if (p === undefined) return events;
    return events.map((e) => ({
      ...e,
      title: `${e.title} · ${p.label}`,
      classNames: [...e.classNames, `tl-verdict-${p.verdict}`],
    }));
  });
}

export interface Span {
  readonly days: DayOfWeek[];
  readonly start: string;
  readonly end: string;
}

const dayRange = (from: number, to: number): DayOfWeek[] =>
  Array.from({ length: to - from + 1 }, (_, i) => (from + i + 1) as DayOfWeek);

/**
 * A drag on the calendar as a timeframe: up to 24 hours is one day's timeframe (crossing
 * midnight if it does); longer is the same hours on each day of the range (08:00 Monday to
 * 18:00 Friday = Monday to Friday, 08:00–18:00).
 */
export function selectionSpan(startDate: Date, endDate: Date): Span {
  const s = weekMinutesOf(startDate);
  const e = weekMinutesOf(endDate);
  const sd = Math.floor(s / DAY);
  const st = s % DAY;
  const endsAtMidnight = e % DAY === 0;
  const ed = endsAtMidnight ? e / DAY - 1 : Math.floor(e / DAY);
  const et = endsAtMidnight ? DAY : e % DAY;
  if (e - s <= DAY) return { days: dayRange(sd, sd), start: timeOf(st), end: endTime(st, et) };
  if (et > st) return { days: dayRange(sd, ed), start: timeOf(st), end: endTime(st, et) };
  return { days: dayRange(sd, ed - 1), start: timeOf(st), end: endTime(st, et) };
}

/** An end at midnight is "24:00" (the end of the day it started on). */
function endTime(_start: number, end: number): string {
  return end === DAY ? '24:00' : timeOf(end);
}

/**
 * A moved or resized occurrence (the one that started on `day`) applied to the timeframe:
 * its new times apply to every day, and a move to another day shifts all its days alike.
 * Undefined when the result would last more than 24 hours.
 */
export function movedTimeframe(
  tf: Timeframe,
  day: DayOfWeek,
  startDate: Date,
  endDate: Date,
): Timeframe | undefined {
  const s = weekMinutesOf(startDate);
  const duration = weekMinutesOf(endDate) - s;
  if (duration <= 0 || duration > DAY) return undefined;
  const newDay = Math.floor((((s % WEEK) + WEEK) % WEEK) / DAY) + 1;
  const shift = newDay - day;
  const start = ((s % DAY) + DAY) % DAY;
  const endMinutes = (start + duration) % DAY;
  const end = endMinutes === 0 && duration !== DAY ? '24:00' : timeOf(endMinutes);
  const days = [...new Set(tf.days.map((d) => ((((d - 1 + shift) % 7) + 7) % 7) + 1))].sort(
    (a, b) => a - b,
  );
  return { ...tf, days: days as DayOfWeek[], start: timeOf(start), end };
}
