import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TidelineError } from '../../app/errors';
import type { Vpg, VpgDisk } from '../../app/protocol';
import type { RetiredDisk, StoredVpg } from './vpg-store';

/**
 * The recovery site's side of vpg.update / addVm / removeVm: what configuration a target VPG
 * takes from a vpg.prepare of its protected site, and whether its journal must be reopened.
 * The protected site's configuration is the truth; the recovery site mirrors it.
 */

/**
 * The target configuration for `vpg` as the protected site sent it. Retired disks are kept
 * only while records for them may still arrive (`untilSeq` above what the journal holds).
 */
export function targetConfig(
  existing: StoredVpg,
  vpg: Vpg,
  retired: readonly RetiredDisk[] | undefined,
  position: number,
): StoredVpg {
  if (
    vpg.recoverySiteId !== existing.recoverySiteId ||
    vpg.recoveryHostId !== existing.recoveryHostId ||
    vpg.recoveryDatastore !== existing.recoveryDatastore
  ) {
    throw new TidelineError(
      'CONFLICT',
      `VPG ${vpg.vpgId} is received on host ${existing.recoveryHostId}, datastore ${existing.recoveryDatastore}: its placement cannot change`,
    );
  }
  const keep = (retired ?? []).filter(
    (d) => d.untilSeq > position && !vpg.disks.some((x) => x.diskId === d.diskId),
  );
  return {
    ...vpg,
    status: existing.status,
    role: 'target',
    peerAgentId: existing.peerAgentId,
    ...(existing.replicaDir !== undefined && { replicaDir: existing.replicaDir }),
    ...(keep.length > 0 && { retiredDisks: keep }),
  };
}

/** Whether two target configurations differ at all (status aside). */
export function sameConfig(a: StoredVpg, b: StoredVpg): boolean {
  return JSON.stringify(projection(a)) === JSON.stringify(projection(b));
}

/** Whether the journal must be reopened: its disks or its settings changed. */
export function journalChanged(a: StoredVpg, b: StoredVpg): boolean {
  const journal = (v: StoredVpg) => ({
    disks: journalDisks(v).map((d) => [d.diskId, d.sizeBytes]),
    historySeconds: v.journal.historySeconds,
    hardLimitBytes: v.journal.hardLimitBytes,
    warningBytes: v.journal.warningBytes,
  });
  return JSON.stringify(journal(a)) !== JSON.stringify(journal(b));
}

/** Disks the journal of `before` had and that of `after` has not: their replicas go. */
export function droppedDisks(before: StoredVpg, after: StoredVpg): VpgDisk[] {
  const kept = new Set(journalDisks(after).map((d) => d.diskId));
  return journalDisks(before).filter((d) => !kept.has(d.diskId));
}

/** Disks the journal of `after` has and that of `before` had not: they need a replica. */
export function addedDisks(before: StoredVpg, after: StoredVpg): VpgDisk[] {
  return droppedDisks(after, before);
}

/**
 * An empty (sparse) replica for a disk that joins the VPG: it had no record before, so zeros
 * are its image as of the journal's applied point. Created here because the journal refuses
 * a missing replica once records were applied. An existing one (a disk still retired) stays.
 */
export async function createReplica(path: string, sizeBytes: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  try {
    await handle.truncate(sizeBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether a retired disk's last record is in (`position`): the journal can let it go. */
export function retirable(vpg: StoredVpg, position: number): boolean {
  return vpg.retiredDisks?.some((d) => d.untilSeq <= position) === true;
}

function journalDisks(vpg: StoredVpg): VpgDisk[] {
  return [...vpg.disks, ...(vpg.retiredDisks ?? [])].map((d) => ({
    vmId: d.vmId,
    diskId: d.diskId,
    sizeBytes: d.sizeBytes,
  }));
}

function projection(v: StoredVpg) {
  return {
    version: v.version,
    name: v.name,
    vmIds: v.vmIds,
    journal: [v.journal.historySeconds, v.journal.hardLimitBytes, v.journal.warningBytes],
    checkpointIntervalMs: v.checkpointIntervalMs,
    rpoTargetSeconds: v.rpoTargetSeconds,
    disks: journalDisks(v),
    retired: (v.retiredDisks ?? []).map((d) => [d.diskId, d.untilSeq]),
  };
}
