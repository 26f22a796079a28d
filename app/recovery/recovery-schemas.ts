import { z } from 'zod';
import { IdSchema } from '../protocol/common';
import { VmSchema } from '../protocol/inventory';

/**
 * Recovery: what a VPG needs to be brought up at its recovery site (per-VM boot order and NIC
 * mappings, held in the VPG's settings), what the protected site captures to rebuild its VMs
 * (the metadata package, kept beside the journal), and the failover operations.
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const Ipv4Schema = z.string().regex(IPV4, 'must be an IPv4 address, e.g. 10.20.0.15');

export const NetworkNameSchema = z
  .string()
  .trim()
  .min(1, 'give a network name')
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" and "-" only');

/** keep: the address the VM had at the protected site; dhcp; or a static address. */
export const IpSettingsSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('keep') }),
  z.strictObject({ mode: z.literal('dhcp') }),
  z.strictObject({
    mode: z.literal('static'),
    address: Ipv4Schema,
    prefixLength: z.number().int().min(1).max(32),
    gateway: Ipv4Schema.optional(),
    dns: z.array(Ipv4Schema).max(4).default([]),
  }),
]);
export type IpSettings = z.infer<typeof IpSettingsSchema>;

/** Where one NIC of a VM lands at the recovery site. */
export const NicMappingSchema = z.strictObject({
  /** The NIC's name at the protected site (VmSchema.nics[].name). */
  nicName: z.string().trim().min(1).max(64),
  network: NetworkNameSchema,
  ip: IpSettingsSchema.default({ mode: 'keep' }),
});
export type NicMapping = z.infer<typeof NicMappingSchema>;

export const BootGroupSchema = z.number().int().min(0).max(99);

/**
 * One VM's recovery settings. VMs power on by ascending bootGroup, a group all at once; the
 * next group starts once every VM of this group is on and the group's delay (the longest
 * bootDelaySeconds of its VMs) has passed. NICs without a mapping keep their network's name
 * (live) or go to an isolated `<network>-test` network (test).
 */
export const VmRecoverySettingsSchema = z.strictObject({
  vmId: IdSchema,
  bootGroup: BootGroupSchema.default(0),
  bootDelaySeconds: z.number().int().min(0).max(3600).default(0),
  live: z.array(NicMappingSchema).max(32).default([]),
  test: z.array(NicMappingSchema).max(32).default([]),
});
export type VmRecoverySettings = z.infer<typeof VmRecoverySettingsSchema>;
export type VmRecoverySettingsInput = z.input<typeof VmRecoverySettingsSchema>;

export const VpgRecoverySettingsSchema = z.strictObject({
  /** VMs without an entry boot in group 0 with no delay and keep their networks. */
  vms: z.array(VmRecoverySettingsSchema).max(500).default([]),
});
export type VpgRecoverySettings = z.infer<typeof VpgRecoverySettingsSchema>;

export const TEST_NETWORK_SUFFIX = '-test';

/** A network of a hypervisor: what failover maps NICs onto and creates when missing. */
export const NetworkSchema = z.object({
  name: NetworkNameSchema,
  /** No route out (test failovers): VMs on it reach only each other. */
  isolated: z.boolean(),
  /** CIDR, e.g. 10.20.0.0/24, when the hypervisor knows it. */
  subnet: z.string().max(64).optional(),
});
export type Network = z.infer<typeof NetworkSchema>;

export const METADATA_SCHEMA_VERSION = 1;

/**
 * What the protected site captures to rebuild a VPG's VMs elsewhere: their configuration
 * (CPU, memory, OS, disks, NICs with networks and addresses), the networks they use, the host
 * each ran on. Captured every few minutes and on every change; the recovery site keeps the
 * latest beside the journal. `version` increases with every capture that differs.
 */
export const MetadataPackageSchema = z.object({
  schemaVersion: z.literal(METADATA_SCHEMA_VERSION),
  vpgId: IdSchema,
  version: z.number().int().positive(),
  /** Epoch ms of the capture at the protected site. */
  capturedAt: z.number().int(),
  protectedSiteId: IdSchema,
  /** The VPG settings version the capture was taken under (recovery settings included). */
  vpgVersion: z.number().int().nonnegative(),
  vms: z.array(VmSchema),
  networks: z.array(NetworkSchema),
  hosts: z.array(z.object({ hostId: IdSchema, name: z.string() })),
});
export type MetadataPackage = z.infer<typeof MetadataPackageSchema>;

