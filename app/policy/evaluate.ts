import type { DateException, InForce, Policy } from './policy-schemas';
import { boundaries, ownerGrid } from './weekly-grid';
import { DAY_MS, MINUTE_MS, toInstant, toLocal, weekStartOfLocal } from './wall-clock';

/*
 * Evaluation: the weekly grid's owner changes ("boundaries") are wall-clock times; each
 * occurrence maps to an instant (gap → first instant after it, fold → first occurrence; see
 * wall-clock.ts). Between two consecutive boundary instants the owner is constant. Boundaries
 * that collapse onto one instant (a timeframe inside a spring-forward gap) are skipped, and
 * neighbouring stretches of the same owner are merged, so `from`/`until` are real changes.
 */

const WEEK_MS = 7 * 86_400_000;
/** Weeks of boundary occurrences considered either side of `at`. */
const SPAN_WEEKS = 2;
/** Longest fall-back fold: a boundary this far (wall clock) after `at` may already be past. */
const MAX_FOLD_MS = 3 * 3_600_000;

interface Compiled {
  /** Ascending minutes of the week where the owner changes, and the owner from there on. */
  readonly bounds: readonly { minute: number; owner: number }[];
  /** Owner when there is no boundary at all (the same all week). */
  readonly constantOwner: number;
}

// Policies are treated as immutable values: compiled once per object.
const compiledByPolicy = new WeakMap<Policy, Compiled>();

function compile(policy: Policy): Compiled {
  let c = compiledByPolicy.get(policy);
  if (c === undefined) {
    const grid = ownerGrid(policy.timeframes);
    c = { bounds: boundaries(grid), constantOwner: grid[0] ?? -1 };
    compiledByPolicy.set(policy, c);
  }
  return c;
}

// Boundary instants repeat from call to call (a scheduler, a calendar, a sweep): memoized.
const instantCache = new Map<string, number>();
const INSTANT_CACHE_MAX = 8192;

function cachedInstant(timeZone: string, local: number): number {
  const key = `${timeZone}|${local}`;
  let t = instantCache.get(key);
  if (t === undefined) {
    t = toInstant(timeZone, local);
    if (instantCache.size >= INSTANT_CACHE_MAX) instantCache.clear();
    instantCache.set(key, t);
  }
  return t;
}

function inForce(policy: Policy, owner: number, from: number, until: number): InForce {
  const tf = owner >= 0 ? policy.timeframes[owner] : undefined;
  const src = tf ?? policy.default;
  return {
    ...(tf !== undefined && { timeframeId: tf.id }),
    timeframeName: tf?.name ?? 'Default',
    rpoTargetSeconds: src.rpoTargetSeconds,
    ...(src.replicationBitsPerSecond !== undefined && {
      replicationBitsPerSecond: src.replicationBitsPerSecond,
    }),
    ...(src.seedingBitsPerSecond !== undefined && {
      seedingBitsPerSecond: src.seedingBitsPerSecond,
    }),
    from,
    until,
  };
}

/**
 * What is in force at `at` (ms since the epoch): a dated exception covering that day (in the
 * policy's zone), else the timeframe or the default, from the start of this stretch to the
 * next change. A stretch longer than ~2 weeks (a policy that never changes, or a timeframe
 * swallowed by a DST gap) is cut: `from`/`until` are then only re-evaluation points, with the
 * same values on both sides. Expects a validated policy.
 */
export function policyInForce(policy: Policy, at: number): InForce {
  const exceptions = policy.exceptions ?? [];
  if (exceptions.length === 0) return weeklyInForce(policy, at);
  const tz = policy.timeZone;
  const day = Math.floor(toLocal(tz, at) / DAY_MS) * DAY_MS;
  const dayStart = (d: number): number => cachedInstant(tz, d);
  const covering = exceptionOn(exceptions, day);
  if (covering !== undefined) {
    // The run of days this exception covers around `at` (at most a year each way).
    let first = day;
    while (day - first < 366 * DAY_MS && exceptionOn(exceptions, first - DAY_MS) === covering) {
      first -= DAY_MS;
    }
    let end = day + DAY_MS;
    while (end - day < 366 * DAY_MS && exceptionOn(exceptions, end) === covering) end += DAY_MS;
    return exceptionInForce(covering, dayStart(first), dayStart(end));
  }
  // The weekly stretch, cut where an exception begins or ended.
  const weekly = weeklyInForce(policy, at);
  let { from, until } = weekly;
  for (let d = day + DAY_MS; dayStart(d) < until && d - day <= SPAN_WEEKS * WEEK_MS; d += DAY_MS) {
    if (exceptionOn(exceptions, d) !== undefined) {
      until = dayStart(d);
      break;
    }
  }
  for (
    let d = day - DAY_MS;
    dayStart(d + DAY_MS) > from && day - d <= SPAN_WEEKS * WEEK_MS;
    d -= DAY_MS
  ) {
    if (exceptionOn(exceptions, d) !== undefined) {
      from = dayStart(d + DAY_MS);
      break;
    }
  }
  return { ...weekly, from, until };
}

