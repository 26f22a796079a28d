import { crc32 } from '../util/crc32';

/**
 * One entry of a VPG's ordered stream. The same binary encoding is used everywhere a record
 * lives: the source's outbox, the wire between paired agents, and the target's journal
 * segments, so a record is checksummed once at the source and verified wherever it lands.
 *
 * write/seed carry data (seed = existing disk content sent by initial sync or a resync; it is
 * sequenced like a write so applying in seq order is always correct); zero/trim cover an
 * extent without data; checkpoint marks a crash-consistent point of the whole VPG.
 */
export type RecordKind = 'write' | 'seed' | 'zero' | 'trim' | 'checkpoint';

interface RecordBase {
  readonly vpgId: string;
  /** Position in the VPG's one sequence across all its disks; starts at 1, no gaps. */
  readonly seq: number;
  /** Source wall-clock time (epoch ms) when the record was sequenced. */
  readonly sourceTime: number;
}
export interface DataRecord extends RecordBase {
  readonly kind: 'write' | 'seed';
  readonly diskId: string;
  readonly offset: number;
  readonly data: Buffer;
}
export interface ExtentRecord extends RecordBase {
  readonly kind: 'zero' | 'trim';
  readonly diskId: string;
  readonly offset: number;
  readonly length: number;
}
export interface CheckpointRecord extends RecordBase {
  readonly kind: 'checkpoint';
  /** Set for checkpoints an admin (or a failover) inserted by name; absent for automatic ones. */
  readonly name?: string;
  /**
   * Taken while initial sync or a resync was still copying: not a crash-consistent image,
   * so never offered for recovery.
   */
  readonly inconsistent?: true;
}
export type StreamRecord = DataRecord | ExtentRecord | CheckpointRecord;

/** Largest data payload of one record (the NBD tap's largest request, 32 MiB). */
export const MAX_RECORD_DATA = 32 * 1024 * 1024;
export const RECORD_HEADER_BYTES = 48;
export const RECORD_TRAILER_BYTES = 4;
const FORMAT_VERSION = 1;
const MAX_ID_BYTES = 1024;
const FLAG_INCONSISTENT = 1;

const KIND_CODES: Record<RecordKind, number> = {
  write: 1,
  seed: 2,
  zero: 3,
  trim: 4,
  checkpoint: 5,
};
const KINDS_BY_CODE = new Map<number, RecordKind>(
  (Object.entries(KIND_CODES) as [RecordKind, number][]).map(([k, v]) => [v, k]),
);

/** A record that fails its checksum or header checks: corruption or a torn write. */
export class CorruptRecordError extends Error {
  constructor(
    message: string,
    /** Byte position of the bad record within the buffer that was being decoded. */
    readonly position: number,
  ) {
    super(message);
    this.name = 'CorruptRecordError';
  }
}

/*
 * Layout (little-endian):
 *   0 u32 record length (header + strings + data + trailer)
 *   4 u8  format version   5 u8 kind   6 u16 flags (bit 0: inconsistent checkpoint)
 *   8 u64 seq   16 u64 source time (ms)   24 u64 offset   32 u64 length
 *  40 u16 vpgId bytes   42 u16 diskId bytes   44 u16 name bytes   46 u16 reserved
 *  48 vpgId, diskId, name (UTF-8), data (write/seed: `length` bytes)
 * end u32 CRC-32 of everything before it
 */

export function encodedSize(record: StreamRecord): number {
  const strings =
    Buffer.byteLength(record.vpgId) +
    (record.kind === 'checkpoint' ? 0 : Buffer.byteLength(record.diskId)) +
    (record.kind === 'checkpoint' && record.name !== undefined
      ? Buffer.byteLength(record.name)
      : 0);
  const data = record.kind === 'write' || record.kind === 'seed' ? record.data.length : 0;
  return RECORD_HEADER_BYTES + strings + data + RECORD_TRAILER_BYTES;
}

export function encodeRecord(record: StreamRecord): Buffer {
  const head = recordHead(record);
  const data = recordData(record);
  const out = Buffer.allocUnsafe(head.total);
  let at = writeHead(out, record, head);
  if (data !== undefined) at += data.copy(out, at);
  out.writeUInt32LE(crc32(out.subarray(0, at)), at);
  return out;
}

/**
 * The same bytes as encodeRecord(), as [header and strings, data, checksum] with the data
 * not copied (one buffer for records without data): for a vectored write of a fresh record.
 * The caller must not change `data` until those buffers are written.
 */
export function encodeRecordParts(record: StreamRecord): Buffer[] {
  const data = recordData(record);
  if (data === undefined || data.length === 0) return [encodeRecord(record)];
  const head = recordHead(record);
  const out = Buffer.allocUnsafe(head.total - data.length - RECORD_TRAILER_BYTES);
  writeHead(out, record, head);
  const trailer = Buffer.allocUnsafe(RECORD_TRAILER_BYTES);
  trailer.writeUInt32LE(crc32(data, crc32(out)), 0);
  return [out, data, trailer];
}

interface RecordHead {
  readonly vpg: Buffer;
  readonly disk: Buffer;
  readonly name: Buffer;
  readonly total: number;
}

function recordData(record: StreamRecord): Buffer | undefined {
  return record.kind === 'write' || record.kind === 'seed' ? record.data : undefined;
}

