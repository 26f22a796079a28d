import type { Alert } from '../alerts/alert-schemas';
import { DAY_MS, toLocal } from '../policy/wall-clock';

/** An RPO target missed in the same timeframe on several days: worth a policy change. */
export interface RepeatedMiss {
  readonly vpgId: string;
  readonly vpgName: string;
  readonly timeframeName: string;
  /** The days (YYYY-MM-DD in the zone) with at least one RPO alert raised in the timeframe. */
  readonly days: readonly string[];
  readonly rpoTargetSeconds?: number;
  readonly worstRpoSeconds: number;
}

/** Days looked back over, and how many of them must have a miss. */
export const REPEATED_MISS_WINDOW_DAYS = 7;
export const REPEATED_MISS_MIN_DAYS = 2;

/**
 * RPO alerts raised in the last 7 days, per VPG and timeframe in force when raised, kept when
 * they fall on at least two days (in `timeZone`, the site's): the same timeframe missed again
 * is a policy that does not fit the writes, not a one-off outage.
 */
export function repeatedMisses(
  alerts: readonly Alert[],
  now: number,
  timeZone: string,
): RepeatedMiss[] {
  const since = now - REPEATED_MISS_WINDOW_DAYS * DAY_MS;
  const groups = new Map<string, { first: Alert; days: Set<string>; worst: number }>();
  for (const a of alerts) {
    if (a.kind !== 'rpo' || a.raisedAt < since || a.raisedAt > now) continue;
    const frame = a.timeframeName ?? 'Default';
    const key = `${a.vpgId}\u0000${frame}`;
    const day = new Date(toLocal(timeZone, a.raisedAt)).toISOString().slice(0, 10);
    const group = groups.get(key) ?? { first: a, days: new Set<string>(), worst: 0 };
    group.days.add(day);
    group.worst = Math.max(group.worst, a.worstRpoSeconds ?? 0);
    groups.set(key, group);
  }
  const out: RepeatedMiss[] = [];
  for (const { first, days, worst } of groups.values()) {
    if (days.size < REPEATED_MISS_MIN_DAYS) continue;
    out.push({
      vpgId: first.vpgId,
      vpgName: first.vpgName,
      timeframeName: first.timeframeName ?? 'Default',
      days: [...days].sort(),
      ...(first.rpoTargetSeconds !== undefined && { rpoTargetSeconds: first.rpoTargetSeconds }),
      worstRpoSeconds: worst,
    });
  }
  return out.sort((a, b) => b.days.length - a.days.length || a.vpgName.localeCompare(b.vpgName));
}
