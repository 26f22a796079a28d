import { TidelineError, type ErrorCodeName, type ErrorData } from '../../app/errors';

/**
 * Why the journal refused something. `code` (inherited) is the product-wide error code that a
 * console or peer sees; `reason` tells journal callers apart without parsing messages.
 */
export type JournalErrorReason =
  | 'gap'
  | 'bad-record'
  | 'bad-range'
  | 'corrupt'
  | 'locked'
  | 'closed'
  | 'failed'
  | 'disk-full'
  | 'bad-config'
  | 'unknown-disk'
  | 'unknown-checkpoint'
  | 'checkpoint-applied'
  | 'checkpoint-inconsistent';

export class JournalError extends TidelineError {
  constructor(
    readonly reason: JournalErrorReason,
    code: ErrorCodeName,
    message: string,
    data?: ErrorData,
  ) {
    super(code, message, data);
    this.name = 'JournalError';
  }
}

/** A record that does not continue the sequence: the link must resume from `expected`. */
export class JournalGapError extends JournalError {
  constructor(
    readonly vpgId: string,
    readonly expected: number,
    readonly got: number,
  ) {
    super(
      'gap',
      'CONFLICT',
      `Journal of VPG ${vpgId} expected record ${expected} but received ${got}; the source must resend from ${expected}`,
      { vpgId, expected, got },
    );
    this.name = 'JournalGapError';
  }
}

/** A record the journal cannot hold: wrong VPG, unknown disk, extent outside the disk. */
export class JournalRecordError extends JournalError {
  constructor(vpgId: string, seq: number, problem: string) {
    super('bad-record', 'INVALID_PARAMS', `Record ${seq} of VPG ${vpgId} refused: ${problem}`, {
      vpgId,
      seq,
    });
    this.name = 'JournalRecordError';
  }
}

/** A read outside the disk, or larger than readAt serves. */
export class JournalRangeError extends JournalError {
  constructor(vpgId: string, diskId: string, offset: number, length: number, sizeBytes: number) {
    super(
      'bad-range',
      'INVALID_PARAMS',
      `Cannot read ${length} bytes at ${offset} of disk ${diskId} of VPG ${vpgId} (${sizeBytes} bytes); reads must lie inside the disk and be at most 64 MiB`,
      { vpgId, diskId, offset, length },
    );
    this.name = 'JournalRangeError';
  }
}

/**
 * A segment that fails its checks anywhere but the tail of the last segment: records that were
 * acknowledged are damaged, so the VPG must go to Error rather than silently lose history.
 */
export class JournalCorruptError extends JournalError {
  constructor(
    readonly vpgId: string,
    readonly file: string,
    readonly position: number,
    detail: string,
  ) {
    super(
      'corrupt',
      'INTERNAL_ERROR',
      `Journal of VPG ${vpgId} is damaged in ${file} at byte ${position}: ${detail}. The VPG needs a resync (or restore the file from a backup).`,
      { vpgId, file, position },
    );
    this.name = 'JournalCorruptError';
  }
}

/** Another process (the agent, or an export) has this journal open. */
export class JournalLockedError extends JournalError {
  constructor(
    readonly lockFile: string,
    readonly holder: string,
  ) {
    super(
      'locked',
      'UNAVAILABLE',
      `The journal is in use by ${holder} (lock ${lockFile}). Stop the agent that serves this VPG (or wait for the other export) and try again.`,
      { lockFile },
    );
    this.name = 'JournalLockedError';
  }
}

export class JournalClosedError extends JournalError {
  constructor(vpgId: string) {
    super('closed', 'UNAVAILABLE', `Journal of VPG ${vpgId} is closed`, { vpgId });
    this.name = 'JournalClosedError';
  }
}

/**
 * A write or fdatasync of the journal failed. After a failed fdatasync the kernel may have
 * dropped the dirty pages, so the journal refuses further work until it is reopened (which
 * rescans the files and cuts whatever did not reach the disk).
 */
export class JournalFailedError extends JournalError {
  constructor(vpgId: string, cause: unknown) {
    super(
      'failed',
      'UNAVAILABLE',
      `Journal of VPG ${vpgId} stopped after a write error (${cause instanceof Error ? cause.message : String(cause)}); it must be reopened`,
      { vpgId },
    );
    this.name = 'JournalFailedError';
  }
}

/**
 * The journal's file system is full (ENOSPC, EDQUOT): the batch was undone, nothing else
 * changed, and the same records can be appended again once there is space.
 */
export class JournalDiskFullError extends JournalError {
  constructor(
    vpgId: string,
    readonly dir: string,
  ) {
    super(
      'disk-full',
      'UNAVAILABLE',
      `The disk of the journal of VPG ${vpgId} is full (${dir}): replication of the VPG is paused until space is freed there`,
      { vpgId, dir },
    );
    this.name = 'JournalDiskFullError';
  }
}

export class JournalConfigError extends JournalError {
  constructor(message: string, data?: ErrorData) {
    super('bad-config', 'INVALID_PARAMS', message, data);
    this.name = 'JournalConfigError';
  }
}

export class UnknownDiskError extends JournalError {
  constructor(vpgId: string, diskId: string, known: readonly string[]) {
    super(
      'unknown-disk',
      'NOT_FOUND',
      `VPG ${vpgId} has no disk "${diskId}"; its disks are: ${known.join(', ') || '(none)'}`,
      { vpgId, diskId },
    );
    this.name = 'UnknownDiskError';
  }
}

export class UnknownCheckpointError extends JournalError {
  constructor(vpgId: string, checkpoint: string) {
    super(
      'unknown-checkpoint',
      'NOT_FOUND',
      `VPG ${vpgId} has no checkpoint ${checkpoint} in its journal; list the checkpoints to choose one`,
      { vpgId, checkpoint },
    );
    this.name = 'UnknownCheckpointError';
  }
}

/** The checkpoint left the history window: the replica already holds later writes. */
export class CheckpointAppliedError extends JournalError {
  constructor(vpgId: string, seq: number, appliedSeq: number) {
    super(
      'checkpoint-applied',
      'CONFLICT',
      `Checkpoint ${seq} of VPG ${vpgId} is older than the journal's history (the replica holds everything up to record ${appliedSeq}); choose a newer checkpoint`,
      { vpgId, seq, appliedSeq },
    );
    this.name = 'CheckpointAppliedError';
  }
}

export class InconsistentCheckpointError extends JournalError {
  constructor(vpgId: string, seq: number) {
    super(
      'checkpoint-inconsistent',
      'CONFLICT',
      `Checkpoint ${seq} of VPG ${vpgId} was taken during an initial sync or resync and is not crash-consistent; choose a later checkpoint`,
      { vpgId, seq },
    );
    this.name = 'InconsistentCheckpointError';
  }
}