/** Checks the record and measures its encoding. */
function recordHead(record: StreamRecord): RecordHead {
  const vpg = Buffer.from(record.vpgId);
  const disk = Buffer.from(record.kind === 'checkpoint' ? '' : record.diskId);
  const name = Buffer.from(record.kind === 'checkpoint' ? (record.name ?? '') : '');
  const data = recordData(record);
  if (vpg.length === 0 || vpg.length > MAX_ID_BYTES) throw new RangeError('bad vpgId length');
  if (disk.length > MAX_ID_BYTES || name.length > MAX_ID_BYTES) throw new RangeError('id too long');
  if (data !== undefined && data.length > MAX_RECORD_DATA) {
    throw new RangeError(`record data of ${data.length} bytes exceeds ${MAX_RECORD_DATA}`);
  }
  if (!Number.isSafeInteger(record.seq) || record.seq < 1) throw new RangeError('bad seq');
  const total =
    RECORD_HEADER_BYTES + vpg.length + disk.length + name.length + (data?.length ?? 0) + 4;
  return { vpg, disk, name, total };
}

/** Writes the fixed header and the strings; returns where the data starts. */
function writeHead(out: Buffer, record: StreamRecord, head: RecordHead): number {
  const { vpg, disk, name, total } = head;
  const data = recordData(record);
  out.writeUInt32LE(total, 0);
  out.writeUInt8(FORMAT_VERSION, 4);
  out.writeUInt8(KIND_CODES[record.kind], 5);
  out.writeUInt16LE(record.kind === 'checkpoint' && record.inconsistent ? FLAG_INCONSISTENT : 0, 6);
  out.writeBigUInt64LE(BigInt(record.seq), 8);
  out.writeBigUInt64LE(BigInt(Math.round(record.sourceTime)), 16);
  const offset = record.kind === 'checkpoint' ? 0 : record.offset;
  const length =
    record.kind === 'zero' || record.kind === 'trim' ? record.length : (data?.length ?? 0);
  out.writeBigUInt64LE(BigInt(offset), 24);
  out.writeBigUInt64LE(BigInt(length), 32);
  out.writeUInt16LE(vpg.length, 40);
  out.writeUInt16LE(disk.length, 42);
  out.writeUInt16LE(name.length, 44);
  out.writeUInt16LE(0, 46);
  let at = RECORD_HEADER_BYTES;
  at += vpg.copy(out, at);
  at += disk.copy(out, at);
  at += name.copy(out, at);
  return at;
}

/** Whether the record in `buf[position, end)` carries the checksum of its bytes. */
export function checksumOk(buf: Buffer, position: number, end: number): boolean {
  return crc32(buf.subarray(position, end - 4)) === buf.readUInt32LE(end - 4);
}

export type DecodeResult =
  | { readonly status: 'ok'; readonly record: StreamRecord; readonly bytes: number }
  /** The buffer ends inside a record: wait for more bytes (or, at a file's end, a torn tail). */
  | { readonly status: 'incomplete'; readonly needed: number };

/**
 * Decodes the record starting at `position`. Data is a view into `buf` (no copy): copy it if
 * the buffer is reused. Throws CorruptRecordError for a bad header or checksum.
 * `checksum: false` skips the checksum of a record `checksumOk` has already verified.
 */
export function decodeRecord(
  buf: Buffer,
  position = 0,
  options?: { readonly checksum: boolean },
): DecodeResult {
  const available = buf.length - position;
  if (available < 4) return { status: 'incomplete', needed: RECORD_HEADER_BYTES };
  const total = buf.readUInt32LE(position);
  if (
    total < RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES ||
    total > MAX_RECORD_DATA + 4 * MAX_ID_BYTES
  ) {
    throw new CorruptRecordError(`impossible record length ${total}`, position);
  }
  if (available < total) return { status: 'incomplete', needed: total };
  const end = position + total;
  if (options?.checksum !== false && !checksumOk(buf, position, end)) {
    throw new CorruptRecordError('record checksum mismatch', position);
  }
  const version = buf.readUInt8(position + 4);
  const kind = KINDS_BY_CODE.get(buf.readUInt8(position + 5));
  if (version !== FORMAT_VERSION || kind === undefined) {
    throw new CorruptRecordError(
      `unknown record format ${version}/${buf.readUInt8(position + 5)}`,
      position,
    );
  }
  const seq = Number(buf.readBigUInt64LE(position + 8));
  const sourceTime = Number(buf.readBigUInt64LE(position + 16));
  const offset = Number(buf.readBigUInt64LE(position + 24));
  const length = Number(buf.readBigUInt64LE(position + 32));
  const vpgLen = buf.readUInt16LE(position + 40);
  const diskLen = buf.readUInt16LE(position + 42);
  const nameLen = buf.readUInt16LE(position + 44);
  let at = position + RECORD_HEADER_BYTES;
  const vpgId = buf.toString('utf8', at, (at += vpgLen));
  const diskId = buf.toString('utf8', at, (at += diskLen));
  const name = buf.toString('utf8', at, (at += nameLen));
  const dataLen = kind === 'write' || kind === 'seed' ? length : 0;
  if (at + dataLen + 4 !== end) throw new CorruptRecordError('record lengths disagree', position);
  const base = { vpgId, seq, sourceTime };
  let record: StreamRecord;
  switch (kind) {
    case 'write':
    case 'seed':
      record = { ...base, kind, diskId, offset, data: buf.subarray(at, at + dataLen) };
      break;
    case 'zero':
    case 'trim':
      record = { ...base, kind, diskId, offset, length };
      break;
    case 'checkpoint': {
      const flags = buf.readUInt16LE(position + 6);
      record = {
        ...base,
        kind,
        ...(nameLen > 0 && { name }),
        ...((flags & FLAG_INCONSISTENT) !== 0 && { inconsistent: true as const }),
      };
      break;
    }
  }
  return { status: 'ok', record, bytes: total };
}
