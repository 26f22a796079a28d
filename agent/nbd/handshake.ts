import type { Socket } from 'node:net';
import type { Logger } from '../log';
import { isRefusal, type ExportDescription, type ExportSource, type OpenExport } from './exports';
import {
  CLIENT_FLAG_NO_ZEROES,
  Info,
  KNOWN_CLIENT_FLAGS,
  MAX_OPTION_BYTES,
  MAX_REQUEST_BYTES,
  MAX_STRING_BYTES,
  MIN_BLOCK,
  OPTION_MAGIC,
  Opt,
  PREFERRED_BLOCK,
  Rep,
  TF,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoString,
  encodeOptionError,
  encodeOptionReply,
  encodeServerReply,
} from './protocol';
import { startTls, type NbdTls } from './nbd-tls';
import { SocketReader } from './socket-reader';

/** A connection's socket and reader: STARTTLS replaces both with their TLS counterparts. */
export interface NbdIo {
  socket: Socket;
  reader: SocketReader;
}

/** TLS on this listener: offered, and required before any export is named or listed. */
export interface NbdTlsPolicy {
  readonly keys: NbdTls;
  readonly required: boolean;
}

/**
 * Transmission flags of every export. CAN_MULTI_CONN: a FLUSH is the tap's flush(), which
 * makes every acknowledged write of the process durable (all disks, all connections), and
 * every connection writes through the same descriptor, so the effects of FLUSH and FUA are
 * visible across connections when they are answered.
 */
export const TRANSMISSION_FLAGS =
  TF.HAS_FLAGS |
  TF.SEND_FLUSH |
  TF.SEND_FUA |
  TF.SEND_TRIM |
  TF.SEND_WRITE_ZEROES |
  TF.CAN_MULTI_CONN;

/** The option data read before a larger option is refused and skipped (else: disconnect). */
const MAX_SKIPPED_OPTION_BYTES = MAX_REQUEST_BYTES;

const OPTION_NAMES: Readonly<Record<number, string>> = {
  [Opt.STARTTLS]: 'NBD_OPT_STARTTLS',
  [Opt.STRUCTURED_REPLY]: 'NBD_OPT_STRUCTURED_REPLY',
  [Opt.LIST_META_CONTEXT]: 'NBD_OPT_LIST_META_CONTEXT',
  [Opt.SET_META_CONTEXT]: 'NBD_OPT_SET_META_CONTEXT',
  [Opt.EXTENDED_HEADERS]: 'NBD_OPT_EXTENDED_HEADERS',
};

/** How a negotiation ended without an export: the reason is for the log. */
export interface HandshakeEnd {
  readonly closed: string;
}

/**
 * The fixed newstyle handshake and option haggling, up to the transmission phase: resolves with
 * the export the client chose (held: the caller releases it), or with why the connection is to
 * be closed (abort, bad magic, unknown client flags, unknown export with EXPORT_NAME…). Only
 * simple replies are offered: STRUCTURED_REPLY, meta contexts and extended headers are
 * answered NBD_REP_ERR_UNSUP and haggling goes on. STARTTLS (TLS-PSK) is served when `tls` is
 * given, and then required before anything else when `tls.required` (TCP listeners).
 */
