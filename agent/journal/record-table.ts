import { assertNever } from '../util/assert-never';
import { RECORD_TRAILER_BYTES, type RecordKind, type StreamRecord } from '../replication/record';

/** Compact kind codes for the table (the record codec has its own, on disk). */
export const KIND_CODE = { write: 1, seed: 2, zero: 3, trim: 4, checkpoint: 5 } as const;
export type KindCode = (typeof KIND_CODE)[RecordKind];
/** `disk` of a checkpoint, or of a record for a disk the VPG no longer has. */
export const NO_DISK = 0xffff;

export function isDataKind(kind: number): boolean {
  return kind === KIND_CODE.write || kind === KIND_CODE.seed;
}
export function isExtentKind(kind: number): boolean {
  return kind === KIND_CODE.zero || kind === KIND_CODE.trim;
}

/**
 * What the journal remembers of each record of one segment, without its data: one row per
 * record, in seq order (row i is seq firstSeq + i). Column arrays instead of one object per
 * record keep a journal of millions of small writes at ~45 bytes per record of heap.
 */
export class RecordTable {
  private capacity = 0;
  count = 0;
  /** File position where the encoded record starts. */
  recordPos = new Float64Array(0);
  /** File position of the record's data (write/seed); unused for other kinds. */
  dataPos = new Float64Array(0);
  /** Byte offset in the disk. */
  offset = new Float64Array(0);
  /** Bytes of the disk covered (data length for write/seed). */
  length = new Float64Array(0);
  sourceTime = new Float64Array(0);
  kind = new Uint8Array(0);
  /** Index of the disk in the journal's disk list, or NO_DISK. */
  disk = new Uint16Array(0);

  push(
    recordPos: number,
    dataPos: number,
    kind: KindCode,
    disk: number,
    offset: number,
    length: number,
    sourceTime: number,
  ): void {
    if (this.count === this.capacity) this.grow();
    const i = this.count;
    this.recordPos[i] = recordPos;
    this.dataPos[i] = dataPos;
    this.kind[i] = kind;
    this.disk[i] = disk;
    this.offset[i] = offset;
    this.length[i] = length;
    this.sourceTime[i] = sourceTime;
    this.count = i + 1;
  }

  private grow(): void {
    const capacity = Math.max(256, this.capacity * 2);
    const widen = <A extends Float64Array | Uint8Array | Uint16Array>(
      old: A,
      make: (n: number) => A,
    ): A => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.recordPos = widen(this.recordPos, (n) => new Float64Array(n));
    this.dataPos = widen(this.dataPos, (n) => new Float64Array(n));
    this.offset = widen(this.offset, (n) => new Float64Array(n));
    this.length = widen(this.length, (n) => new Float64Array(n));
    this.sourceTime = widen(this.sourceTime, (n) => new Float64Array(n));
    this.kind = widen(this.kind, (n) => new Uint8Array(n));
    this.disk = widen(this.disk, (n) => new Uint16Array(n));
    this.capacity = capacity;
  }
}

/** Adds one decoded (or just encoded) record, found at `position` and `bytes` long. */
export function addRecordRow(
  table: RecordTable,
  record: StreamRecord,
  position: number,
  bytes: number,
  disk: number,
): void {
  const code = KIND_CODE[record.kind];
  switch (record.kind) {
    case 'write':
    case 'seed': {
      // The data ends just before the CRC trailer.
      const dataPos = position + bytes - RECORD_TRAILER_BYTES - record.data.length;
      table.push(
        position,
        dataPos,
        code,
        disk,
        record.offset,
        record.data.length,
        record.sourceTime,
      );
      return;
    }
    case 'zero':
    case 'trim':
      table.push(position, 0, code, disk, record.offset, record.length, record.sourceTime);
      return;
    case 'checkpoint':
      table.push(position, 0, code, NO_DISK, 0, 0, record.sourceTime);
      return;
    default:
      assertNever(record, 'record kind');
  }
}
