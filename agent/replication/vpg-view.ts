import type { Vpg, VpgState } from '../../app/protocol';
import type { RetiredDisk, StoredVpg } from './vpg-store';

/** The protocol's Vpg of a stored VPG (the strict schemas refuse this agent's own fields). */
export function publicVpg(vpg: StoredVpg): Vpg {
  return {
    vpgId: vpg.vpgId,
    name: vpg.name,
    vmIds: [...vpg.vmIds],
    protectedSiteId: vpg.protectedSiteId,
    recoverySiteId: vpg.recoverySiteId,
    recoveryHostId: vpg.recoveryHostId,
    recoveryDatastore: vpg.recoveryDatastore,
    journal: { ...vpg.journal },
    checkpointIntervalMs: vpg.checkpointIntervalMs,
    rpoTargetSeconds: vpg.rpoTargetSeconds,
    disks: vpg.disks.map((d) => ({ ...d })),
    status: vpg.status,
    createdAt: vpg.createdAt,
    version: vpg.version,
    ...(vpg.preseededReplicas !== undefined && {
      preseededReplicas: vpg.preseededReplicas.map((r) => ({ ...r })),
    }),
    ...(vpg.recovery !== undefined && { recovery: structuredClone(vpg.recovery) }),
  };
}

/** vpg.prepare's params: the configuration the recovery site must have. */
export function prepareParams(vpg: StoredVpg): { vpg: Vpg; retiredDisks?: RetiredDisk[] } {
  return {
    vpg: publicVpg(vpg),
    ...(vpg.retiredDisks !== undefined && {
      retiredDisks: vpg.retiredDisks.map((d) => ({ ...d })),
    }),
  };
}

/** The state of a VPG that cannot run on this agent (its source or journal did not open). */
export function brokenState(vpg: StoredVpg, message: string): VpgState {
  return {
    ...publicVpg(vpg),
    status: 'Error',
    role: vpg.role,
    statusMessage: message,
    backlogBytes: 0,
    journalBytes: 0,
    lastSeq: 0,
    confirmedSeq: 0,
  };
}
