import { TidelineError } from '../../app/errors';
import { VpgSettingsSchema, type MetadataPackage, type VpgSettings } from '../../app/protocol';
import type { StoredVpg } from '../replication/vpg-store';
import type { FailoverRecord } from './failover-store';

/**
 * vpg.settingsForReverse: protect the recovered VMs back toward the original site. The
 * original VMs' disks (off there after a move, or stale after a live failover) are the
 * pre-seeded replicas, so the initial sync is a hash-compared delta, not a full copy; the
 * recovery host and datastore are those the original VMs ran on.
 */
export function reverseSettings(
  vpg: StoredVpg,
  metadata: MetadataPackage,
  record: Pick<FailoverRecord, 'vms' | 'disks'>,
): VpgSettings {
  const vmIds = record.vms.flatMap((v) => (v.vmId === undefined ? [] : [v.vmId]));
  if (vmIds.length !== record.vms.length) {
    throw new TidelineError(
      'CONFLICT',
      `Not every VM of VPG "${vpg.name}" is up at this site yet: reverse protection needs them all`,
    );
  }
  const original = metadata.vms.filter((v) => vpg.vmIds.includes(v.vmId));
  const first = original[0];
  const datastore = first?.disks[0]?.datastore;
  if (first === undefined || datastore === undefined) {
    throw new TidelineError(
      'CONFLICT',
      `The metadata package of VPG "${vpg.name}" does not describe its VMs' host and datastore`,
    );
  }
  const preseededReplicas = record.disks.map((disk) => {
    const source = original.flatMap((v) => v.disks).find((d) => d.diskId === disk.sourceDiskId);
    if (source === undefined) {
      throw new TidelineError(
        'CONFLICT',
        `The metadata package of VPG "${vpg.name}" does not describe disk ${disk.sourceDiskId}`,
      );
    }
    return { diskId: disk.diskId, path: source.location };
  });
  return VpgSettingsSchema.parse({
    name: `${vpg.name} (reverse)`.slice(0, 80),
    vmIds,
    recoverySiteId: vpg.protectedSiteId,
    recoveryHostId: first.hostId,
    recoveryDatastore: datastore,
    journal: vpg.journal,
    checkpointIntervalMs: vpg.checkpointIntervalMs,
    rpoTargetSeconds: vpg.rpoTargetSeconds,
    preseededReplicas,
  });
}

/** Settings given for the VMs as they were before their switch to the promoted disks. */
export function remapVmIds(settings: VpgSettings, ids: ReadonlyMap<string, string>): VpgSettings {
  const map = (id: string): string => ids.get(id) ?? id;
  return {
    ...settings,
    vmIds: settings.vmIds.map(map),
    ...(settings.recovery !== undefined && {
      recovery: { vms: settings.recovery.vms.map((v) => ({ ...v, vmId: map(v.vmId) })) },
    }),
  };
}
