/**
 * A small raw NBD client for tests, written from the protocol document of the NBD project
 * (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md), so that tests can
 * speak the protocol byte by byte — including the malformed bytes no real client sends.
 *
 *   const c = await NbdConnection.connect({ path: socketPath });
 *   await c.handshake();                                   // fixed newstyle, NO_ZEROES
 *   const info = await c.go('disk-1', [NBD_INFO.BLOCK_SIZE]);
 *   await c.write(0, Buffer.alloc(4096, 1));
 *   const data = await c.read(0, 4096);
 *   await c.disconnect();
 *
 * Low level: `send(bytes)`, `take(n)` (the next n bytes from the server), `closed`, and
 * `sendOption`/`readOptionReply`, `sendRequest`/`request` for hand-made frames. After the
 * handshake the connection is in one of two phases; `go`/`exportName` start the reply loop of
 * the transmission phase, which matches every simple reply to its request by cookie.
 */
import { connect as netConnect, type Socket } from 'node:net';

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const OPTION_REPLY_MAGIC = 0x0003e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;

export const NBD_OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

const ERR = 2 ** 31;
export const NBD_REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
} as const;

export const NBD_INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags. */
export const NBD_FLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const NBD_CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const;

/** Command flags. */
export const NBD_CMD_FLAG = { FUA: 1 << 0, NO_HOLE: 1 << 1, DF: 1 << 2, REQ_ONE: 1 << 3 } as const;

/** Error values of simple replies (the protocol's, equal to Linux errno values). */
export const NBD_E = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** The server closed the connection (or it failed) before the bytes awaited arrived. */
export class NbdClosedError extends Error {
  constructor(what: string) {
    super(`NBD connection closed ${what}`);
    this.name = 'NbdClosedError';
  }
}

/** An option was answered with an error reply (NBD_REP_ERR_*). */
export class NbdOptionError extends Error {
  constructor(
    readonly option: number,
    readonly replyType: number,
    readonly text: string,
  ) {
    super(`option ${option} refused: reply type ${replyTypeName(replyType)}: ${text}`);
    this.name = 'NbdOptionError';
  }
}

/** A request was answered with a non-zero error. */
export class NbdRequestError extends Error {
  constructor(
    readonly errno: number,
    readonly cookie: bigint,
  ) {
    super(`NBD request ${cookie} failed with error ${errnoName(errno)}`);
    this.name = 'NbdRequestError';
  }
}

export function replyTypeName(type: number): string {
  const entry = Object.entries(NBD_REP).find(([, v]) => v === type);
  return entry === undefined ? `0x${type.toString(16)}` : `NBD_REP_${entry[0]}`;
}

export function errnoName(errno: number): string {
  const entry = Object.entries(NBD_E).find(([, v]) => v === errno);
  return entry === undefined ? String(errno) : `${entry[0]} (${errno})`;
}

export type NbdTarget =
  { readonly path: string } | { readonly host: string; readonly port: number };

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly data: Buffer;
}

export interface ExportInfo {
  readonly size: bigint;
  readonly flags: number;
  /** From NBD_INFO_BLOCK_SIZE, when the server sent it. */
  readonly blockSize?: {
    readonly minimum: number;
    readonly preferred: number;
    readonly maximum: number;
  };
  /** Every NBD_REP_INFO type received, in order. */
  readonly infoTypes: readonly number[];
}

export interface SimpleReply {
  readonly error: number;
  readonly cookie: bigint;
  /** A READ's data (only when error is 0). */
  readonly data?: Buffer;
}

export interface RequestFrame {
  readonly type: number;
  readonly flags?: number;
  /** Default: the next cookie of this connection. */
  readonly cookie?: bigint;
  readonly offset?: bigint | number;
  /** Default: data's length, or 0. */
  readonly length?: number;
  /** Sent right after the header (a WRITE's payload). */
  readonly data?: Buffer;
  /** Default REQUEST_MAGIC. */
  readonly magic?: number;
}

