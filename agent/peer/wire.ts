import { TidelineError } from '../../app/errors';
import { LZ4 } from '../util/lz4';

/**
 * The peer link's frames: `[u32 payload length][u8 type][payload]`, big-endian (network
 * order). Handshake and control frames carry UTF-8 JSON; data-path frames are binary.
 * agent/peer/README.md is the reference of the format.
 */
export const FrameType = {
  HELLO: 1,
  PAIR: 2,
  PAIR_OK: 3,
  REFUSED: 4,
  RECORDS: 5,
  ACK: 6,
  POSITION: 7,
  POSITION_REQUEST: 8,
  CONTROL: 9,
  PING: 10,
  PONG: 11,
  UNPAIR: 12,
  /** Peer protocol 2: a RECORDS payload compressed with LZ4 (records-lz4.ts). */
  RECORDS_LZ4: 13,
} as const;
export type FrameTypeName = keyof typeof FrameType;
export type FrameTypeCode = (typeof FrameType)[FrameTypeName];

const NAMES = new Map<number, FrameTypeName>(
  (Object.entries(FrameType) as [FrameTypeName, number][]).map(([name, code]) => [code, name]),
);

/** The name of a frame type code, or undefined for a code this version does not know. */
export function frameTypeName(code: number): FrameTypeName | undefined {
  return NAMES.get(code);
}

export const FRAME_HEADER_BYTES = 5;
/** Largest payload of any frame on an established link (a single 32 MiB record fits). */
export const MAX_FRAME_PAYLOAD = 64 * 1024 * 1024;
/** Largest payload before the peer is authenticated (HELLO, PAIR): 64 KiB. */
export const MAX_HANDSHAKE_PAYLOAD = 64 * 1024;
/** Records are batched into RECORDS frames of about this size (one bigger record goes alone). */
export const RECORDS_BATCH_BYTES = 1024 * 1024;

/**
 * Peer protocol versions this agent speaks (HELLO and PAIR negotiate the highest common).
 * 2 adds RECORDS_LZ4; an agent whose LZ4 binary does not load speaks 1 only.
 */
export const PEER_PROTOCOL = { min: 1, max: LZ4 === undefined ? 1 : 2 } as const;
/** The first peer protocol version with RECORDS_LZ4. */
export const PEER_PROTOCOL_LZ4 = 2;

export interface Frame {
  readonly type: number;
  readonly payload: Buffer;
}

/** A peer broke the wire protocol (a malformed frame): the connection is closed. */
export function protocolError(message: string): TidelineError {
  return new TidelineError('INVALID_REQUEST', `Peer protocol error: ${message}`);
}

export function frameHeader(type: FrameTypeCode, payloadLength: number): Buffer {
  if (payloadLength > MAX_FRAME_PAYLOAD) {
    throw new RangeError(`frame payload of ${payloadLength} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payloadLength, 0);
  header.writeUInt8(type, 4);
  return header;
}

export function encodeFrame(type: FrameTypeCode, payload: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([frameHeader(type, payload.length), payload]);
}

// ───────────────────────── binary payloads of the data path ─────────────────────────

const MAX_VPG_ID_BYTES = 1024;

/** `u16 length + UTF-8` of a VPG id. */
function vpgIdBytes(vpgId: string): Buffer {
  const bytes = Buffer.from(vpgId, 'utf8');
  if (bytes.length === 0 || bytes.length > MAX_VPG_ID_BYTES) {
    throw new RangeError(`VPG id must be 1–${MAX_VPG_ID_BYTES} bytes`);
  }
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function readVpgId(payload: Buffer, what: string): { vpgId: string; end: number } {
  if (payload.length < 2) throw protocolError(`${what} frame too short`);
  const length = payload.readUInt16BE(0);
  if (length === 0 || length > MAX_VPG_ID_BYTES || payload.length < 2 + length) {
    throw protocolError(`${what} frame has a bad VPG id`);
  }
  return { vpgId: payload.toString('utf8', 2, 2 + length), end: 2 + length };
}

export interface VpgSeq {
  readonly vpgId: string;
  readonly seq: number;
}

/** ACK and POSITION: VPG id, u64 seq. */
export function encodeVpgSeq(vpgId: string, seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`bad seq ${seq}`);
  const id = vpgIdBytes(vpgId);
  const out = Buffer.allocUnsafe(id.length + 8);
  id.copy(out, 0);
  out.writeBigUInt64BE(BigInt(seq), id.length);
  return out;
}

export function decodeVpgSeq(payload: Buffer, what: string): VpgSeq {
  const { vpgId, end } = readVpgId(payload, what);
  if (payload.length !== end + 8) throw protocolError(`${what} frame has a bad length`);
  const seq = payload.readBigUInt64BE(end);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`${what} seq out of range`);
  return { vpgId, seq: Number(seq) };
}

/** POSITION_REQUEST: VPG id. */
export function encodeVpgRef(vpgId: string): Buffer {
  return vpgIdBytes(vpgId);
}

export function decodeVpgRef(payload: Buffer, what: string): string {
  const { vpgId, end } = readVpgId(payload, what);
  if (payload.length !== end) throw protocolError(`${what} frame has a bad length`);
  return vpgId;
}

/** PING and PONG: u64 sender's monotonic time in ms (PONG echoes the PING's). */
export function encodeStamp(ms: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(ms))), 0);
  return out;
}

export function decodeStamp(payload: Buffer): number {
  if (payload.length !== 8) throw protocolError('PING/PONG frame has a bad length');
  return Number(payload.readBigUInt64BE(0));
}

/** The fixed part of a RECORDS payload: VPG id, u32 record count; the records follow. */
export function encodeRecordsHeader(vpgId: string, count: number): Buffer {
  const id = vpgIdBytes(vpgId);
  const out = Buffer.allocUnsafe(id.length + 4);
  id.copy(out, 0);
  out.writeUInt32BE(count, id.length);
  return out;
}

export function decodeRecordsHeader(payload: Buffer): {
  vpgId: string;
  count: number;
  recordsAt: number;
} {
  const { vpgId, end } = readVpgId(payload, 'RECORDS');
  if (payload.length < end + 4) throw protocolError('RECORDS frame too short');
  return { vpgId, count: payload.readUInt32BE(end), recordsAt: end + 4 };
}
