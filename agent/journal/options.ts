import type { StreamRecord } from '../replication/record';
import type { ReplicaDiskSpec } from './replica';
import { JournalConfigError } from './errors';
import { NO_DISK } from './record-table';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** Structured logging the journal needs (a pino Logger fits). */
export interface JournalLog {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface JournalOptions {
  /** The VPG's journal directory, `<dataDir>/journal/<vpgId>/`. */
  readonly dir: string;
  readonly vpgId: string;
  readonly disks: readonly ReplicaDiskSpec[];
  /** A segment is rolled once the next record would take it past this (default 64 MiB). */
  readonly segmentBytes?: number;
  /** History window: records older than this (by source time) are applied to the replica. */
  readonly historyMs: number;
  /** Past this many journal bytes the oldest history is applied early (history-reduced). */
  readonly hardLimitBytes: number;
  /** Past this many journal bytes usage is reported as a warning (size-warning). */
  readonly warningBytes: number;
  readonly now?: () => number;
  readonly log?: JournalLog;
  /**
   * Each appended batch's new records, in seq order, once durable and visible (duplicates of a
   * resend excluded): for measurements of what arrives (replication/change-signal.ts). Called
   * under the append lock, synchronously: it must be quick and keep no record's data.
   */
  readonly onAppended?: (records: readonly StreamRecord[]) => void;
}

/** Refuses options the journal cannot work with, before any file is touched. */
export function validateOptions(options: JournalOptions): void {
  const bad = (what: string): never => {
    throw new JournalConfigError(`Journal of VPG ${options.vpgId}: ${what}`, {
      vpgId: options.vpgId,
    });
  };
  if (options.vpgId === '') bad('the VPG id is empty');
  const size = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  if (!Number.isSafeInteger(size) || size < 4096) bad('segmentBytes must be at least 4096');
  for (const [name, value] of [
    ['historyMs', options.historyMs],
    ['hardLimitBytes', options.hardLimitBytes],
    ['warningBytes', options.warningBytes],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) bad(`${name} must be a finite number >= 0`);
  }
  if (options.disks.length >= NO_DISK) bad('too many disks');
  const ids = new Set<string>();
  for (const d of options.disks) {
    if (d.diskId === '' || ids.has(d.diskId)) bad(`disk id "${d.diskId}" is empty or repeated`);
    ids.add(d.diskId);
    if (!Number.isSafeInteger(d.sizeBytes) || d.sizeBytes < 0)
      bad(`disk ${d.diskId} has a bad size`);
  }
}
