import { z } from 'zod';
import { IdSchema } from '../protocol/common';
import { CheckpointTestSchema, VpgRecoverySettingsSchema } from '../recovery/recovery-schemas';

/**
 * Virtual protection groups: VMs that are recovered together, with one write sequence across
 * all their disks so any checkpoint is a crash-consistent image of the whole group.
 */

export const VpgStatusSchema = z.enum([
  'Initializing',
  'Seeding',
  'Protecting',
  'RpoNotMet',
  'Paused',
  'Resyncing',
  /** A test failover is up at the recovery site; protection goes on. */
  'TestFailover',
  /** A live failover or move is bringing the VMs up, or waits for commit or rollback. */
  'FailingOver',
  /** Committed: the journal is being written into the replica disks under the running VMs. */
  'Promoting',
  /** Promoted; reverse protection is being set up (its initial delta sync not yet done). */
  'PromotionCompleteMirrorsNotYetActivated',
  /** Committed without reverse protection: the VMs run at the recovery site, unprotected. */
  'NeedReverseConfiguration',
  /** The recovery site has no metadata package for the VPG: it cannot rebuild the VMs. */
  'MissingConfiguration',
  'RemoveInProgress',
  'Error',
]);
export type VpgStatus = z.infer<typeof VpgStatusSchema>;

const Seconds = z.number().int().positive();
const Bytes = z.number().int().positive();

export const JournalSettingsSchema = z
  .object({
    /** How far back checkpoints are kept (e.g. 4 h). */
    historySeconds: Seconds.max(30 * 24 * 3600),
    /** The journal never grows past this; the oldest history is applied to the replica first. */
    hardLimitBytes: Bytes,
    /** Above this an alert warns that the hard limit is near. */
    warningBytes: Bytes,
  })
  .refine((j) => j.warningBytes < j.hardLimitBytes, {
    message: 'the warning threshold must be below the hard limit',
    path: ['warningBytes'],
  });
export type JournalSettings = z.infer<typeof JournalSettingsSchema>;

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5_000;

export const VpgSettingsSchema = z.strictObject({
  name: z.string().trim().min(1).max(80),
  /** VMs of the protected site, with all their disks. */
  vmIds: z.array(IdSchema).min(1, 'a VPG protects at least one VM'),
  recoverySiteId: IdSchema,
  recoveryHostId: IdSchema,
  recoveryDatastore: IdSchema,
  journal: JournalSettingsSchema,
  checkpointIntervalMs: z
    .number()
    .int()
    .min(1_000)
    .max(3_600_000)
    .default(DEFAULT_CHECKPOINT_INTERVAL_MS),
  rpoTargetSeconds: Seconds.max(24 * 3600),
  /**
   * Disks already copied to the recovery site (say from a backup): the replica starts from that
   * file and the initial sync sends only the blocks whose hashes differ.
   */
  preseededReplicas: z
    .array(
      z.strictObject({
        diskId: IdSchema,
        /** Absolute path of a raw file on the recovery site's agent host, of the disk's size. */
        path: z.string().min(2).max(4096).startsWith('/', 'give an absolute path'),
      }),
    )
    .optional(),
  /** Boot order and NIC mappings for failover (defaults: group 0, networks kept). */
  recovery: VpgRecoverySettingsSchema.optional(),
});
export type VpgSettings = z.infer<typeof VpgSettingsSchema>;

/** What vpg.update may change; VMs change through vpg.addVm/removeVm, the sites never. */
export const VpgSettingsPatchSchema = z
  .strictObject({
    name: VpgSettingsSchema.shape.name,
    journal: JournalSettingsSchema,
    checkpointIntervalMs: z.number().int().min(1_000).max(3_600_000),
    rpoTargetSeconds: Seconds.max(24 * 3600),
    recovery: VpgRecoverySettingsSchema,
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, { message: 'give at least one setting to change' });
export type VpgSettingsPatch = z.infer<typeof VpgSettingsPatchSchema>;

export const VpgDiskSchema = z.object({
  vmId: IdSchema,
  diskId: IdSchema,
  sizeBytes: z.number().int().positive(),
});
export type VpgDisk = z.infer<typeof VpgDiskSchema>;

export const VpgSchema = VpgSettingsSchema.extend({
  vpgId: IdSchema,
  protectedSiteId: IdSchema,
  disks: z.array(VpgDiskSchema),
  status: VpgStatusSchema,
  createdAt: z.number().int(),
  /** Bumped by every settings change, so concurrent edits are refused, not lost. */
  version: z.number().int().nonnegative(),
});
export type Vpg = z.infer<typeof VpgSchema>;

/**
 * What one disk's writes looked like between the previous checkpoint and this one, measured at
 * the recovery site as records arrive (agent/replication/change-signal.ts). Counts, not labels:
 * a console shows the shares, the admin judges. Block counts are of whole 4 KiB blocks written
 * with data (a block only partly written by one write is in the bytes, not in the blocks).
 */
export const CheckpointDiskChangeSchema = z.object({
  diskId: IdSchema,
  /** Bytes the VM wrote (writes and write-zeroes; not initial sync or resync copies). */
  writtenBytes: z.number().int().nonnegative(),
  writtenBlocks: z.number().int().nonnegative(),
  /** Written blocks whose sampled content looks random (near 8 bits of entropy per byte). */
  highEntropyBlocks: z.number().int().nonnegative(),
  /** High-entropy blocks whose previous content, as last seen here, was low-entropy. */
  turnedHighBlocks: z.number().int().nonnegative(),
});
export type CheckpointDiskChange = z.infer<typeof CheckpointDiskChangeSchema>;

export const CheckpointChangeSchema = z.object({
  disks: z.array(CheckpointDiskChangeSchema),
  /**
   * The counts cover only part of the interval (the recovery agent restarted within it), or
   * turned-high may be undercounted (its memory of earlier blocks was lost in a crash).
   */
  partial: z.literal(true).optional(),
});
export type CheckpointChange = z.infer<typeof CheckpointChangeSchema>;

export const CheckpointInfoSchema = z.object({
  vpgId: IdSchema,
  seq: z.number().int().positive(),
  /** Source time of the checkpoint: what the recovered VMs will have seen last. */
  sourceTime: z.number().int(),
  name: z.string().optional(),
  /** Taken during initial sync or a resync: not offered for recovery. */
  inconsistent: z.boolean().optional(),
  /** Persisted at the recovery site. */
  confirmed: z.boolean(),
  /** The last test failover at this checkpoint ("Tested at …"). */
  tested: CheckpointTestSchema.optional(),
  /** The writes since the previous checkpoint (recovery site; absent where not measured). */
  change: CheckpointChangeSchema.optional(),
});
export type CheckpointInfo = z.infer<typeof CheckpointInfoSchema>;

/** One second of a VPG's replication, pushed to consoles as `rpo.tick`. */
export const RpoTickSchema = z.object({
  vpgId: IdSchema,
  time: z.number().int(),
  /** Seconds; absent until the first checkpoint reaches the recovery site. */
  rpoSeconds: z.number().nonnegative().optional(),
  rpoTargetSeconds: z.number().int().positive(),
  writtenBytesPerSecond: z.number().nonnegative(),
  sentBytesPerSecond: z.number().nonnegative(),
  backlogBytes: z.number().int().nonnegative(),
  journalBytes: z.number().int().nonnegative(),
  journalHardLimitBytes: z.number().int().positive(),
  status: VpgStatusSchema,
});
export type RpoTick = z.infer<typeof RpoTickSchema>;
