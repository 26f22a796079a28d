import type { MetricsHistory, MetricsResolution } from '../../app/metrics/metrics-schemas';

/** The spans the RPO history card offers. */
export type HistoryRange = 'hour' | 'day' | 'week';

const MINUTE = 60_000;
const DAY = 24 * 3600_000;

export const HISTORY_RANGES: readonly { value: HistoryRange; label: string; refreshMs: number }[] =
  [
    { value: 'hour', label: '1 h', refreshMs: 5_000 },
    { value: 'day', label: '24 h', refreshMs: MINUTE },
    { value: 'week', label: '7 days', refreshMs: MINUTE },
  ];

/**
 * The protection.history query of a span. The agent's clock decides "now" (the console's may
 * be off): the hour and the day are the agent's defaults; the week asks from a little inside the
 * 7 days the agent keeps.
 */
export function historyQuery(
  range: HistoryRange,
  now: number,
): { resolution: MetricsResolution; from?: number } {
  if (range === 'hour') return { resolution: 'second' };
  if (range === 'day') return { resolution: 'minute' };
  return { resolution: 'minute', from: now - 7 * DAY + 10 * MINUTE };
}

export interface RpoSeries {
  /** One entry per second or minute from `from` to `to` (ms since the epoch). */
  readonly times: number[];
  /** RPO in seconds; null where nothing was recorded or the RPO was not known (a gap). */
  readonly rpo: (number | null)[];
  /** Worst RPO of the span, if any is known. */
  readonly worst: number | undefined;
  /** Share (0..1) of the known points that met their target. */
  readonly metShare: number | undefined;
}

/** A history as chart data: every step present, so missing seconds show as gaps in the line. */
export function rpoSeries(history: MetricsHistory): RpoSeries {
  const step = history.resolution === 'second' ? 1000 : MINUTE;
  const first = Math.floor(history.from / step) * step;
  const byTime = new Map(history.points.map((p) => [p.time, p]));
  const times: number[] = [];
  const rpo: (number | null)[] = [];
  for (let t = first; t <= history.to; t += step) {
    times.push(t);
    rpo.push(byTime.get(t)?.rpoSeconds ?? null);
  }
  let worst: number | undefined;
  let known = 0;
  let met = 0;
  for (const p of history.points) {
    if (p.rpoSeconds === undefined) continue;
    known += 1;
    if (p.rpoSeconds <= p.rpoTargetSeconds) met += 1;
    worst = Math.max(worst ?? 0, p.rpoSeconds);
  }
  return { times, rpo, worst, metShare: known === 0 ? undefined : met / known };
}

/** Whether a value has no known neighbour to draw a line to. */
export function isolated(values: readonly (number | null)[], index: number): boolean {
  return (
    values[index] != null &&
    (values[index - 1] ?? null) === null &&
    (values[index + 1] ?? null) === null
  );
}
