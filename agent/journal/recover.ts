import { readdir, unlink } from 'node:fs/promises';
import type { CheckpointRecord } from '../replication/record';
import { fsyncDirectory } from '../store/atomic-file';
import { JournalCorruptError } from './errors';
import { parseSegmentFileName } from './layout';
import { addRecordRow, NO_DISK } from './record-table';
import { endsInPadding } from '../util/direct-io';
import { SegmentFile } from './segment-file';
import { scanRecords, type OnScannedRecord } from './segment-scan';
import type { CheckpointInfo } from './state-files';

export interface TailCut {
  readonly segment: string;
  /** Where the segment now ends. */
  readonly position: number;
  readonly bytesCut: number;
  readonly reason: string;
}

export interface RecoveredSegments {
  readonly segments: SegmentFile[];
  /** Checkpoint records with seq >= appliedSeq, oldest first. */
  readonly checkpoints: CheckpointInfo[];
  /** Seq of the last good record in the segments (0 when there are none). */
  readonly lastRecordSeq: number;
  readonly tailCut: TailCut | undefined;
  /** Segments found entirely applied (a crash between persisting appliedSeq and deleting). */
  readonly released: number;
  /** Records that name a disk the VPG no longer has (kept, never applied or shown). */
  readonly unknownDiskRecords: number;
}

/**
 * Scans a journal directory on open: every record of every segment still needed is decoded
 * and its checksum verified, the record tables and checkpoint list are rebuilt, and sequence
 * continuity is checked across segments. Less than a block of zeros after the last record of
 * a segment is an O_DIRECT append's padding, cut silently. A bad record at the tail of the LAST segment is a
 * write that never completed (it was not acknowledged: acknowledgements follow fdatasync), so
 * the segment is cut there. A bad record anywhere else is damage to acknowledged history:
 * JournalCorruptError.
 */
export async function recoverSegments(input: {
  readonly dir: string;
  readonly vpgId: string;
  readonly appliedSeq: number;
  readonly diskIndex: (diskId: string) => number | undefined;
}): Promise<RecoveredSegments> {
  const { dir, vpgId, appliedSeq, diskIndex } = input;
  const firstSeqs = (await readdir(dir))
    .map(parseSegmentFileName)
    .filter((seq): seq is number => seq !== undefined)
    .sort((a, b) => a - b);

  // A segment whose successor starts at or below appliedSeq + 1 holds only applied records.
  let released = 0;
  while (firstSeqs.length > 1 && (firstSeqs[1] as number) - 1 <= appliedSeq) {
    await unlink(new SegmentFile(dir, firstSeqs.shift() as number).path);
    released += 1;
  }
  if (released > 0) await fsyncDirectory(dir);

  const segments = firstSeqs.map((seq) => new SegmentFile(dir, seq));
  try {
    return await scanAll(vpgId, appliedSeq, diskIndex, segments, released, dir);
  } catch (err) {
    await Promise.all(segments.map((s) => s.close()));
    throw err;
  }
}

async function scanAll(
  vpgId: string,
  appliedSeq: number,
  diskIndex: (diskId: string) => number | undefined,
  segments: SegmentFile[],
  released: number,
  dir: string,
): Promise<RecoveredSegments> {
  const checkpoints: CheckpointInfo[] = [];
  let expected = segments[0]?.firstSeq ?? appliedSeq + 1;
  if (expected > appliedSeq + 1) {
    throw new JournalCorruptError(
      vpgId,
      segments[0]?.name ?? dir,
      0,
      `records ${appliedSeq + 1} to ${expected - 1} are missing (the replica holds up to ${appliedSeq})`,
    );
  }
  let tailCut: TailCut | undefined;
  let unknownDiskRecords = 0;
  for (const [i, segment] of segments.entries()) {
    if (segment.firstSeq !== expected) {
      throw new JournalCorruptError(
        vpgId,
        segment.name,
        0,
        `segment starts at record ${segment.firstSeq} but the previous one ends at ${expected - 1}`,
      );
    }
    const handle = await segment.file();
    const { size } = await handle.stat();
    const onRecord: OnScannedRecord = (record, position, bytes) => {
      if (record.vpgId === vpgId && record.seq < segment.firstSeq) {
        // Older than the segment: what a reused file held before (util/spare-files.ts).
        return { stopBefore: 'an older record past the last one (a reused file)' };
      }
      if (record.seq !== expected || record.vpgId !== vpgId) {
        throw new JournalCorruptError(
          vpgId,
          segment.name,
          position,
          `found record ${record.seq} of VPG ${record.vpgId} where record ${expected} of VPG ${vpgId} belongs`,
        );
      }
      let disk = NO_DISK;
      if (record.kind !== 'checkpoint') {
        disk = diskIndex(record.diskId) ?? NO_DISK;
        if (disk === NO_DISK) unknownDiskRecords += 1;
      } else if (record.seq >= appliedSeq) {
        checkpoints.push(checkpointInfo(record));
      }
      addRecordRow(segment.records, record, position, bytes, disk);
      expected += 1;
      return true;
    };
    const outcome = await scanRecords(handle, 0, size, onRecord);
    segment.bytes = outcome.end;
    if (outcome.bad === undefined) continue;
    if (await endsInPadding(handle, outcome.end, size)) {
      // Zeros an O_DIRECT append left past the last record (util/direct-io.ts), not damage.
      await handle.truncate(outcome.end);
      continue;
    }
    if (i < segments.length - 1) {
      if (segments[i + 1]?.firstSeq === expected) {
        // Every record up to the next segment's first is here: what follows belongs to no
        // record (a reused file's old bytes, util/spare-files.ts, its cut cut short by a crash).
        await handle.truncate(outcome.end);
        continue;
      }
      throw new JournalCorruptError(vpgId, segment.name, outcome.bad.position, outcome.bad.reason);
    }
    await handle.truncate(outcome.end);
    await handle.sync();
    tailCut = {
      segment: segment.name,
      position: outcome.end,
      bytesCut: size - outcome.end,
      reason: outcome.bad.reason,
    };
  }

  // A last segment left empty (created, then nothing durable written) is not kept: the next
  // append creates the segment its first record belongs in.
  const last = segments.at(-1);
  if (last !== undefined && last.records.count === 0) {
    await last.close();
    await unlink(last.path);
    await fsyncDirectory(dir);
    segments.pop();
  }
  return {
    segments,
    checkpoints,
    lastRecordSeq: expected - 1,
    tailCut,
    released,
    unknownDiskRecords,
  };
}

export function checkpointInfo(record: CheckpointRecord): CheckpointInfo {
  return {
    seq: record.seq,
    sourceTime: record.sourceTime,
    ...(record.name !== undefined && { name: record.name }),
    ...(record.inconsistent === true && { inconsistent: true as const }),
  };
}
