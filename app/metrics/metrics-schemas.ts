import { z } from 'zod';
import { IdSchema } from '../protocol/common';

/**
 * The metrics history an agent keeps per VPG (from its rpo.tick): 1-second points for the last
 * hour, 1-minute points for at least 7 days. A minute point aggregates its seconds: RPO and
 * backlog are the worst of the minute, rates the mean, journal use the last.
 */

export const METRICS_SECOND_RETENTION_MS = 3600 * 1000;
export const METRICS_MINUTE_RETENTION_MS = 7 * 24 * 3600 * 1000;

export const MetricsResolutionSchema = z.enum(['second', 'minute']);
export type MetricsResolution = z.infer<typeof MetricsResolutionSchema>;

export const MetricsPointSchema = z.object({
  /** Start of the second or minute, ms since the epoch. */
  time: z.number().int(),
  rpoSeconds: z.number().nonnegative().optional(),
  rpoTargetSeconds: z.number().int().positive(),
  writtenBytesPerSecond: z.number().nonnegative(),
  sentBytesPerSecond: z.number().nonnegative(),
  backlogBytes: z.number().int().nonnegative(),
  journalBytes: z.number().int().nonnegative(),
});
export type MetricsPoint = z.infer<typeof MetricsPointSchema>;

export const MetricsHistoryParamsSchema = z
  .strictObject({
    vpgId: IdSchema,
    /** ms since the epoch; default: an hour (second) or a day (minute) before `to`. */
    from: z.number().int().nonnegative().optional(),
    /** ms since the epoch; default now. */
    to: z.number().int().nonnegative().optional(),
    /** Default: second when the range lies within the last hour, minute otherwise. */
    resolution: MetricsResolutionSchema.optional(),
  })
  .refine((p) => p.from === undefined || p.to === undefined || p.from <= p.to, {
    message: '`from` must not be after `to`',
    path: ['from'],
  });

export const MetricsHistorySchema = z.object({
  vpgId: IdSchema,
  resolution: MetricsResolutionSchema,
  from: z.number().int(),
  to: z.number().int(),
  /** Oldest first; seconds/minutes without data are absent. */
  points: z.array(MetricsPointSchema),
});
export type MetricsHistory = z.infer<typeof MetricsHistorySchema>;