/** Local ms of a "YYYY-MM-DD" day's midnight. */
export function localDay(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return Date.UTC(y, m - 1, d);
}

/** Whether an exception covers the local day starting at `day` (local ms, midnight). */
export function exceptionCovers(ex: DateException, day: number): boolean {
  const from = localDay(ex.from);
  const to = localDay(ex.to);
  switch (ex.recurrence) {
    case 'once':
      return day >= from && day <= to;
    case 'yearly': {
      if (day < from) return false;
      const md = (t: number): number => {
        const date = new Date(t);
        return date.getUTCMonth() * 100 + date.getUTCDate();
      };
      const a = md(from);
      const b = md(to);
      const x = md(day);
      return a <= b ? x >= a && x <= b : x >= a || x <= b; // b < a: across New Year
    }
    case 'last-business-day': {
      if (day < from || day > to) return false;
      const date = new Date(day);
      const weekday = date.getUTCDay();
      if (weekday === 0 || weekday === 6) return false;
      // The last weekday of the month: no weekday follows it in the same month.
      for (
        let next = day + DAY_MS;
        new Date(next).getUTCMonth() === date.getUTCMonth();
        next += DAY_MS
      ) {
        const w = new Date(next).getUTCDay();
        if (w !== 0 && w !== 6) return false;
      }
      return true;
    }
  }
}

function exceptionOn(exceptions: readonly DateException[], day: number): DateException | undefined {
  return exceptions.find((ex) => exceptionCovers(ex, day));
}

function exceptionInForce(ex: DateException, from: number, until: number): InForce {
  return {
    exceptionId: ex.id,
    timeframeName: ex.name,
    rpoTargetSeconds: ex.rpoTargetSeconds,
    ...(ex.replicationBitsPerSecond !== undefined && {
      replicationBitsPerSecond: ex.replicationBitsPerSecond,
    }),
    ...(ex.seedingBitsPerSecond !== undefined && { seedingBitsPerSecond: ex.seedingBitsPerSecond }),
    from,
    until,
  };
}

function weeklyInForce(policy: Policy, at: number): InForce {
  const { bounds, constantOwner } = compile(policy);
  if (bounds.length === 0) return inForce(policy, constantOwner, at, at + WEEK_MS);

  const tz = policy.timeZone;
  const local = toLocal(tz, at);
  const firstWeek = weekStartOfLocal(local) - SPAN_WEEKS * WEEK_MS;
  const n = bounds.length;
  const count = n * (2 * SPAN_WEEKS + 1);
  const localAt = (i: number): number =>
    firstWeek + Math.floor(i / n) * WEEK_MS + (bounds[i % n]?.minute ?? 0) * MINUTE_MS;
  const ownerAt = (i: number): number => bounds[i % n]?.owner ?? -1;
  const instant = (i: number): number => cachedInstant(tz, localAt(i));

  // The last boundary at or before `at` (a fold can put boundaries a little past its wall time).
  let i = count - 1;
  while (i > 0 && localAt(i) > local + MAX_FOLD_MS) i--;
  while (i > 0 && instant(i) > at) i--;
  const owner = ownerAt(i);

  // Forward: the first boundary after which a different owner actually holds time.
  let until = instant(count - 1);
  for (let j = i + 1; j < count;) {
    let k = j;
    while (k + 1 < count && instant(k + 1) === instant(j)) k++;
    if (ownerAt(k) !== owner) {
      until = instant(j);
      break;
    }
    j = k + 1;
  }

  // Backward: where the stretch began (the owner before it holds a non-empty time).
  let from = instant(0);
  for (let j = i; j > 0;) {
    let m = j - 1;
    while (m > 0 && instant(m) === instant(j)) m--;
    if (instant(m) === instant(j)) break; // ran out of the window
    if (ownerAt(m) !== owner) {
      from = instant(j);
      break;
    }
    j = m;
  }
  return inForce(policy, owner, from, until);
}
