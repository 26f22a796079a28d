import type { FileHandle } from 'node:fs/promises';
import { CorruptRecordError, decodeRecord, type StreamRecord } from '../replication/record';
import { DirectAppender } from '../util/direct-io';
import { readFully } from '../util/read-fully';

/** Segment files are named by the seq of their first record, zero-padded so names sort. */
const SEGMENT_PATTERN = /^(\d{20})\.seg$/;

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}

export function parseSegmentFileName(name: string): number | undefined {
  const match = SEGMENT_PATTERN.exec(name);
  if (match?.[1] === undefined) return undefined;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}

/**
 * One open segment file and the position of each of its records. Seqs within a segment are
 * contiguous (the outbox holds a gap-free stretch of the VPG's stream), so record i has seq
 * firstSeq + i and the index is a plain array of file positions.
 */
export class Segment {
  private positions = new Uint32Array(1024);
  /** Records in the file (and in the index). */
  count = 0;
  /** Bytes of whole records in the file. */
  size = 0;

  /** Appends, and reads, go through O_DIRECT where the file system allows it. */
  readonly direct: DirectAppender;

  /**
   * `empty`: the file was just created, or `reused`: a spare written over from its start
   * (util/spare-files.ts), whose old bytes lie past the new records.
   */
  constructor(
    readonly firstSeq: number,
    readonly path: string,
    readonly handle: FileHandle,
    empty = false,
    private readonly reused = false,
  ) {
    this.direct = new DirectAppender(path, empty);
  }

  /**
   * Cuts what lies past the last record (the segment is done): the zeros an O_DIRECT append
   * left, or a reused file's old bytes.
   */
  trimPadding(): Promise<void> {
    if (this.reused) return this.handle.truncate(this.size);
    return this.direct.trim(this.handle, this.size);
  }

  /** The file's bytes [start, end), at `at` in a buffer from `alloc` (DirectAppender). */
  readRange(
    start: number,
    end: number,
    alloc: (bytes: number) => Buffer,
  ): Promise<{ buf: Buffer; at: number }> {
    return this.direct.readRange(this.handle, start, end, alloc);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.direct.close(), this.handle.close()]);
  }

  /** Seq of the last record, or firstSeq - 1 while the segment is empty. */
  get lastSeq(): number {
    return this.firstSeq + this.count - 1;
  }

  /** Adds the next record (already in the file at position `size`). */
  push(bytes: number): void {
    if (this.count === this.positions.length) {
      const grown = new Uint32Array(this.positions.length * 2);
      grown.set(this.positions);
      this.positions = grown;
    }
    this.positions[this.count] = this.size;
    this.count += 1;
    this.size += bytes;
  }

  /** File position where the record `seq` starts. */
  start(seq: number): number {
    return this.positions[seq - this.firstSeq] ?? this.size;
  }

  /** File position just past the record `seq`. */
  end(seq: number): number {
    return seq >= this.lastSeq ? this.size : this.start(seq + 1);
  }
}

export type ScanOutcome =
  | { readonly kind: 'end' }
  /** The file ends inside a record: a write that never completed. */
  | { readonly kind: 'torn'; readonly position: number }
  /** A record fails its checksum, header or continuity checks. */
  | { readonly kind: 'corrupt'; readonly position: number; readonly reason: string };

export interface ScanResult {
  /** Bytes of whole, valid records from the start of the file. */
  readonly validBytes: number;
  readonly outcome: ScanOutcome;
}

/**
 * Visits a record at a file position. Return a reason to stop the scan there as corrupt
 * (e.g. a seq out of order); anything thrown (an I/O error of the visitor) propagates.
 */
export type RecordVisitor = (
  record: StreamRecord,
  position: number,
  bytes: number,
) => string | undefined | Promise<string | undefined>;

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Reads a segment from the start in large chunks and decodes its records one by one (data
 * are views into the chunk: the visitor copies what it keeps beyond its own await).
 */
export async function scanSegment(
  handle: FileHandle,
  fileSize: number,
  visit: RecordVisitor,
): Promise<ScanResult> {
  let base = 0; // file position of buf[0]
  let buf = Buffer.alloc(0);
  let at = 0; // position in buf of the next record
  let needed = 0;
  for (;;) {
    // Decode every whole record in the buffer.
    while (at < buf.length) {
      let decoded: ReturnType<typeof decodeRecord>;
      try {
        decoded = decodeRecord(buf, at);
      } catch (err) {
        if (!(err instanceof CorruptRecordError)) throw err;
        return corrupt(base + at, err.message);
      }
      if (decoded.status === 'incomplete') {
        needed = decoded.needed;
        break;
      }
      const reason = await visit(decoded.record, base + at, decoded.bytes);
      if (reason !== undefined) return corrupt(base + at, reason);
      at += decoded.bytes;
      needed = 0;
    }
    const filePos = base + buf.length;
    const leftover = buf.length - at;
    if (filePos >= fileSize) {
      return leftover === 0
        ? { validBytes: base + at, outcome: { kind: 'end' } }
        : { validBytes: base + at, outcome: { kind: 'torn', position: base + at } };
    }
    const want = Math.min(Math.max(CHUNK_BYTES, needed - leftover), fileSize - filePos);
    const next = Buffer.allocUnsafe(leftover + want);
    buf.copy(next, 0, at);
    const got = await readFully(handle, next.subarray(leftover, leftover + want), filePos);
    base += at;
    buf = next.subarray(0, leftover + got);
    at = 0;
    if (got < want) fileSize = filePos + got; // the file shrank under us: treat as its end
  }

  function corrupt(position: number, reason: string): ScanResult {
    return { validBytes: position, outcome: { kind: 'corrupt', position, reason } };
  }
}
