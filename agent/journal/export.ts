import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDirectory } from '../store/atomic-file';
import {
  SOURCE_JOURNAL,
  SOURCE_REPLICA,
  SOURCE_ZERO,
  type ExtentMap,
  type Piece,
} from './extent-index';
import type { ReplicaDisk } from './replica';
import { readZeroFilled, writeAll, type SegmentFile } from './segment-file';

/**
 * Fills `target` with the view's bytes from disk offset `from`: one replica read for the
 * stretch the replica pieces span (journal pieces then overwrite their parts), journal pieces
 * read from their segments, zeros for zero pieces.
 */
export async function fillFromView(
  map: ExtentMap<SegmentFile>,
  replica: ReplicaDisk,
  target: Buffer,
  from: number,
): Promise<void> {
  const to = from + target.length;
  const pieces = [...map.overlapping(from, to)];
  const replicaPieces = pieces.filter((p) => p.source === SOURCE_REPLICA);
  const first = replicaPieces[0];
  const last = replicaPieces.at(-1);
  if (first !== undefined && last !== undefined) {
    await replica.read(target.subarray(first.start - from, last.end - from), first.start);
  }
  const journal: Piece<SegmentFile>[] = [];
  for (const p of pieces) {
    if (p.source === SOURCE_ZERO) target.fill(0, p.start - from, p.end - from);
    else if (p.source === SOURCE_JOURNAL) journal.push(p);
  }
  // Pieces that lie close together in one segment (records written in a row) are read with
  // one pread spanning them, not one each.
  for (let i = 0; i < journal.length;) {
    const first = journal[i] as Piece<SegmentFile>;
    let spanEnd = first.position + (first.end - first.start);
    let j = i + 1;
    for (; j < journal.length; j += 1) {
      const next = journal[j] as Piece<SegmentFile>;
      if (next.ref !== first.ref || next.position < spanEnd || next.position - spanEnd > MAX_GAP)
        break;
      spanEnd = next.position + (next.end - next.start);
    }
    const segment = first.ref as SegmentFile;
    if (j === i + 1) {
      await readZeroFilled(
        await segment.file(),
        target.subarray(first.start - from, first.end - from),
        first.position,
      );
    } else {
      const span = Buffer.allocUnsafe(spanEnd - first.position);
      await readZeroFilled(await segment.file(), span, first.position);
      for (let k = i; k < j; k += 1) {
        const p = journal[k] as Piece<SegmentFile>;
        const at = p.position - first.position;
        span.copy(target, p.start - from, at, at + (p.end - p.start));
      }
    }
    i = j;
  }
}

/** Largest stretch of other bytes (record headers, overwritten data) a spanning read skips. */
const MAX_GAP = 64 * 1024;

export interface ExportProgress {
  /** Bytes of the disk done so far (holes included). */
  readonly done: number;
  readonly total: number;
}

export interface ImageResult {
  /** Size of the image: the disk's size. */
  readonly bytes: number;
  /** Bytes actually written; the rest of the image is holes (reads as zeros). */
  readonly dataBytes: number;
  /** Hex SHA-256 of the whole image, when asked for. */
  readonly sha256?: string;
}

const CHUNK = 8 * 1024 * 1024;
/** Granularity of holes in an exported image. */
const BLOCK = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

/**
 * Writes the view as a raw image: a temp file beside `outPath`, sized to the disk up front (so
 * it is sparse), filled chunk by chunk, all-zero chunks left as holes, fsynced, then renamed
 * over `outPath`. Either the complete image appears at outPath or nothing does.
 */
export async function writeImage(input: {
  readonly map: ExtentMap<SegmentFile>;
  readonly replica: ReplicaDisk;
  readonly outPath: string;
  readonly onProgress?: ((progress: ExportProgress) => void) | undefined;
  readonly sha256?: boolean | undefined;
}): Promise<ImageResult> {
  const { map, replica, outPath, onProgress } = input;
  const total = replica.sizeBytes;
  const temp = join(dirname(outPath), `.${basename(outPath)}.partial-${process.pid}`);
  const hash = input.sha256 === true ? createHash('sha256') : undefined;
  const out = await open(temp, 'w', 0o600);
  let dataBytes = 0;
  try {
    await out.truncate(total);
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(total, 1)));
    for (let at = 0; at < total; at += buf.length) {
      const chunk = buf.subarray(0, Math.min(buf.length, total - at));
      if (onlyZeros(map, at, at + chunk.length)) {
        hash?.update(ZEROS.subarray(0, chunk.length));
      } else {
        await fillFromView(map, replica, chunk, at);
        hash?.update(chunk);
        dataBytes += await writeNonZero(out, chunk, at);
      }
      onProgress?.({ done: at + chunk.length, total });
    }
    await out.sync();
    await out.close();
    await rename(temp, outPath);
  } catch (err) {
    await out.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDirectory(dirname(outPath));
  return { bytes: total, dataBytes, ...(hash !== undefined && { sha256: hash.digest('hex') }) };
}

/**
 * Writes the runs of `chunk` that are not all zeros (at BLOCK granularity) and leaves the
 * rest a hole in the freshly truncated file. Returns the bytes written.
 */
async function writeNonZero(out: FileHandle, chunk: Buffer, at: number): Promise<number> {
  let written = 0;
  let runStart = -1;
  for (let b = 0; b <= chunk.length; b += BLOCK) {
    const end = Math.min(b + BLOCK, chunk.length);
    const zero = b === chunk.length || chunk.subarray(b, end).equals(ZEROS.subarray(0, end - b));
    if (!zero && runStart < 0) runStart = b;
    if (zero && runStart >= 0) {
      await writeAll(out, chunk.subarray(runStart, b), at + runStart);
      written += b - runStart;
      runStart = -1;
    }
  }
  return written;
}

/** True when the range is covered by zero pieces alone: nothing to read. */
function onlyZeros(map: ExtentMap<SegmentFile>, from: number, to: number): boolean {
  for (const p of map.overlapping(from, to)) if (p.source !== SOURCE_ZERO) return false;
  return true;
}
