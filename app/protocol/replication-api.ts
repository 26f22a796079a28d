import { z } from 'zod';
import {
  CheckpointInfoSchema,
  RpoTickSchema,
  VpgSchema,
  VpgSettingsPatchSchema,
  VpgSettingsSchema,
  VpgStatusSchema,
} from '../vpg/vpg-schemas';
import { MetricsHistoryParamsSchema, MetricsHistorySchema } from '../metrics/metrics-schemas';
import { IdSchema } from './common';
import { NoParams, method, type NotificationTable } from './method-table';

/**
 * VPGs, checkpoints and workloads on the agent protocol. A VPG is created on an agent of its
 * protected site; that agent configures the recovery site's agent over the peer link, so the
 * configuration lives on both. Both list it; `role` says which side of it an agent is.
 */

export const VpgRoleSchema = z.enum(['source', 'target']);

export const VpgUpdateParamsSchema = z.strictObject({
  vpgId: IdSchema,
  /** The version the admin edited; CONFLICT if the VPG changed since. */
  version: z.number().int().nonnegative(),
  settings: VpgSettingsPatchSchema,
});

export const VpgStateSchema = VpgSchema.extend({
  role: VpgRoleSchema,
  /** Why the VPG is in Error or Paused, for the admin. */
  statusMessage: z.string().optional(),
  rpoSeconds: z.number().nonnegative().optional(),
  backlogBytes: z.number().int().nonnegative(),
  journalBytes: z.number().int().nonnegative(),
  lastSeq: z.number().int().nonnegative(),
  confirmedSeq: z.number().int().nonnegative(),
  latestCheckpoint: CheckpointInfoSchema.optional(),
  /**
   * Protected site: settings changed by vpg.forceUpdate that the recovery site has not taken
   * yet (it was unreachable); it takes them when the link is back.
   */
  recoverySitePending: z.boolean().optional(),
  /** Recovery site: when a test failover of the VPG was last stopped (its checkpoint marks). */
  lastTestedAt: z.number().int().optional(),
});
export type VpgState = z.infer<typeof VpgStateSchema>;

const VpgRef = z.strictObject({ vpgId: IdSchema });

/** Write sizes in bytes (multiples of 512, up to 32 MiB) → relative weight. */
export const WriteMixSchema = z
  .record(
    z.string().regex(/^[1-9][0-9]*$/, 'keys are write sizes in bytes'),
    z.number().nonnegative(),
  )
  .refine(
    (mix) => Object.keys(mix).every((k) => Number(k) % 512 === 0 && Number(k) <= 32 * 2 ** 20),
    {
      message: 'write sizes must be multiples of 512 bytes, at most 32 MiB',
    },
  )
  .refine((mix) => Object.values(mix).some((w) => w > 0), {
    message: 'give at least one weight above 0',
  });

/**
 * What a sim workload writes: `random` looks like encrypted or compressed data (near 8 bits of
 * entropy per byte), `text` like documents (words, ≈ 4.4 bits/byte). Each block is unique either
 * way, so no dedupe flatters a measurement.
 */
export const WorkloadContentSchema = z.enum(['random', 'text']);
export type WorkloadContent = z.infer<typeof WorkloadContentSchema>;

export const WorkloadSettingsSchema = z.strictObject({
  vmId: IdSchema,
  bytesPerSecond: z
    .number()
    .int()
    .min(0)
    .max(10 * 2 ** 30),
  mix: WriteMixSchema.optional(),
  /** 0 = uniformly random offsets, 1 = writes cluster tightly. */
  locality: z.number().min(0).max(1).optional(),
  /** true: answered once the writes in flight have landed, and the answer counts them. */
  paused: z.boolean().optional(),
  /** Default `random` (unchanged when absent in a change). */
  content: WorkloadContentSchema.optional(),
});

export const WorkloadStatusSchema = z.object({
  vmId: IdSchema,
  bytesPerSecond: z.number().nonnegative(),
  mix: z.record(z.string(), z.number()),
  locality: z.number(),
  paused: z.boolean(),
  /** Absent from agents that predate it (they write random data). */
  content: WorkloadContentSchema.optional(),
  measuredBytesPerSecond: z.number().nonnegative(),
  writes: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  lastError: z.string().optional(),
});
export type WorkloadStatus = z.infer<typeof WorkloadStatusSchema>;

