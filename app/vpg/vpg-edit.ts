import { z } from 'zod';
import { VpgRecoverySettingsSchema, type VpgRecoverySettings } from '../recovery/recovery-schemas';
import { canonical } from '../canonical-json';
import { JournalSettingsSchema, VpgSettingsSchema, type Vpg } from './vpg-schemas';

/**
 * One edit of a VPG as the admin saves it: the VMs it should protect and the settings it
 * should have. The console runs it as the agent calls that make it so (vpg.removeVm,
 * vpg.addVm, then vpg.update or vpg.forceUpdate), each with the version the last returned, so
 * a VPG changed by someone else meanwhile is refused rather than overwritten.
 */
export const VpgEditSchema = z.strictObject({
  /** The VMs the VPG protects after the edit (of its protected site). */
  vmIds: z.array(z.string()).min(1, 'a VPG protects at least one VM').max(500).optional(),
  name: VpgSettingsSchema.shape.name.optional(),
  journal: JournalSettingsSchema.optional(),
  checkpointIntervalMs: z.number().int().min(1_000).max(3_600_000).optional(),
  rpoTargetSeconds: z
    .number()
    .int()
    .positive()
    .max(24 * 3600)
    .optional(),
  recovery: VpgRecoverySettingsSchema.optional(),
});
export type VpgEdit = z.input<typeof VpgEditSchema>;

/** The settings vpg.update takes, of an edit, with only what differs from the VPG. */
export interface VpgEditPlan {
  readonly removeVmIds: readonly string[];
  readonly addVmIds: readonly string[];
  /** Undefined: no setting changes. */
  readonly patch:
    | {
        name?: string;
        journal?: Vpg['journal'];
        checkpointIntervalMs?: number;
        rpoTargetSeconds?: number;
        recovery?: VpgRecoverySettings;
      }
    | undefined;
}

/**
 * What an edit changes of a VPG. Pure: the console runs the plan, the edit dialog shows it as
 * the diff before saving. Recovery settings compare as a whole, entries in VM order, so an
 * entry that only restates the defaults counts as no entry.
 */
export function planVpgEdit(current: Vpg, edit: z.output<typeof VpgEditSchema>): VpgEditPlan {
  const wanted = edit.vmIds ?? current.vmIds;
  const removeVmIds = current.vmIds.filter((id) => !wanted.includes(id));
  const addVmIds = wanted.filter((id) => !current.vmIds.includes(id));
  const patch: NonNullable<VpgEditPlan['patch']> = {};
  if (edit.name !== undefined && edit.name.trim() !== current.name) patch.name = edit.name.trim();
  if (edit.journal !== undefined && !sameJournal(edit.journal, current.journal))
    patch.journal = edit.journal;
  if (
    edit.checkpointIntervalMs !== undefined &&
    edit.checkpointIntervalMs !== current.checkpointIntervalMs
  )
    patch.checkpointIntervalMs = edit.checkpointIntervalMs;
  if (edit.rpoTargetSeconds !== undefined && edit.rpoTargetSeconds !== current.rpoTargetSeconds)
    patch.rpoTargetSeconds = edit.rpoTargetSeconds;
  const before = normalRecovery(current.recovery, wanted);
  if (edit.recovery !== undefined) {
    const after = normalRecovery(edit.recovery, wanted);
    if (canonical(after) !== canonical(before)) patch.recovery = after;
  } else if (removeVmIds.length > 0 && current.recovery !== undefined) {
    // Entries of VMs that leave would no longer validate: keep the others as they are.
    const kept = normalRecovery(current.recovery, wanted);
    if (kept.vms.length !== current.recovery.vms.length) patch.recovery = kept;
  }
  return {
    removeVmIds,
    addVmIds,
    patch: Object.keys(patch).length > 0 ? patch : undefined,
  };
}

/** True when the plan changes nothing. */
export function emptyPlan(plan: VpgEditPlan): boolean {
  return plan.removeVmIds.length === 0 && plan.addVmIds.length === 0 && plan.patch === undefined;
}

/**
 * Recovery settings of the given VMs only, in their order, without entries that restate the
 * defaults (group 0, no delay, no mappings).
 */
export function normalRecovery(
  recovery: VpgRecoverySettings | undefined,
  vmIds: readonly string[],
): VpgRecoverySettings {
  const byVm = new Map((recovery?.vms ?? []).map((v) => [v.vmId, v]));
  const vms = vmIds.flatMap((vmId) => {
    const entry = byVm.get(vmId);
    if (entry === undefined) return [];
    const plain =
      entry.bootGroup === 0 &&
      entry.bootDelaySeconds === 0 &&
      entry.live.length === 0 &&
      entry.test.length === 0;
    return plain ? [] : [entry];
  });
  return { vms };
}

function sameJournal(a: Vpg['journal'], b: Vpg['journal']): boolean {
  return (
    a.historySeconds === b.historySeconds &&
    a.hardLimitBytes === b.hardLimitBytes &&
    a.warningBytes === b.warningBytes
  );
}
