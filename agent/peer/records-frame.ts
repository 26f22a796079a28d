import {
  CorruptRecordError,
  RECORD_HEADER_BYTES,
  RECORD_TRAILER_BYTES,
  checksumOk,
  decodeRecord,
  type StreamRecord,
} from '../replication/record';
import { TidelineError } from '../../app/errors';
import { decodeRecordsHeader, encodeRecordsHeader, protocolError } from './wire';

/** A record as it arrived: decoded (checksum verified) and its encoding, to store as is. */
export interface ReceivedRecord {
  readonly record: StreamRecord;
  /** The record's bytes (a view into the frame: copy it to keep it beyond the handler). */
  readonly encoded: Buffer;
}

export interface RecordBatch {
  /** The RECORDS payload: its fixed header, then the records, written without copying. */
  readonly parts: Buffer[];
  /** The records' bytes. */
  readonly bytes: number;
  /** The payload's: the records' and the header's. */
  readonly payloadBytes: number;
  readonly lastSeq: number;
}

/**
 * Groups encoded records (record.ts encoding, in seq order) into RECORDS payloads of about
 * `batchBytes`; a record bigger than that goes alone. Each record's length and VPG are
 * checked, so an engine bug cannot put another VPG's records into a stream.
 */
export function batchRecords(
  vpgId: string,
  encoded: readonly Buffer[],
  batchBytes: number,
): RecordBatch[] {
  const batches: RecordBatch[] = [];
  let records: Buffer[] = [];
  let bytes = 0;
  let lastSeq = 0;
  const flush = (): void => {
    if (records.length === 0) return;
    const header = encodeRecordsHeader(vpgId, records.length);
    batches.push({
      parts: [header, ...records],
      bytes,
      payloadBytes: header.length + bytes,
      lastSeq,
    });
    records = [];
    bytes = 0;
    lastSeq = 0;
  };
  for (const record of encoded) {
    const seq = checkEncoded(vpgId, record);
    if (records.length > 0 && bytes + record.length > batchBytes) flush();
    records.push(record);
    bytes += record.length;
    lastSeq = Math.max(lastSeq, seq);
  }
  flush();
  return batches;
}

/** The seq of an encoded record of `vpgId`; throws INVALID_PARAMS for anything else. */
function checkEncoded(vpgId: string, record: Buffer): number {
  const bad = (why: string): TidelineError =>
    new TidelineError('INVALID_PARAMS', `sendRecords(${vpgId}): ${why}`);
  if (record.length < RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES)
    throw bad('a record is too short');
  if (record.readUInt32LE(0) !== record.length) throw bad('a buffer is not exactly one record');
  const vpgLength = record.readUInt16LE(40);
  if (record.toString('utf8', RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + vpgLength) !== vpgId) {
    throw bad('a record belongs to another VPG');
  }
  return Number(record.readBigUInt64LE(8));
}

/**
 * Verifies the checksum of every record of a RECORDS payload without decoding them (no
 * objects: the frame may wait in the backlog before decodeRecordsPayload splits it, and
 * checking it now reads it while the copy that assembled it left it in the CPU cache).
 * Returns the VPG; throws the protocol error decodeRecordsPayload would.
 */
export function verifyRecordsPayload(payload: Buffer): string {
  const { vpgId, count, recordsAt } = decodeRecordsHeader(payload);
  if (count === 0) throw protocolError(`empty RECORDS frame for VPG ${vpgId}`);
  let at = recordsAt;
  for (let n = 1; at < payload.length; n += 1) {
    const total = payload.length - at >= 4 ? payload.readUInt32LE(at) : 0;
    if (total < RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES || at + total > payload.length) {
      throw protocolError(`RECORDS frame for VPG ${vpgId} ends inside a record`);
    }
    if (!checksumOk(payload, at, at + total)) {
      throw protocolError(
        `record ${n} of a RECORDS frame for VPG ${vpgId} is corrupt (record checksum mismatch)`,
      );
    }
    at += total;
  }
  return vpgId;
}

/**
 * Splits a RECORDS payload into its records, verifying each one's checksum (unless
 * verifyRecordsPayload already did: `checksums: false`) and structure.
 */
export function decodeRecordsPayload(
  payload: Buffer,
  options?: { readonly checksums: boolean },
): {
  vpgId: string;
  records: ReceivedRecord[];
} {
  const { vpgId, count, recordsAt } = decodeRecordsHeader(payload);
  if (count === 0) throw protocolError(`empty RECORDS frame for VPG ${vpgId}`);
  const records: ReceivedRecord[] = [];
  const checksum = { checksum: options?.checksums !== false };
  let at = recordsAt;
  while (at < payload.length) {
    let result: ReturnType<typeof decodeRecord>;
    try {
      result = decodeRecord(payload, at, checksum);
    } catch (err) {
      if (err instanceof CorruptRecordError) {
        throw protocolError(
          `record ${records.length + 1} of a RECORDS frame for VPG ${vpgId} is corrupt (${err.message})`,
        );
      }
      throw err;
    }
    if (result.status === 'incomplete') {
      throw protocolError(`RECORDS frame for VPG ${vpgId} ends inside a record`);
    }
    if (result.record.vpgId !== vpgId) {
      throw protocolError(
        `RECORDS frame for VPG ${vpgId} holds a record of VPG ${result.record.vpgId}`,
      );
    }
    records.push({ record: result.record, encoded: payload.subarray(at, at + result.bytes) });
    at += result.bytes;
  }
  if (records.length !== count) {
    throw protocolError(`RECORDS frame announces ${count} records and holds ${records.length}`);
  }
  return { vpgId, records };
}
