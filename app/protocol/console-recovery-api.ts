import { z } from 'zod';
import { IdSchema } from './common';
import {
  FailoverCommitParamsSchema,
  FailoverLiveParamsSchema,
  FailoverMoveParamsSchema,
  FailoverStopTestParamsSchema,
  FailoverTestParamsSchema,
} from './failover-api';
import { NoParams, method, type NotificationTable } from './method-table';
import { FailoverStatusSchema } from '../recovery/recovery-schemas';

/**
 * The console's recovery methods (part of the ConsoleApi). `siteId` is always the VPG's
 * RECOVERY site: its agents run failovers, also while the protected site is unreachable.
 */

/** An agent's failover, with the site and agent that run it. */
export const ConsoleFailoverSchema = FailoverStatusSchema.extend({
  siteId: IdSchema,
  agentKey: IdSchema,
});
export type ConsoleFailover = z.infer<typeof ConsoleFailoverSchema>;

const RecoverySite = { siteId: IdSchema };

export const FailoverStartParamsSchema = z.discriminatedUnion('mode', [
  FailoverTestParamsSchema.extend({ mode: z.literal('test'), ...RecoverySite }),
  FailoverLiveParamsSchema.extend({ mode: z.literal('live'), ...RecoverySite }),
  FailoverMoveParamsSchema.extend({ mode: z.literal('move'), ...RecoverySite }),
]);
export type FailoverStartParams = z.input<typeof FailoverStartParamsSchema>;

/** The task a failover operation started, and where it runs (follow it with protection.task). */
export const FailoverTaskRefSchema = z.object({
  taskId: IdSchema,
  siteId: IdSchema,
  agentKey: IdSchema,
});
export type FailoverTaskRef = z.infer<typeof FailoverTaskRefSchema>;

export const recoveryConsoleMethods = {
  'failovers.list': method(
    NoParams,
    z.object({ failovers: z.array(ConsoleFailoverSchema) }),
    'Failovers of the connected agents: in progress, and those that ended recently.',
  ),
  'failovers.start': method(
    FailoverStartParamsSchema,
    FailoverTaskRefSchema,
    'Start a test, live or move failover through a connected agent of the recovery site.',
  ),
  'failovers.stopTest': method(
    FailoverStopTestParamsSchema.extend(RecoverySite),
    FailoverTaskRefSchema,
    'Stop a test failover and record its result on the checkpoint.',
  ),
  'failovers.commit': method(
    FailoverCommitParamsSchema.extend(RecoverySite),
    FailoverTaskRefSchema,
    'Commit a live failover or move.',
  ),
  'failovers.rollback': method(
    z.strictObject({ ...RecoverySite, vpgId: IdSchema }),
    FailoverTaskRefSchema,
    'Roll back a live failover or move before commit; protection resumes.',
  ),
  'failovers.discardTests': method(
    z.strictObject({
      ...RecoverySite,
      vpgId: IdSchema,
      count: z.number().int().min(1).max(200),
    }),
    z.object({ discarded: z.array(IdSchema), kept: z.number().int().nonnegative() }),
    'Forget the records of a VPG’s oldest ended test failovers at its recovery site (failover.discardTests); the checkpoints keep their test marks.',
  ),
} as const;

export const recoveryConsoleNotifications = {
  /** A failover of a connected agent changed phase, or one of its VMs came up. */
  'recovery.failover': ConsoleFailoverSchema,
} as const satisfies NotificationTable;
