import type { ExportProgress } from './export';
import type { TailCut } from './recover';

export interface JournalUsage {
  /** Bytes of all segment files (applied records of a partly applied segment included). */
  readonly bytes: number;
  readonly segments: number;
  /** Source time of the oldest recoverable point (oldest retained checkpoint). */
  readonly oldestSourceTime: number | undefined;
  /** Source time of the newest record in the journal. */
  readonly newestSourceTime: number | undefined;
  readonly hardLimitBytes: number;
  readonly warningBytes: number;
  readonly lastSeq: number;
  readonly appliedSeq: number;
}

export interface HistoryReducedEvent {
  readonly vpgId: string;
  /** The replica now holds everything up to here. */
  readonly appliedSeq: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly hardLimitBytes: number;
  /** The oldest point still recoverable, if any checkpoint is left. */
  readonly oldestSourceTime: number | undefined;
}

/** Retention wanted to apply past a pin (an open recovery disk) and stopped at it. */
export interface PinHoldEvent {
  readonly vpgId: string;
  readonly pinSeq: number;
  readonly wantedSeq: number;
  /** The hard limit wanted it: the journal stays over its limit while the pin holds. */
  readonly overHardLimit: boolean;
  readonly bytes: number;
  readonly hardLimitBytes: number;
}

export interface SizeEvent {
  readonly vpgId: string;
  readonly bytes: number;
  readonly warningBytes: number;
}

/**
 * Events broadcast state for alerts and the console; they drive nothing inside the journal.
 * size-warning / size-normal fire when usage crosses warningBytes (evaluated by
 * enforceRetention), history-reduced when the hard limit forced history out early.
 */
export type JournalEventMap = {
  'history-reduced': [HistoryReducedEvent];
  'size-warning': [SizeEvent];
  'size-normal': [SizeEvent];
  'pin-held': [PinHoldEvent];
};

export interface RetentionResult {
  readonly appliedSeq: number;
  readonly historyReduced: HistoryReducedEvent | undefined;
  /** Apply stopped at a pin short of what the window or the hard limit wanted. */
  readonly heldByPin?: PinHoldEvent;
  /** Usage is above warningBytes. */
  readonly sizeWarning: boolean;
  readonly usage: JournalUsage;
}

/** What open() found and repaired. */
export interface RecoveryReport {
  readonly tailCut: TailCut | undefined;
  /** Fully applied segments deleted at open (a crash came between apply and release). */
  readonly releasedSegments: number;
  /** An apply interrupted by a crash that open() completed. */
  readonly finishedApplyTo: number | undefined;
}

export interface ViewOptions {
  /** Serve a checkpoint taken during initial sync or a resync (not crash-consistent). */
  readonly allowInconsistent?: boolean;
}

export interface ExportOptions extends ViewOptions {
  readonly onProgress?: (progress: ExportProgress) => void;
  /** Compute the SHA-256 of the image while writing it. */
  readonly sha256?: boolean;
}
