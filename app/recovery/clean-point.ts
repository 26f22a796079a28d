import type { CheckpointInfo } from '../vpg/vpg-schemas';

/**
 * "Find the last clean point": a bisection over a VPG's checkpoints that keeps no state of its
 * own. Its state is the checkpoints' test marks (CheckpointInfo.tested, recorded at the
 * recovery site when a test failover is stopped with a verdict), so the search survives a
 * console restart and two admins see the same one. Pure: the console draws what it returns.
 *
 * Within the range the admin chose, the last checkpoint marked Passed (clean) and the first
 * after it marked Failed (not clean) bound the search; the untested ones between them are
 * unknown, and the next candidate is one of them, chosen so that every test at least halves
 * the worst case: a search of n checkpoints ends within ⌈log2(n + 1)⌉ tests.
 */

/** The checkpoints a search covers, by seq, both ends included; absent: the oldest/newest held. */
export interface CleanPointRange {
  readonly fromSeq?: number | undefined;
  readonly toSeq?: number | undefined;
}

/** A checkpoint's change figures summed over its disks (undefined: none measured). */
export interface ChangeTotals {
  readonly writtenBytes: number;
  readonly writtenBlocks: number;
  readonly highEntropyBlocks: number;
  readonly turnedHighBlocks: number;
  /** The counts cover only part of the interval (see CheckpointChangeSchema). */
  readonly partial: boolean;
}

/** How the candidate was chosen: the middle of the unknown ones, or near the change signal's rise. */
export type CandidateReason = 'middle' | 'signal';

export interface CleanPointSearch {
  /** What the search covers: consistent checkpoints held at the recovery site, in range, oldest first. */
  readonly checkpoints: readonly CheckpointInfo[];
  readonly bounds: {
    /** The last checkpoint in range marked clean. */
    readonly clean: CheckpointInfo | undefined;
    /** The first checkpoint after it marked not clean. */
    readonly notClean: CheckpointInfo | undefined;
  };
  /** Untested checkpoints between the bounds. */
  readonly unknown: number;
  /** The checkpoint to test next; undefined once done. */
  readonly candidate: CheckpointInfo | undefined;
  readonly reason: CandidateReason | undefined;
  /**
   * Where the turned-high blocks rise between the bounds (the first checkpoint whose writes
   * turned at least half as many blocks high as the most any did), when figures show any.
   */
  readonly rise: CheckpointInfo | undefined;
  /** Set once nothing is left between the bounds; lastClean undefined: nothing in range was clean. */
  readonly done: { readonly lastClean: CheckpointInfo | undefined } | undefined;
  /** At most this many more tests. */
  readonly testsLeft: number;
  /** Marked not clean before a checkpoint marked clean: the search trusts the later clean mark. */
  readonly contradicted: readonly CheckpointInfo[];
}

/** Sums a checkpoint's per-disk figures. */
export function changeTotals(checkpoint: Pick<CheckpointInfo, 'change'>): ChangeTotals | undefined {
  const change = checkpoint.change;
  if (change === undefined) return undefined;
  let writtenBytes = 0;
  let writtenBlocks = 0;
  let highEntropyBlocks = 0;
  let turnedHighBlocks = 0;
  for (const disk of change.disks) {
    writtenBytes += disk.writtenBytes;
    writtenBlocks += disk.writtenBlocks;
    highEntropyBlocks += disk.highEntropyBlocks;
    turnedHighBlocks += disk.turnedHighBlocks;
  }
  return {
    writtenBytes,
    writtenBlocks,
    highEntropyBlocks,
    turnedHighBlocks,
    partial: change.partial === true,
  };
}

/** Checkpoints a failover can use: persisted at the recovery site and consistent, oldest first. */
export function searchableCheckpoints(
  checkpoints: readonly CheckpointInfo[],
  range: CleanPointRange = {},
): CheckpointInfo[] {
  const ends = [range.fromSeq ?? -Infinity, range.toSeq ?? Infinity];
  const from = Math.min(...ends);
  const to = Math.max(...ends);
  return checkpoints
    .filter((c) => c.confirmed && c.inconsistent !== true && c.seq >= from && c.seq <= to)
    .sort((a, b) => a.seq - b.seq);
}

/** The worst-case number of tests that settles `unknown` checkpoints: ⌈log2(unknown + 1)⌉. */
export function testsFor(unknown: number): number {
  return unknown <= 0 ? 0 : Math.ceil(Math.log2(unknown + 1));
}

/** Where the search stands, and what to test next. */
export function cleanPointSearch(
  checkpoints: readonly CheckpointInfo[],
  range: CleanPointRange = {},
): CleanPointSearch {
  const list = searchableCheckpoints(checkpoints, range);
  // lo, hi: indexes of the bounds; -1 and list.length stand for "none" (virtual ends).
  let lo = -1;
  for (const [i, c] of list.entries()) if (c.tested?.result === 'Passed') lo = i;
  let hi = list.length;
  for (let i = lo + 1; i < list.length; i += 1) {
    if (list[i]?.tested?.result === 'Failed') {
      hi = i;
      break;
    }
  }
  const contradicted = list.slice(0, Math.max(lo, 0)).filter((c) => c.tested?.result === 'Failed');
  const bounds = { clean: list[lo], notClean: list[hi] };
  // Every checkpoint strictly between the bounds is untested: a Passed one would be a later
  // lo, a Failed one an earlier hi.
  const unknown = hi - lo - 1;
  if (unknown === 0) {
    return {
      checkpoints: list,
      bounds,
      unknown,
      candidate: undefined,
      reason: undefined,
      rise: undefined,
      done: { lastClean: bounds.clean },
      testsLeft: 0,
      contradicted,
    };
  }
  const testsLeft = testsFor(unknown);
  // Either side of the candidate must be settled in testsLeft - 1 tests: this is the window
  // of candidates that keeps the worst case (the signal may move the pick within it only).
  const half = 2 ** (testsLeft - 1) - 1;
  const first = Math.max(lo + 1, hi - 1 - half);
  const last = Math.min(hi - 1, lo + 1 + half);
  const riseIndex = signalRise(list, lo, hi);
  const preferred = riseIndex === undefined ? Math.floor((lo + hi) / 2) : riseIndex - 1;
  const pick = Math.min(last, Math.max(first, preferred));
  return {
    checkpoints: list,
    bounds,
    unknown,
    candidate: list[pick],
    reason: riseIndex === undefined ? 'middle' : 'signal',
    rise: riseIndex === undefined ? undefined : list[riseIndex],
    done: undefined,
    testsLeft,
    contradicted,
  };
}

/**
 * The index of the first checkpoint in (lo, hi] (hi itself when it is a real checkpoint: its
 * writes happened before it, after the last unknown) whose turned-high count is at least half
 * the largest there; undefined when no figures there show any turned-high block. Testing the
 * checkpoint just before it splits the search where the data most likely started to change.
 */
function signalRise(list: readonly CheckpointInfo[], lo: number, hi: number): number | undefined {
  const end = Math.min(hi, list.length - 1);
  let most = 0;
  for (let i = lo + 1; i <= end; i += 1) {
    most = Math.max(most, changeTotals(list[i]!)?.turnedHighBlocks ?? 0);
  }
  if (most === 0) return undefined;
  for (let i = lo + 1; i <= end; i += 1) {
    if ((changeTotals(list[i]!)?.turnedHighBlocks ?? 0) * 2 >= most) return i;
  }
  return undefined;
}
