import { open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TidelineError } from '../../app/errors';
import { fsyncDirectory } from '../store/atomic-file';
import { endsInPadding } from '../util/direct-io';
import { Segment, parseSegmentFileName, scanSegment } from './outbox-segment';

export interface LoadedSegments {
  readonly segments: Segment[];
  /** Bytes of a torn or corrupt tail cut from the last segment. */
  readonly cutBytes: number;
  readonly cutReason?: string;
}

/**
 * Opens and indexes a VPG's outbox segments, verifying every record's checksum, VPG and seq
 * continuity. The tail of the last segment may be cut: it is the last group commit, which
 * never completed, so no VM was told those writes were done and they never reached a disk or
 * the sender. Damage anywhere else is refused (those records were acknowledged to the VM).
 * Segments left behind by a deletion a crash cut short, and empty ones, are removed.
 */
export async function loadSegments(
  dir: string,
  vpgId: string,
  ackedSeq: number,
): Promise<LoadedSegments> {
  const names = (await readdir(dir))
    .map((name) => ({ name, firstSeq: parseSegmentFileName(name) }))
    .filter((s): s is { name: string; firstSeq: number } => s.firstSeq !== undefined)
    .sort((a, b) => a.firstSeq - b.firstSeq);
  const segments: Segment[] = [];
  let cutBytes = 0;
  let cutReason: string | undefined;
  try {
    for (let i = 0; i < names.length; i += 1) {
      const entry = names[i] as { name: string; firstSeq: number };
      const next = names[i + 1];
      const path = join(dir, entry.name);
      // Every record of it is acknowledged: its deletion was cut short by a crash.
      if (next !== undefined && next.firstSeq - 1 <= ackedSeq) {
        await unlink(path);
        continue;
      }
      // Read-write even when not the last file: an empty last file (a crash between a roll and
      // its first write) is removed below, and the one before it is then appended to.
      const segment = new Segment(entry.firstSeq, path, await open(path, 'r+'));
      const previous = segments[segments.length - 1];
      let cut: { bytes: number; reason: string } | undefined;
      try {
        cut = await indexSegment(vpgId, segment, previous, next?.firstSeq);
      } catch (err) {
        await segment.close();
        throw err;
      }
      if (cut !== undefined) {
        cutBytes = cut.bytes;
        cutReason = cut.reason;
      }
      if (segment.count === 0) {
        await segment.close();
        await unlink(path);
        continue;
      }
      segments.push(segment);
    }
    await fsyncDirectory(dir);
  } catch (err) {
    await Promise.allSettled(segments.map((s) => s.close()));
    throw err;
  }
  return { segments, cutBytes, ...(cutReason !== undefined && { cutReason }) };
}

async function indexSegment(
  vpgId: string,
  segment: Segment,
  previous: Segment | undefined,
  /** The next segment's first seq; undefined for the last segment. */
  nextFirstSeq: number | undefined,
): Promise<{ bytes: number; reason: string } | undefined> {
  const last = nextFirstSeq === undefined;
  const { size } = await segment.handle.stat();
  const result = await scanSegment(segment.handle, size, (record, _position, bytes) => {
    if (record.vpgId !== vpgId) return `record of another VPG (${record.vpgId})`;
    if (record.seq !== segment.firstSeq + segment.count) {
      return `seq ${record.seq} where ${segment.firstSeq + segment.count} was expected`;
    }
    segment.push(bytes);
    return undefined;
  });
  if (previous !== undefined && segment.count > 0 && segment.firstSeq !== previous.lastSeq + 1) {
    throw segmentDamaged(
      vpgId,
      segment.path,
      0,
      `starts at seq ${segment.firstSeq}, after ${previous.lastSeq}`,
    );
  }
  if (result.outcome.kind === 'end') return undefined;
  if (await endsInPadding(segment.handle, result.validBytes, size)) {
    // Zeros an O_DIRECT append left past the last record (util/direct-io.ts), not damage.
    if (last) await segment.handle.truncate(result.validBytes);
    return undefined;
  }
  if (!last && segment.lastSeq === nextFirstSeq - 1) {
    // Every record up to the next segment's first is here: what follows belongs to no record
    // (a reused file's old bytes, util/spare-files.ts, its cut cut short by a crash).
    await segment.handle.truncate(result.validBytes);
    return undefined;
  }
  const reason =
    result.outcome.kind === 'torn' ? 'torn tail' : `corrupt tail: ${result.outcome.reason}`;
  if (!last) throw segmentDamaged(vpgId, segment.path, result.outcome.position, reason);
  await segment.handle.truncate(result.validBytes);
  await segment.handle.datasync();
  return { bytes: size - result.validBytes, reason };
}

export function segmentDamaged(
  vpgId: string,
  path: string,
  position: number,
  reason: string,
): TidelineError {
  return new TidelineError(
    'INTERNAL_ERROR',
    `Outbox segment ${path} is damaged at byte ${position} (${reason}); its writes cannot be ` +
      `replayed: restore the file, or remove the VPG's outbox and resync the VPG`,
    { vpgId, path, position },
  );
}
