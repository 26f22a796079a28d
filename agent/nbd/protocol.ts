/**
 * The NBD wire protocol (github.com/NetworkBlockDevice/nbd, doc/proto.md): the subset the
 * agent speaks — fixed newstyle handshake, simple replies only — as constants and encoders.
 * Every number on the wire is big-endian.
 */

// ───────────────────────── handshake ─────────────────────────

/** "NBDMAGIC" */
export const INIT_MAGIC = Buffer.from('NBDMAGIC', 'latin1');
/** "IHAVEOPT": newstyle negotiation, and the magic before every client option. */
export const OPTION_MAGIC = Buffer.from('IHAVEOPT', 'latin1');
/** Before every option reply. */
export const OPTION_REPLY_MAGIC = Buffer.from([0, 3, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9]);

export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
/** Client flags the server knows (anything else: the server must drop the connection). */
export const CLIENT_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const CLIENT_FLAG_NO_ZEROES = 1 << 1;
export const KNOWN_CLIENT_FLAGS = CLIENT_FLAG_FIXED_NEWSTYLE | CLIENT_FLAG_NO_ZEROES;

export const Opt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

const ERR = 0x80000000;
export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_TOO_BIG: ERR + 9,
} as const;

export const Info = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

// ───────────────────────── transmission ─────────────────────────

export const TF = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  CAN_MULTI_CONN: 1 << 8,
} as const;

export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const REQUEST_HEADER_BYTES = 28;
export const REPLY_HEADER_BYTES = 16;

export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  WRITE_ZEROES: 6,
} as const;

export const CmdFlag = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
} as const;

/** errno values of simple replies (the protocol's list, Linux numbering). */
export const Errno = {
  OK: 0,
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type ErrnoValue = (typeof Errno)[keyof typeof Errno];

// ───────────────────────── limits ─────────────────────────

/** Block sizes advertised with NBD_INFO_BLOCK_SIZE. */
export const MIN_BLOCK = 512;
export const PREFERRED_BLOCK = 4096;
/** The largest READ/WRITE/TRIM/WRITE_ZEROES request served (also the protocol's default). */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Option data beyond this is refused (NBD_REP_ERR_TOO_BIG) without being buffered. */
export const MAX_OPTION_BYTES = 64 * 1024;
/** Strings (names, messages) are at most 4096 bytes by the protocol. */
export const MAX_STRING_BYTES = 4096;

// ───────────────────────── encoders ─────────────────────────

/** The server's greeting: NBDMAGIC, IHAVEOPT, handshake flags. */
export function encodeGreeting(): Buffer {
  const out = Buffer.allocUnsafe(18);
  INIT_MAGIC.copy(out, 0);
  OPTION_MAGIC.copy(out, 8);
  out.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  return out;
}

/** One option reply: magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data?: Buffer): Buffer {
  const length = data?.length ?? 0;
  const out = Buffer.allocUnsafe(20 + length);
  OPTION_REPLY_MAGIC.copy(out, 0);
  out.writeUInt32BE(option >>> 0, 8);
  out.writeUInt32BE(type >>> 0, 12);
  out.writeUInt32BE(length, 16);
  if (data !== undefined) data.copy(out, 20);
  return out;
}

/** An error option reply with a message for the user (cut to the protocol's 4096 bytes). */
export function encodeOptionError(option: number, type: number, message: string): Buffer {
  return encodeOptionReply(option, type, utf8Limited(message));
}

/** NBD_REP_SERVER for NBD_OPT_LIST: name length, name, then a description for humans. */
export function encodeServerReply(name: string, description: string): Buffer {
  const nameBytes = utf8Limited(name);
  const details = utf8Limited(description);
  const data = Buffer.allocUnsafe(4 + nameBytes.length + details.length);
  data.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(data, 4);
  details.copy(data, 4 + nameBytes.length);
  return encodeOptionReply(Opt.LIST, Rep.SERVER, data);
}

/** NBD_REP_INFO NBD_INFO_EXPORT: size and transmission flags. */
export function encodeInfoExport(option: number, size: number, flags: number): Buffer {
  const data = Buffer.allocUnsafe(12);
  data.writeUInt16BE(Info.EXPORT, 0);
  writeUInt64(data, size, 2);
  data.writeUInt16BE(flags, 10);
  return encodeOptionReply(option, Rep.INFO, data);
}

/** NBD_REP_INFO NBD_INFO_BLOCK_SIZE: minimum, preferred, maximum. */
export function encodeInfoBlockSize(
  option: number,
  min: number,
  preferred: number,
  max: number,
): Buffer {
  const data = Buffer.allocUnsafe(14);
  data.writeUInt16BE(Info.BLOCK_SIZE, 0);
  data.writeUInt32BE(min, 2);
  data.writeUInt32BE(preferred, 6);
  data.writeUInt32BE(max, 10);
  return encodeOptionReply(option, Rep.INFO, data);
}

/** NBD_REP_INFO NBD_INFO_NAME or NBD_INFO_DESCRIPTION: a string. */
export function encodeInfoString(option: number, type: number, text: string): Buffer {
  const bytes = utf8Limited(text);
  const data = Buffer.allocUnsafe(2 + bytes.length);
  data.writeUInt16BE(type, 0);
  bytes.copy(data, 2);
  return encodeOptionReply(option, Rep.INFO, data);
}

/** The end of NBD_OPT_EXPORT_NAME: size, transmission flags, 124 zeros unless NO_ZEROES. */
export function encodeExportNameReply(size: number, flags: number, noZeroes: boolean): Buffer {
  const out = Buffer.alloc(noZeroes ? 10 : 134);
  writeUInt64(out, size, 0);
  out.writeUInt16BE(flags, 8);
  return out;
}

/** A simple reply header (magic, error, cookie) at `offset` of `out`. */
export function writeSimpleReply(
  out: Buffer,
  offset: number,
  error: number,
  cookieHigh: number,
  cookieLow: number,
): void {
  out.writeUInt32BE(SIMPLE_REPLY_MAGIC, offset);
  out.writeUInt32BE(error, offset + 4);
  out.writeUInt32BE(cookieHigh, offset + 8);
  out.writeUInt32BE(cookieLow, offset + 12);
}

/**
 * A 64-bit unsigned field as a number; values past 2^53 come back as Infinity so that range
 * checks fail instead of silently losing bits.
 */
export function readUInt64(buf: Buffer, offset: number): number {
  const high = buf.readUInt32BE(offset);
  const low = buf.readUInt32BE(offset + 4);
  return high >= 0x200000 ? Number.POSITIVE_INFINITY : high * 0x100000000 + low;
}

export function writeUInt64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x100000000), offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

/** UTF-8 bytes of `text`, at most the protocol's 4096 (cut at a character boundary). */
function utf8Limited(text: string): Buffer {
  let bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_STRING_BYTES) return bytes;
  let end = MAX_STRING_BYTES;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  bytes = bytes.subarray(0, end);
  return bytes;
}
