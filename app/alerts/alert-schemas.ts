import { z } from 'zod';
import { IdSchema } from '../protocol/common';

/**
 * Alerts an agent raises and clears: RPO over the target in force for longer than the grace
 * period, and journal alerts at the recovery site.
 */

export const AlertKindSchema = z.enum([
  'rpo',
  'journal-history-reduced',
  'journal-size-warning',
  'disk-full',
]);
export type AlertKind = z.infer<typeof AlertKindSchema>;

export const AlertSchema = z.object({
  alertId: IdSchema,
  kind: AlertKindSchema,
  vpgId: IdSchema,
  vpgName: z.string(),
  /** For the admin: what happened and what to do. */
  message: z.string(),
  /** RPO alerts: the timeframe and target in force when raised, and the worst RPO seen. */
  timeframeName: z.string().optional(),
  rpoTargetSeconds: z.number().int().positive().optional(),
  worstRpoSeconds: z.number().nonnegative().optional(),
  raisedAt: z.number().int(),
  /** Absent while the alert is raised. */
  clearedAt: z.number().int().optional(),
  acknowledgedAt: z.number().int().optional(),
});
export type Alert = z.infer<typeof AlertSchema>;

export const DEFAULT_RPO_GRACE_SECONDS = 60;