export async function negotiate(
  io: NbdIo,
  exports: ExportSource,
  log: Logger,
  tls?: NbdTlsPolicy,
): Promise<OpenExport | HandshakeEnd> {
  let { socket, reader } = io;
  let secured = false;
  socket.write(encodeGreeting());
  const clientFlags = (await reader.read(4)).readUInt32BE(0);
  if ((clientFlags & ~KNOWN_CLIENT_FLAGS) !== 0) {
    return { closed: `unknown client flags 0x${clientFlags.toString(16)}` };
  }
  const noZeroes = (clientFlags & CLIENT_FLAG_NO_ZEROES) !== 0;
  for (;;) {
    const header = await reader.read(16);
    if (!header.subarray(0, 8).equals(OPTION_MAGIC)) {
      return { closed: 'wrong option magic' };
    }
    const option = header.readUInt32BE(8);
    const length = header.readUInt32BE(12);
    if (length > MAX_OPTION_BYTES) {
      // EXPORT_NAME has no error reply; the others get one at once, before the data.
      if (option === Opt.EXPORT_NAME) return { closed: `export name of ${length} bytes` };
      socket.write(
        encodeOptionError(
          option,
          Rep.ERR_TOO_BIG,
          `Option data of ${length} bytes is over this server's limit of ${MAX_OPTION_BYTES}`,
        ),
      );
      if (length > MAX_SKIPPED_OPTION_BYTES) return { closed: `option data of ${length} bytes` };
      await reader.discard(length);
      continue;
    }
    const data = length === 0 ? Buffer.alloc(0) : await reader.read(length);
    if (tls?.required === true && !secured && option !== Opt.STARTTLS && option !== Opt.ABORT) {
      // Nothing about the exports before TLS (the spec's "TLS mandatory" mode).
      if (option === Opt.EXPORT_NAME) return { closed: 'NBD_OPT_EXPORT_NAME before STARTTLS' };
      socket.write(
        encodeOptionError(
          option,
          Rep.ERR_TLS_REQD,
          "This server requires TLS: connect with TLS-PSK credentials (see the agent's nbd README)",
        ),
      );
      continue;
    }
    switch (option) {
      case Opt.STARTTLS: {
        if (tls === undefined) {
          socket.write(
            encodeOptionError(
              option,
              Rep.ERR_UNSUP,
              'NBD_OPT_STARTTLS is not supported by this server: TLS is not set up (--nbd-tls-psk)',
            ),
          );
          break;
        }
        if (length !== 0 || secured) {
          socket.write(
            encodeOptionError(
              option,
              Rep.ERR_INVALID,
              secured ? 'TLS is already on' : 'NBD_OPT_STARTTLS takes no option data',
            ),
          );
          break;
        }
        socket.write(encodeOptionReply(option, Rep.ACK));
        // The client sends nothing more in clear: anything buffered would be injected data.
        if (reader.length > 0) return { closed: 'clear-text data after NBD_OPT_STARTTLS' };
        let upgraded;
        try {
          upgraded = await startTls(socket, tls.keys);
        } catch (err) {
          log.info({ err: err instanceof Error ? err.message : String(err) }, 'NBD TLS refused');
          return { closed: 'TLS handshake failed' };
        }
        socket = upgraded.secure;
        reader = new SocketReader(socket);
        io.socket = socket;
        io.reader = reader;
        secured = true;
        log.debug({ identity: upgraded.identity }, 'NBD client secured with TLS-PSK');
        break;
      }
      case Opt.EXPORT_NAME: {
        const name = data.toString('utf8');
        const opened = await exports.open(name);
        if (isRefusal(opened)) {
          log.info({ export: name, reason: opened.message }, 'NBD export refused');
          return { closed: opened.message };
        }
        socket.write(encodeExportNameReply(opened.size, TRANSMISSION_FLAGS, noZeroes));
        return opened;
      }
      case Opt.ABORT:
        socket.write(encodeOptionReply(option, Rep.ACK));
        return { closed: 'client aborted the negotiation' };
      case Opt.LIST: {
        if (length !== 0) {
          socket.write(
            encodeOptionError(option, Rep.ERR_INVALID, 'NBD_OPT_LIST takes no option data'),
          );
          break;
        }
        for (const entry of await exports.list()) {
          socket.write(encodeServerReply(entry.name, entry.description));
        }
        socket.write(encodeOptionReply(option, Rep.ACK));
        break;
      }
      case Opt.INFO:
      case Opt.GO: {
        const request = parseInfoRequest(data);
        if (typeof request === 'string') {
          socket.write(encodeOptionError(option, Rep.ERR_INVALID, request));
          break;
        }
        const found =
          option === Opt.GO
            ? await exports.open(request.name)
            : await exports.describe(request.name);
        if (isRefusal(found)) {
          log.info({ export: request.name, reason: found.message }, 'NBD export refused');
          const type = found.refused === 'policy' ? Rep.ERR_POLICY : Rep.ERR_UNKNOWN;
          socket.write(encodeOptionError(option, type, found.message));
          break;
        }
        socket.write(encodeInfoExport(option, found.size, TRANSMISSION_FLAGS));
        if (request.infos.has(Info.NAME)) {
          socket.write(encodeInfoString(option, Info.NAME, found.name));
        }
        if (request.infos.has(Info.DESCRIPTION)) {
          socket.write(encodeInfoString(option, Info.DESCRIPTION, found.description));
        }
        // A size that is not a multiple of 512 could not be reached with 512-byte blocks.
        const min = found.size % MIN_BLOCK === 0 ? MIN_BLOCK : 1;
        socket.write(encodeInfoBlockSize(option, min, PREFERRED_BLOCK, MAX_REQUEST_BYTES));
        socket.write(encodeOptionReply(option, Rep.ACK));
        if (isOpen(found)) return found;
        break;
      }
      default: {
        const name = OPTION_NAMES[option] ?? `option ${option}`;
        socket.write(
          encodeOptionError(option, Rep.ERR_UNSUP, `${name} is not supported by this server`),
        );
      }
    }
  }
}

function isOpen(found: ExportDescription): found is OpenExport {
  return 'release' in found && 'backend' in found;
}

interface InfoRequest {
  readonly name: string;
  readonly infos: ReadonlySet<number>;
}

/** NBD_OPT_INFO/GO data: name length, name, info count, info types; or what is wrong. */
function parseInfoRequest(data: Buffer): InfoRequest | string {
  if (data.length < 6) return 'NBD_OPT_GO/INFO data is shorter than its fixed fields';
  const nameLength = data.readUInt32BE(0);
  if (nameLength > MAX_STRING_BYTES || 4 + nameLength + 2 > data.length) {
    return `Export name length ${nameLength} does not fit the option data`;
  }
  const count = data.readUInt16BE(4 + nameLength);
  if (data.length !== 4 + nameLength + 2 + 2 * count) {
    return `NBD_OPT_GO/INFO data holds ${data.length} bytes, not the ${4 + nameLength + 2 + 2 * count} its ${count} information requests need`;
  }
  const infos = new Set<number>();
  for (let i = 0; i < count; i += 1) infos.add(data.readUInt16BE(4 + nameLength + 2 + 2 * i));
  return { name: data.toString('utf8', 4, 4 + nameLength), infos };
}
