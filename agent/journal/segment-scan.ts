import type { FileHandle } from 'node:fs/promises';
import { CorruptRecordError, decodeRecord, type StreamRecord } from '../replication/record';

/** A record the caller will not take: the scan ends before it, reported as bad. */
export interface StopBefore {
  readonly stopBefore: string;
}

/**
 * Called for each record, in file order. `record` (and its data) is a view into the scan's
 * buffer: valid until the returned promise settles. Return false to stop after this record,
 * or `{stopBefore: reason}` to end the scan before it as at a record that does not decode.
 */
export type OnScannedRecord = (
  record: StreamRecord,
  position: number,
  bytes: number,
) => boolean | void | StopBefore | Promise<boolean | void | StopBefore>;

export interface ScanOutcome {
  /** File position just after the last good record handed to the callback. */
  readonly end: number;
  /** Set when the scan met a record it could not decode: a torn tail or corruption. */
  readonly bad?: { readonly position: number; readonly reason: string };
}

const DEFAULT_CHUNK = 8 * 1024 * 1024;

/**
 * Decodes the records of a segment from `from` up to `fileEnd`, reading large chunks (one
 * syscall per chunk, not per record) and verifying every checksum via decodeRecord. A record
 * larger than the chunk grows the buffer for itself.
 */
export async function scanRecords(
  handle: FileHandle,
  from: number,
  fileEnd: number,
  onRecord: OnScannedRecord,
  chunkBytes = DEFAULT_CHUNK,
): Promise<ScanOutcome> {
  let buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(fileEnd - from, 64)));
  let base = from; // file position of buf[0]
  let filled = 0;
  let at = 0;
  let end = fileEnd;
  for (;;) {
    if (at === filled && base + filled >= end) return { end: base + at };
    let result;
    try {
      result = decodeRecord(buf.subarray(0, filled), at);
    } catch (err) {
      if (!(err instanceof CorruptRecordError)) throw err;
      return { end: base + at, bad: { position: base + at, reason: err.message } };
    }
    if (result.status === 'ok') {
      const goOn = await onRecord(result.record, base + at, result.bytes);
      if (typeof goOn === 'object') {
        return { end: base + at, bad: { position: base + at, reason: goOn.stopBefore } };
      }
      at += result.bytes;
      if (goOn === false) return { end: base + at };
      continue;
    }
    if (base + filled >= end) {
      return {
        end: base + at,
        bad: {
          position: base + at,
          reason: `incomplete record (${end - base - at} bytes at the end of the file)`,
        },
      };
    }
    // Keep the partial record, make room for the whole of it, read on.
    const keep = filled - at;
    const size = Math.max(result.needed, Math.min(chunkBytes, end - base - at));
    if (size > buf.length) {
      const bigger = Buffer.allocUnsafe(size);
      buf.copy(bigger, 0, at, filled);
      buf = bigger;
    } else if (at > 0) {
      buf.copy(buf, 0, at, filled);
    }
    base += at;
    filled = keep;
    at = 0;
    const want = Math.min(buf.length - filled, end - base - filled);
    const { bytesRead } = await handle.read(buf, filled, want, base + filled);
    if (bytesRead === 0) end = base + filled; // the file is shorter than we were told
    filled += bytesRead;
  }
}
