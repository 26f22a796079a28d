import type { MetadataPackage } from '../../app/protocol';
import type { ExportBackend } from '../nbd/exports';

/**
 * The interfaces between the recovery parts (README.md): recovery disks, the metadata store
 * and the failover orchestration use each other only through these.
 */

/** One disk of a VPG to recover, and the id its recovered copy is known by. */
export interface RecoveryDiskSpec {
  /** The protected disk (the journal's disk id). */
  readonly sourceDiskId: string;
  /** The recovered disk's id (NBD export name, the recovered VM's disk id). */
  readonly diskId: string;
  readonly sizeBytes: number;
}

/** A recovered disk: reads through the view at the checkpoint, writes into the overlay. */
export interface RecoveryDisk extends ExportBackend {
  readonly diskId: string;
  readonly sourceDiskId: string;
  readonly size: number;
}

export interface PromoteProgress {
  readonly doneBytes: number;
  readonly totalBytes: number;
}

/** The recovered disks of one failover (one VPG, one checkpoint). */
export interface RecoveryDiskSet {
  readonly failoverId: string;
  readonly vpgId: string;
  readonly checkpointSeq: number;
  readonly disks: readonly RecoveryDisk[];
  /**
   * Deletes the overlays and releases the pin (stopTest, rollback). Idempotent. CONFLICT once
   * promotion has started (the replicas already hold recovered data).
   */
  discard(): Promise<void>;
  /**
   * Commit: writes the view and the overlay into the replica files while the disks stay in
   * use; afterwards each disk reads and writes its replica file directly. Resumable: after a
   * failure or a restart (open again with the same failoverId), call it again. It leaves the
   * VPG's journal frozen (a pin at its appliedSeq, never released): its records must never be
   * applied over the recovered data, so the journal is dropped, not resumed.
   */
  promote(onProgress?: (progress: PromoteProgress) => void): Promise<void>;
  /** Closes files, keeps overlays and the pin's record (agent stop; reopened at start). */
  close(): Promise<void>;
}

export interface RecoveryDiskOpenParams {
  readonly failoverId: string;
  readonly vpgId: string;
  readonly checkpointSeq: number;
  readonly disks: readonly RecoveryDiskSpec[];
}

/** Opens recovery disk sets over the target side's journals and serves them over NBD. */
export interface RecoveryDisks {
  open(params: RecoveryDiskOpenParams): Promise<RecoveryDiskSet>;
  /** The NBD URI of an open recovery disk (what a hypervisor attaches). */
  exportUri(diskId: string): string | undefined;
}

/** The recovery site's copy of each VPG's latest metadata package. */
export interface MetadataStore {
  /** undefined when none arrived yet (the VPG is then MissingConfiguration). */
  latest(vpgId: string): MetadataPackage | undefined;
}