export const replicationMethods = {
  'vpg.create': method(
    VpgSettingsSchema,
    VpgStateSchema,
    'Protect VMs of this site in a new VPG replicating to a paired recovery site.',
  ),
  'vpg.list': method(NoParams, z.array(VpgStateSchema), 'VPGs this agent protects or receives.'),
  'vpg.state': method(VpgRef, VpgStateSchema, 'Settings and live state of one VPG.'),
  'vpg.status': method(
    VpgRef,
    z.object({ vpgId: IdSchema, status: VpgStatusSchema, message: z.string().optional() }),
    'The status of one VPG.',
  ),
  'vpg.remove': method(
    VpgRef,
    z.object({ removed: z.literal(true) }),
    'Stop protecting: remove the VPG from both sites with its journal and replica disks.',
  ),
  'vpg.update': method(
    VpgUpdateParamsSchema,
    VpgStateSchema,
    'Change a VPG’s name, journal, checkpoint interval or RPO target on both sites.',
  ),
  'vpg.forceUpdate': method(
    VpgUpdateParamsSchema,
    VpgStateSchema,
    'Change a VPG’s settings here even while its recovery site is unreachable: it takes them when the link is back (recoverySitePending says so meanwhile). With the link up, the same as vpg.update.',
  ),
  'vpg.addVm': method(
    z.strictObject({
      vpgId: IdSchema,
      vmId: IdSchema,
      version: z.number().int().nonnegative().optional(),
    }),
    VpgStateSchema,
    'Protect one more VM of this site in a VPG: its disks join the VPG’s write order and are synced.',
  ),
  'vpg.removeVm': method(
    z.strictObject({
      vpgId: IdSchema,
      vmId: IdSchema,
      version: z.number().int().nonnegative().optional(),
    }),
    VpgStateSchema,
    'Stop protecting one VM of a VPG (not its last): its replica disks and journal records go.',
  ),
  'vpg.forceRemove': method(
    VpgRef,
    z.object({ removed: z.literal(true), peerRemoved: z.boolean() }),
    'Remove a VPG from this agent even when the other site cannot be reached (it is told when it can).',
  ),
  'checkpoint.list': method(
    VpgRef,
    z.array(CheckpointInfoSchema),
    'Checkpoints of a VPG, oldest first, automatic and named, with source time.',
  ),
  'checkpoint.insert': method(
    z.strictObject({ vpgId: IdSchema, name: z.string().trim().min(1).max(120) }),
    CheckpointInfoSchema,
    'Insert a named checkpoint now; returns at once (confirmed: false).',
  ),
  'checkpoint.waitFor': method(
    z.strictObject({
      vpgId: IdSchema,
      seq: z.number().int().positive(),
      timeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
    }),
    CheckpointInfoSchema,
    'Resolve once the checkpoint is persisted at the recovery site; TIMEOUT otherwise.',
  ),
  'checkpoint.exportDisk': method(
    z.strictObject({
      vpgId: IdSchema,
      diskId: IdSchema,
      /** Seq of a consistent checkpoint of the VPG (checkpoint.list). */
      checkpointSeq: z.number().int().positive(),
      /** Absolute path on this (the recovery site's) agent host; must not exist yet. */
      path: z.string().min(2).max(4096).startsWith('/', 'give an absolute path'),
    }),
    z.object({ taskId: IdSchema }),
    'Write the image of a disk at a checkpoint to a raw file, as a task (recovery site only).',
  ),
  'metrics.history': method(
    MetricsHistoryParamsSchema,
    MetricsHistorySchema,
    'RPO, target, rates, backlog and journal use of a VPG over time (1 s for an hour, 1 min for 7 days).',
  ),
  'vm.setWorkload': method(
    WorkloadSettingsSchema,
    WorkloadStatusSchema,
    'Set the simulated write load of a VM (sim hypervisor only).',
  ),
  'vm.workload': method(
    z.strictObject({ vmId: IdSchema.optional() }).optional(),
    z.object({ workloads: z.array(WorkloadStatusSchema) }),
    'Simulated write load of the VMs, set and measured.',
  ),
} as const;

export const replicationNotifications = {
  'rpo.tick': RpoTickSchema,
  'vpg.status': z.object({
    vpgId: IdSchema,
    status: VpgStatusSchema,
    message: z.string().optional(),
  }),
} as const satisfies NotificationTable;