export const FailoverModeSchema = z.enum(['live', 'test', 'move']);
export type FailoverMode = z.infer<typeof FailoverModeSchema>;

/** Which checkpoint to recover at: the latest, the latest named one, or a given one. */
export const CheckpointChoiceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('latest') }),
  z.strictObject({ kind: z.literal('latestNamed') }),
  z.strictObject({ kind: z.literal('seq'), seq: z.number().int().positive() }),
]);
export type CheckpointChoice = z.infer<typeof CheckpointChoiceSchema>;

/** What happens when nobody commits or rolls back: wait, or either after a timeout. */
export const CommitPolicySchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('none') }),
  z.strictObject({
    kind: z.literal('autoCommit'),
    afterSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600),
  }),
  z.strictObject({
    kind: z.literal('autoRollback'),
    afterSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600),
  }),
]);
export type CommitPolicy = z.infer<typeof CommitPolicySchema>;

/**
 * Where a failover is. Running: the task is bringing the VMs up. BeforeCommit: up, waiting for
 * commit or rollback (live, move). Testing: a test failover is up. Promoting: committed, the
 * journal's data is being written into the replica disks under the running VMs. Ended states:
 * Committed, RolledBack, Stopped (a test), Failed.
 */
export const FailoverPhaseSchema = z.enum([
  'Running',
  'BeforeCommit',
  'Testing',
  'Committing',
  'Promoting',
  'RollingBack',
  'Stopping',
  'Committed',
  'RolledBack',
  'Stopped',
  'Failed',
]);
export type FailoverPhase = z.infer<typeof FailoverPhaseSchema>;

/** Phases in which a failover is over: a new one of its VPG may start. */
export const ENDED_FAILOVER_PHASES: readonly FailoverPhase[] = [
  'Committed',
  'RolledBack',
  'Stopped',
  'Failed',
];

/** The failover still holds its VPG (a new one is refused). */
export function isFailoverActive(phase: FailoverPhase): boolean {
  return !ENDED_FAILOVER_PHASES.includes(phase);
}

export const RecoveredVmSchema = z.object({
  /** The VM at the protected site. */
  sourceVmId: IdSchema,
  /** The VM registered at the recovery site (absent until registered). */
  vmId: IdSchema.optional(),
  name: z.string(),
  bootGroup: BootGroupSchema,
  /** Epoch ms of its power-on. */
  poweredOnAt: z.number().int().optional(),
  nics: z.array(z.object({ name: z.string(), network: NetworkNameSchema, ip: IpSettingsSchema })),
});
export type RecoveredVm = z.infer<typeof RecoveredVmSchema>;

export const TestResultSchema = z.enum(['Passed', 'Failed']);
export type TestResult = z.infer<typeof TestResultSchema>;

export const FailoverStatusSchema = z.object({
  failoverId: IdSchema,
  vpgId: IdSchema,
  vpgName: z.string(),
  mode: FailoverModeSchema,
  phase: FailoverPhaseSchema,
  /** The task that brought the VMs up; commit, rollback and stopTest run tasks of their own. */
  taskId: IdSchema,
  checkpoint: z.object({
    seq: z.number().int().positive(),
    sourceTime: z.number().int(),
    name: z.string().optional(),
  }),
  commitPolicy: CommitPolicySchema,
  /** Epoch ms when the commit policy acts (BeforeCommit with autoCommit/autoRollback). */
  commitDeadline: z.number().int().optional(),
  reverseProtection: z.boolean(),
  vms: z.array(RecoveredVmSchema),
  /** Networks the failover uses; created: made by it (a rollback or stopTest removes them). */
  networks: z.array(z.object({ name: NetworkNameSchema, created: z.boolean() })),
  startedAt: z.number().int(),
  endedAt: z.number().int().optional(),
  /** Why it failed, for the admin. */
  message: z.string().optional(),
  /**
   * Commit started writing the recovered data into the replica disks. Set for good: a
   * promotion that failed or was cut by a restart is back in BeforeCommit to be committed
   * again, and rollback is refused (the replicas no longer match the journal).
   */
  promotionStarted: z.literal(true).optional(),
});
export type FailoverStatus = z.infer<typeof FailoverStatusSchema>;

/** A test failover's verdict, recorded on its checkpoint by failover.stopTest. */
export const CheckpointTestSchema = z.object({
  /** Epoch ms the test was stopped. */
  at: z.number().int(),
  result: TestResultSchema,
  note: z.string().max(500).optional(),
});
export type CheckpointTest = z.infer<typeof CheckpointTestSchema>;
