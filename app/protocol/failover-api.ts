import { z } from 'zod';
import { IdSchema } from './common';
import { method, type NotificationTable } from './method-table';
import { NetworkSchema } from '../recovery/recovery-schemas';
import {
  CheckpointChoiceSchema,
  CommitPolicySchema,
  FailoverStatusSchema,
  MetadataPackageSchema,
  TestResultSchema,
} from '../recovery/recovery-schemas';
import { TaskRefSchema } from '../task/task-schemas';
import { VpgSettingsSchema } from '../vpg/vpg-schemas';

/**
 * Failover on the agent protocol. Every failover.* is asked of an agent of the VPG's RECOVERY
 * site: it holds the journal and the metadata package, so a live failover needs nothing of the
 * protected site. Each starts a task and answers at once with its id; a VPG has at most one
 * failover at a time (CONFLICT otherwise).
 */

const VpgRef = { vpgId: IdSchema };
const Latest = { kind: 'latest' } as const;
const NoAutoAction = { kind: 'none' } as const;

export const FailoverTestParamsSchema = z.strictObject({
  ...VpgRef,
  checkpoint: CheckpointChoiceSchema.default(Latest),
  /**
   * Only these VMs of the VPG (default: all). A test only: a live failover or a move ends
   * the VPG's protection, so it recovers every VM of it.
   */
  vmIds: z.array(IdSchema).min(1, 'choose at least one VM').max(1000).optional(),
});
export type FailoverTestParams = z.input<typeof FailoverTestParamsSchema>;

export const FailoverStopTestParamsSchema = z.strictObject({
  ...VpgRef,
  /** Recorded on the checkpoint ("Tested at …, passed"). */
  result: TestResultSchema.default('Passed'),
  note: z.string().trim().max(500).optional(),
});
export type FailoverStopTestParams = z.input<typeof FailoverStopTestParamsSchema>;

export const FailoverLiveParamsSchema = z.strictObject({
  ...VpgRef,
  checkpoint: CheckpointChoiceSchema.default(Latest),
  commitPolicy: CommitPolicySchema.default(NoAutoAction),
  /** If the protected site is reachable, shut its VMs down first (they would diverge). */
  shutdownProtectedVms: z.boolean().default(false),
  /** At commit, protect the recovered VMs back toward the protected site. */
  reverseProtection: z.boolean().default(false),
});
export type FailoverLiveParams = z.input<typeof FailoverLiveParamsSchema>;

export const FailoverMoveParamsSchema = z.strictObject({
  ...VpgRef,
  commitPolicy: CommitPolicySchema.default(NoAutoAction),
  reverseProtection: z.boolean().default(true),
});
export type FailoverMoveParams = z.input<typeof FailoverMoveParamsSchema>;

export const FailoverCommitParamsSchema = z.strictObject({
  ...VpgRef,
  /** Overrides the choice made when the failover started. */
  reverseProtection: z.boolean().optional(),
  /** Reverse protection's settings (vpg.settingsForReverse gives the defaults). */
  reverseSettings: VpgSettingsSchema.optional(),
});
export type FailoverCommitParams = z.input<typeof FailoverCommitParamsSchema>;

export const failoverMethods = {
  'failover.test': method(
    FailoverTestParamsSchema,
    TaskRefSchema,
    'Bring the VPG’s VMs up on isolated test networks from a scratch copy-on-write view of a checkpoint; protection goes on.',
  ),
  'failover.stopTest': method(
    FailoverStopTestParamsSchema,
    TaskRefSchema,
    'Power off and remove the test VMs, their scratch data and the networks the test created; record the result on the checkpoint.',
  ),
  'failover.live': method(
    FailoverLiveParamsSchema,
    TaskRefSchema,
    'Recover the VPG at a checkpoint at this site, also when the protected site is unreachable; then commit or roll back.',
  ),
  'failover.move': method(
    FailoverMoveParamsSchema,
    TaskRefSchema,
    'Planned migration: shut the protected VMs down, send the rest, insert a checkpoint and recover at it (no data lost).',
  ),
  'failover.commit': method(
    FailoverCommitParamsSchema,
    TaskRefSchema,
    'Keep the recovered VMs: promote the journal into their disks, optionally protect them back.',
  ),
  'failover.rollback': method(
    z.strictObject(VpgRef),
    TaskRefSchema,
    'Undo a live failover or move before commit: remove the recovered VMs and networks and resume protection. CONFLICT once a commit has started promoting (promotionStarted): only committing again is safe then.',
  ),
  'failover.list': method(
    z
      .strictObject({
        vpgId: IdSchema.optional(),
        /** Also ended failovers (newest first, at most 50). */
        includeEnded: z.boolean().default(false),
      })
      .optional(),
    z.array(FailoverStatusSchema),
    'Failovers of this agent: those in progress, optionally also ended ones.',
  ),
  'failover.discardTests': method(
    z.strictObject({
      vpgId: IdSchema,
      /** How many of the oldest ended test failovers to forget. */
      count: z.number().int().min(1).max(200),
    }),
    z.object({
      /** The failovers forgotten, oldest first. */
      discarded: z.array(IdSchema),
      /** Ended test failovers of the VPG still kept. */
      kept: z.number().int().nonnegative(),
    }),
    'Forget the records of the VPG’s oldest ended test failovers; the checkpoints they tested keep their Passed or Failed mark.',
  ),
  'vpg.settingsForReverse': method(
    z.strictObject(VpgRef),
    VpgSettingsSchema,
    'Default settings to protect a failed-over VPG back toward its original site.',
  ),
  'vpg.metadata': method(
    z.strictObject(VpgRef),
    MetadataPackageSchema,
    'The latest metadata package of a VPG (what rebuilds its VMs), as this agent has it.',
  ),
  'network.list': method(
    z.strictObject({}).optional(),
    z.array(NetworkSchema),
    'Networks of this agent’s hypervisor.',
  ),
} as const;

export const failoverNotifications = {
  /** A failover changed phase, or a VM of it came up. */
  'failover.status': FailoverStatusSchema,
} as const satisfies NotificationTable;
