import { TidelineError } from '../../app/errors';
import {
  METRICS_MINUTE_RETENTION_MS,
  METRICS_SECOND_RETENTION_MS,
  type MetricsResolution,
} from '../../app/metrics/metrics-schemas';

export interface RangeQuery {
  readonly from?: number;
  readonly to?: number;
  readonly resolution?: MetricsResolution;
}

export interface ResolvedRange {
  readonly from: number;
  readonly to: number;
  readonly resolution: MetricsResolution;
}

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/**
 * Leeway at the retention edge: a console computing "an hour ago" on its own clock (a little
 * off, plus the request's latency) must not be refused for it.
 */
export const SECOND_EDGE_MS = 60_000;
export const MINUTE_EDGE_MS = HOUR_MS;

/**
 * The range and resolution of a metrics.history request: `to` defaults to now; without a
 * resolution, seconds when the range lies within the last hour, minutes otherwise; `from`
 * defaults to an hour (seconds) or a day (minutes) before `to`. A range reaching past what is
 * kept is INVALID_PARAMS, saying what is kept.
 */
export function resolveRange(query: RangeQuery, now: number): ResolvedRange {
  const to = query.to ?? now;
  const secondsKeptFrom = now - METRICS_SECOND_RETENTION_MS;
  const resolution =
    query.resolution ??
    ((query.from ?? to - HOUR_MS) >= secondsKeptFrom - SECOND_EDGE_MS ? 'second' : 'minute');
  const from = query.from ?? to - (resolution === 'second' ? HOUR_MS : DAY_MS);
  if (from > to) {
    throw new TidelineError('INVALID_PARAMS', '`from` must not be after `to`');
  }
  if (resolution === 'second' && from < secondsKeptFrom - SECOND_EDGE_MS) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `1-second metrics are kept for the last hour only (from ${iso(secondsKeptFrom)}); ` +
        `ask resolution "minute" for ${iso(from)}`,
      { from, keptFrom: secondsKeptFrom },
    );
  }
  const minutesKeptFrom = now - METRICS_MINUTE_RETENTION_MS;
  if (resolution === 'minute' && from < minutesKeptFrom - MINUTE_EDGE_MS) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `Metrics are kept for 7 days (from ${iso(minutesKeptFrom)}); ${iso(from)} is older: ask a later \`from\``,
      { from, keptFrom: minutesKeptFrom },
    );
  }
  return { from, to, resolution };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
