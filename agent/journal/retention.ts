import type { CheckpointInfo } from './state-files';

export interface SegmentExtent {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly bytes: number;
}

export interface RetentionPlan {
  /** Apply up to here to honour the history window (undefined: nothing to apply). */
  readonly windowSeq: number | undefined;
  /** Apply up to here to get under the hard limit (undefined: under it already). */
  readonly limitSeq: number | undefined;
  /** Journal bytes once the plan is carried out. */
  readonly bytesAfter: number;
}

/**
 * What enforceRetention must apply, decided without I/O.
 *
 * Window: the newest checkpoint older than `cutoff` (by source time) becomes the oldest point,
 * so the history still starts at a checkpoint: the replica is the view at that checkpoint.
 * Limit: if the segments that would remain exceed `hardLimitBytes`, the oldest segments are
 * applied whole (a partly applied segment frees nothing) until the rest fits.
 */
export function planRetention(input: {
  readonly segments: readonly SegmentExtent[];
  readonly checkpoints: readonly CheckpointInfo[];
  readonly appliedSeq: number;
  readonly cutoff: number;
  readonly hardLimitBytes: number;
}): RetentionPlan {
  const { segments, checkpoints, appliedSeq, cutoff, hardLimitBytes } = input;
  let windowSeq: number | undefined;
  for (const c of checkpoints) {
    if (c.sourceTime >= cutoff) break;
    if (c.seq > appliedSeq) windowSeq = c.seq;
  }
  const applied = windowSeq ?? appliedSeq;
  let bytes = 0;
  for (const s of segments) if (s.lastSeq > applied) bytes += s.bytes;
  let limitSeq: number | undefined;
  for (const s of segments) {
    if (bytes <= hardLimitBytes) break;
    if (s.lastSeq <= applied) continue;
    bytes -= s.bytes;
    limitSeq = s.lastSeq;
  }
  return { windowSeq, limitSeq, bytesAfter: bytes };
}