interface Pending {
  readonly readLength: number;
  readonly resolve: (reply: SimpleReply) => void;
  readonly reject: (err: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 20_000;

export class NbdConnection {
  /** Resolves when the socket has closed (never rejects). */
  readonly closed: Promise<void>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private wake: (() => void) | undefined;
  private readonly pending = new Map<bigint, Pending>();
  private replyLoop: Promise<void> | undefined;
  private nextCookie = 0x5449_4445_0000_0001n; // "TIDE": the high bytes must come back too
  /** Handshake flags the server sent, and the client flags sent back. */
  serverFlags = 0;
  clientFlags = 0;
  /** Set when the reply loop met a reply it cannot account for (a protocol violation). */
  replyError: Error | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.poke();
    });
    socket.on('error', () => undefined); // the close below reports it
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.ended = true;
        this.poke();
        for (const p of this.pending.values()) p.reject(new NbdClosedError('before the reply'));
        this.pending.clear();
        resolve();
      });
    });
    socket.once('end', () => {
      this.ended = true;
      this.poke();
    });
  }

  static connect(target: NbdTarget, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<NbdConnection> {
    return new Promise((resolve, reject) => {
      const socket =
        'path' in target ? netConnect(target.path) : netConnect(target.port, target.host);
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`NBD connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(new NbdConnection(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Connects, handshakes and selects `exportName` with NBD_OPT_GO. */
  static async open(
    target: NbdTarget,
    exportName: string,
  ): Promise<{ conn: NbdConnection; info: ExportInfo }> {
    const conn = await NbdConnection.connect(target);
    await conn.handshake();
    const info = await conn.go(exportName, [NBD_INFO.BLOCK_SIZE]);
    return { conn, info };
  }

  get isClosed(): boolean {
    return this.ended;
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  // ───────────────────────── bytes ─────────────────────────

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Sends and waits until the bytes are handed to the kernel (or the socket failed). */
  sendAndDrain(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** The next `n` bytes from the server; rejects with NbdClosedError if it closes first. */
  async take(n: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered < n) {
      if (this.ended) {
        throw new NbdClosedError(`after ${this.buffered} of ${n} bytes awaited`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${n} bytes from the NBD server within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(left) ? setTimeout(resolve, left) : undefined;
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  /**
   * Resolves 'closed' when the server closes the connection within `timeoutMs`, 'open'
   * otherwise; any bytes the server sends meanwhile are returned too.
   */
  async waitClosed(timeoutMs = 5_000): Promise<{ state: 'closed' | 'open'; extra: Buffer }> {
    let timer: NodeJS.Timeout | undefined;
    const state = await Promise.race([
      this.closed.then(() => 'closed' as const),
      new Promise<'open'>((resolve) => (timer = setTimeout(() => resolve('open'), timeoutMs))),
    ]);
    clearTimeout(timer);
    const extra = this.chunks.length > 0 ? Buffer.concat(this.chunks) : Buffer.alloc(0);
    return { state, extra };
  }

  /** Drops the connection at once (a client that vanishes). */
  destroy(): void {
    this.socket.destroy();
  }

  // ───────────────────────── handshake ─────────────────────────

  /**
   * Reads the server's greeting (NBDMAGIC, IHAVEOPT, handshake flags) and sends the client
   * flags (default FIXED_NEWSTYLE | NO_ZEROES). Throws if the greeting is not fixed newstyle.
   */
  async handshake(clientFlags = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES): Promise<number> {
    const greeting = await this.take(18);
    if (greeting.readBigUInt64BE(0) !== NBDMAGIC) throw new Error('server greeting: not NBDMAGIC');
    if (greeting.readBigUInt64BE(8) !== IHAVEOPT) {
      throw new Error('server greeting: not newstyle (IHAVEOPT)');
    }
    this.serverFlags = greeting.readUInt16BE(16);
    this.clientFlags = clientFlags;
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlags >>> 0);
    this.send(flags);
    return this.serverFlags;
  }

  sendOption(
    option: number,
    data: Buffer = Buffer.alloc(0),
    options: {
      magic?: bigint;
      /** The length field, when it must lie about data's length. */
      length?: number;
    } = {},
  ): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(options.magic ?? IHAVEOPT, 0);
    header.writeUInt32BE(option >>> 0, 8);
    header.writeUInt32BE((options.length ?? data.length) >>> 0, 12);
    this.send(data.length > 0 ? Buffer.concat([header, data]) : header);
  }

  async readOptionReply(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<OptionReply> {
    const header = await this.take(20, timeoutMs);
    const magic = header.readBigUInt64BE(0);
    if (magic !== OPTION_REPLY_MAGIC) {
      throw new Error(`option reply magic 0x${magic.toString(16)}, not 0x3e889045565a9`);
    }
    const length = header.readUInt32BE(16);
    const data = length > 0 ? await this.take(length, timeoutMs) : Buffer.alloc(0);
    return { option: header.readUInt32BE(8), type: header.readUInt32BE(12), data };
  }

  /** NBD_OPT_LIST: the export names. */
  async list(): Promise<string[]> {
    this.sendOption(NBD_OPT.LIST);
    const names: string[] = [];
    for (;;) {
      const reply = await this.readOptionReply();
      if (reply.option !== NBD_OPT.LIST)
        throw new Error(`LIST answered for option ${reply.option}`);
      if (reply.type === NBD_REP.ACK) return names;
      if (reply.type !== NBD_REP.SERVER) {
        throw new NbdOptionError(reply.option, reply.type, reply.data.toString('utf8'));
      }
      const length = reply.data.readUInt32BE(0);
      names.push(reply.data.subarray(4, 4 + length).toString('utf8'));
    }
  }

  /** NBD_OPT_INFO or NBD_OPT_GO; GO moves to the transmission phase. */
  async info(name: string, requests: readonly number[] = [], go = false): Promise<ExportInfo> {
    const option = go ? NBD_OPT.GO : NBD_OPT.INFO;
    const nameBytes = Buffer.from(name, 'utf8');
    const data = Buffer.alloc(4 + nameBytes.length + 2 + 2 * requests.length);
    data.writeUInt32BE(nameBytes.length, 0);
    nameBytes.copy(data, 4);
    data.writeUInt16BE(requests.length, 4 + nameBytes.length);
    requests.forEach((r, i) => data.writeUInt16BE(r, 6 + nameBytes.length + 2 * i));
    this.sendOption(option, data);
    let size: bigint | undefined;
    let flags = 0;
    let blockSize: ExportInfo['blockSize'];
    const infoTypes: number[] = [];
    for (;;) {
      const reply = await this.readOptionReply();
      if (reply.option !== option) throw new Error(`option ${option} answered as ${reply.option}`);
      if (reply.type === NBD_REP.ACK) break;
      if (reply.type !== NBD_REP.INFO) {
        throw new NbdOptionError(option, reply.type, reply.data.toString('utf8'));
      }
      const type = reply.data.readUInt16BE(0);
      infoTypes.push(type);
      if (type === NBD_INFO.EXPORT) {
        size = reply.data.readBigUInt64BE(2);
        flags = reply.data.readUInt16BE(10);
      } else if (type === NBD_INFO.BLOCK_SIZE) {
        blockSize = {
          minimum: reply.data.readUInt32BE(2),
          preferred: reply.data.readUInt32BE(6),
          maximum: reply.data.readUInt32BE(10),
        };
      }
    }
    if (size === undefined) throw new Error(`option ${option}: no NBD_INFO_EXPORT before the ACK`);
    if (go) this.startReplyLoop();
    return { size, flags, infoTypes, ...(blockSize !== undefined && { blockSize }) };
  }

  go(name: string, requests: readonly number[] = []): Promise<ExportInfo> {
    return this.info(name, requests, true);
  }

  /** NBD_OPT_EXPORT_NAME (the old way in): size and flags, then transmission. */
  async exportName(name: string): Promise<ExportInfo> {
    this.sendOption(NBD_OPT.EXPORT_NAME, Buffer.from(name, 'utf8'));
    const zeroes = (this.serverFlags & this.clientFlags & FLAG_NO_ZEROES) !== 0 ? 0 : 124;
    const reply = await this.take(10 + zeroes);
    this.startReplyLoop();
    return { size: reply.readBigUInt64BE(0), flags: reply.readUInt16BE(8), infoTypes: [] };
  }

  // ───────────────────────── transmission ─────────────────────────

  private startReplyLoop(): void {
    this.replyLoop ??= (async () => {
      for (;;) {
        let header: Buffer;
        try {
          header = await this.take(16, Infinity);
        } catch {
          return; // closed: the close handler rejects what is pending
        }
        const magic = header.readUInt32BE(0);
        const error = header.readUInt32BE(4);
        const cookie = header.readBigUInt64BE(8);
        const pending = this.pending.get(cookie);
        if (magic !== SIMPLE_REPLY_MAGIC || pending === undefined) {
          this.replyError = new Error(
            magic !== SIMPLE_REPLY_MAGIC
              ? `reply magic 0x${magic.toString(16)}, not a simple reply`
              : `reply for unknown cookie 0x${cookie.toString(16)}`,
          );
          this.socket.destroy();
          return;
        }
        this.pending.delete(cookie);
        if (error !== 0 || pending.readLength === 0) {
          pending.resolve({ error, cookie });
          continue;
        }
        try {
          pending.resolve({ error, cookie, data: await this.take(pending.readLength, 60_000) });
        } catch (err) {
          pending.reject(err as Error);
        }
      }
    })();
  }

  /** A fresh cookie. */
  cookie(): bigint {
    const cookie = this.nextCookie;
    this.nextCookie += 1n;
    return cookie;
  }

  /** Sends a request header (and payload) as given, without waiting for a reply. */
  sendRequest(frame: RequestFrame): bigint {
    const cookie = frame.cookie ?? this.cookie();
    const header = Buffer.alloc(28);
    header.writeUInt32BE((frame.magic ?? REQUEST_MAGIC) >>> 0, 0);
    header.writeUInt16BE(frame.flags ?? 0, 4);
    header.writeUInt16BE(frame.type, 6);
    header.writeBigUInt64BE(cookie, 8);
    header.writeBigUInt64BE(BigInt(frame.offset ?? 0), 16);
    header.writeUInt32BE((frame.length ?? frame.data?.length ?? 0) >>> 0, 24);
    this.send(frame.data === undefined ? header : Buffer.concat([header, frame.data]));
    return cookie;
  }

  /**
   * Sends a request and resolves with its reply (whatever the error). A READ's reply carries
   * `length` bytes of data when it succeeds.
   */
  request(frame: RequestFrame, timeoutMs = 60_000): Promise<SimpleReply> {
    const cookie = frame.cookie ?? this.cookie();
    if (this.pending.has(cookie)) throw new Error(`cookie ${cookie} already in flight`);
    return new Promise<SimpleReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cookie);
        reject(new Error(`no reply to request ${cookie} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(cookie, {
        readLength: frame.type === NBD_CMD.READ ? (frame.length ?? 0) : 0,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      if (this.ended) {
        this.pending.delete(cookie);
        clearTimeout(timer);
        reject(new NbdClosedError('before the request was sent'));
        return;
      }
      this.sendRequest({ ...frame, cookie });
    });
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  private async ok(frame: RequestFrame): Promise<SimpleReply> {
    const reply = await this.request(frame);
    if (reply.error !== 0) throw new NbdRequestError(reply.error, reply.cookie);
    return reply;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const reply = await this.ok({ type: NBD_CMD.READ, offset, length });
    return reply.data ?? Buffer.alloc(0);
  }

  async write(offset: number, data: Buffer, flags = 0): Promise<void> {
    await this.ok({ type: NBD_CMD.WRITE, offset, data, flags });
  }

  async flush(): Promise<void> {
    await this.ok({ type: NBD_CMD.FLUSH });
  }

  async trim(offset: number, length: number): Promise<void> {
    await this.ok({ type: NBD_CMD.TRIM, offset, length });
  }

  async writeZeroes(offset: number, length: number, flags = 0): Promise<void> {
    await this.ok({ type: NBD_CMD.WRITE_ZEROES, offset, length, flags });
  }

  /** NBD_CMD_DISC (no reply), then waits for the server to close. */
  async disconnect(timeoutMs = 5_000): Promise<void> {
    this.sendRequest({ type: NBD_CMD.DISC });
    const { state } = await this.waitClosed(timeoutMs);
    if (state !== 'closed') {
      this.destroy();
      throw new Error(`the server did not close the connection within ${timeoutMs} ms of DISC`);
    }
  }
}
