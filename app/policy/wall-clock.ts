import { IANAZone } from 'luxon';

/*
 * Zone math for calendar policies. Luxon supplies IANA zone offsets (from Intl, so the
 * tz database of the runtime); the choice of instant for a wall-clock time that does not
 * exist or exists twice is ours, stated here once:
 * - a time in a spring-forward gap resolves to the first instant after the gap
 *   (Europe/Berlin, last Sunday of March: 02:30 → 03:00 CEST);
 * - an ambiguous time in a fall-back fold resolves to its first occurrence
 *   (Europe/Berlin, last Sunday of October: 02:30 → 02:30 CEST, not CET).
 * The mapping wall → instant is then monotonic (non-decreasing), so timeframes that do not
 * overlap on the weekly wall-clock grid never overlap in time.
 *
 * "Local ms" below: the wall-clock time written as if it were UTC (Date.UTC(y, m, d, h, mi)),
 * which makes day-of-week and date arithmetic plain integer maths.
 */

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
export const MINUTES_PER_WEEK = 7 * 24 * 60;

const zones = new Map<string, IANAZone>();

/** True when the runtime knows the IANA zone (e.g. "Europe/Berlin"). */
export function isKnownTimeZone(name: string): boolean {
  return IANAZone.isValidZone(name);
}

function zone(name: string): IANAZone {
  let z = zones.get(name);
  if (z === undefined) {
    z = IANAZone.create(name);
    zones.set(name, z);
  }
  return z;
}

/** UTC offset in ms of `timeZone` at instant `at`. */
export function offsetMs(timeZone: string, at: number): number {
  const minutes = zone(timeZone).offset(at);
  if (Number.isNaN(minutes)) throw new RangeError(`unknown time zone ${timeZone}`);
  return minutes * MINUTE_MS;
}

/** The wall-clock time at instant `at`, as local ms. */
export function toLocal(timeZone: string, at: number): number {
  return at + offsetMs(timeZone, at);
}

/**
 * The instant of a wall-clock time (local ms): the first occurrence if it is ambiguous, the
 * first instant after the gap if it does not exist. Assumes no two offset changes within a day
 * of each other, which holds for the tz database since 1970 except for a few historic oddities.
 */
export function toInstant(timeZone: string, local: number): number {
  const before = offsetMs(timeZone, local - DAY_MS);
  const after = offsetMs(timeZone, local + DAY_MS);
  const candidates = [local - before, local - after].filter(
    (t) => local - t === offsetMs(timeZone, t),
  );
  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap (after > before): find the transition, the first instant with the later offset.
  let lo = local - after; // still on the earlier offset
  let hi = local - before; // already on the later offset
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetMs(timeZone, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** ISO day of week (1 = Monday … 7 = Sunday) of local ms. */
export function isoDayOfLocal(local: number): number {
  const d = new Date(local).getUTCDay();
  return d === 0 ? 7 : d;
}

/** Local ms of the Monday 00:00 starting the week that contains `local`. */
export function weekStartOfLocal(local: number): number {
  const midnight = Math.floor(local / DAY_MS) * DAY_MS;
  return midnight - (isoDayOfLocal(local) - 1) * DAY_MS;
}
