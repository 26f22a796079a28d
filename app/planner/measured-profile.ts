import { MINUTE_MS, MINUTES_PER_WEEK, toLocal, weekStartOfLocal } from '../policy/wall-clock';

export interface MeasuredPoint {
  /** Start of the minute, ms since the epoch. */
  readonly time: number;
  readonly writtenBytesPerSecond: number;
}

export interface MeasuredProfile {
  /** Bytes per second per minute of the week, from Monday 00:00 in the zone. */
  readonly rates: Float64Array;
  /** Minutes of the week the history measured (the rest repeat the minute before them). */
  readonly measuredMinutes: number;
}

/**
 * A week profile from a VPG's measured 1-minute history (`metrics.history`): each point goes to
 * its minute of the week in the site's zone; a minute measured more than once (a history longer
 * than a week) takes the mean. Minutes with no measurement repeat the minute before them
 * (wrapping), as the agent keeps no point while it is down; `measuredMinutes` says how much of
 * the week is real.
 */
export function measuredProfile(
  points: readonly MeasuredPoint[],
  timeZone: string,
): MeasuredProfile {
  const sum = new Float64Array(MINUTES_PER_WEEK);
  const count = new Uint16Array(MINUTES_PER_WEEK);
  for (const p of points) {
    const local = toLocal(timeZone, p.time);
    const minute = Math.floor((local - weekStartOfLocal(local)) / MINUTE_MS) % MINUTES_PER_WEEK;
    sum[minute] = (sum[minute] as number) + p.writtenBytesPerSecond;
    count[minute] = Math.min(65535, (count[minute] as number) + 1);
  }
  const rates = new Float64Array(MINUTES_PER_WEEK);
  let measured = 0;
  let last = 0;
  for (let m = MINUTES_PER_WEEK - 1; m >= 0; m--) {
    if ((count[m] as number) > 0) {
      last = (sum[m] as number) / (count[m] as number);
      break;
    }
  }
  for (let m = 0; m < MINUTES_PER_WEEK; m++) {
    const n = count[m] as number;
    if (n > 0) {
      last = (sum[m] as number) / n;
      measured++;
    }
    rates[m] = last;
  }
  return { rates, measuredMinutes: measured };
}
