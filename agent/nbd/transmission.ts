import type { Socket } from 'node:net';
import type { Logger } from '../log';
import { BufferPool } from '../util/buffer-pool';
import type { WriteOptions } from '../tap/tap';
import { errnoOf } from './errno';
import type { OpenExport } from './exports';
import {
  Cmd,
  CmdFlag,
  Errno,
  MAX_REQUEST_BYTES,
  REPLY_HEADER_BYTES,
  REQUEST_HEADER_BYTES,
  REQUEST_MAGIC,
  readUInt64,
  writeSimpleReply,
} from './protocol';
import type { SocketReader } from './socket-reader';

export interface TransmissionLimits {
  /** Requests read and not yet answered; past it the socket is not read. */
  readonly maxInFlight: number;
  /** Bytes held for requests in flight (write payloads, read buffers) plus unsent replies. */
  readonly maxBufferedBytes: number;
}

export const DEFAULT_TRANSMISSION_LIMITS: TransmissionLimits = {
  maxInFlight: 128,
  maxBufferedBytes: 64 * 1024 * 1024,
};

const FUA: WriteOptions = { fua: true };
/**
 * WRITE payloads that arrive in pieces (anything over a socket chunk) are assembled in pooled
 * buffers, given back once the write is done: a fresh 1 MiB buffer per request lives until
 * the disk and outbox writes end, long enough that only V8's full collections reclaim it.
 * Idle buffers up to the bytes a connection may buffer.
 */
const WRITE_POOL = new BufferPool({
  minBytes: 64 * 1024,
  maxBytes: 4 * 1024 * 1024,
  idleBytes: DEFAULT_TRANSMISSION_LIMITS.maxBufferedBytes,
  aligned: true,
});

/** Command flags each command accepts (FUA is harmless where it means nothing). */
const ALLOWED_FLAGS: Readonly<Record<number, number>> = {
  [Cmd.READ]: CmdFlag.FUA,
  [Cmd.WRITE]: CmdFlag.FUA,
  [Cmd.FLUSH]: CmdFlag.FUA,
  [Cmd.TRIM]: CmdFlag.FUA,
  // NO_HOLE: the extent must end up allocated; the tap always writes zeros, so it is.
  [Cmd.WRITE_ZEROES]: CmdFlag.FUA | CmdFlag.NO_HOLE,
  [Cmd.DISC]: 0,
};

/** A WRITE whose header was read and whose payload is arriving. */
interface PendingWrite {
  readonly offset: number;
  readonly length: number;
  readonly fua: boolean;
  readonly cookieHigh: number;
  readonly cookieLow: number;
  /** EINVAL etc.: the payload is read and dropped, then this is the reply. */
  readonly error: number;
  data: Buffer | undefined;
  filled: number;
}

type State = 'open' | 'disconnecting' | 'closed';

/**
 * The transmission phase of one connection: requests are parsed in place from the socket's
 * chunks, run concurrently against the export, and answered by cookie as each completes
 * (simple replies, several per writev). Back-pressure: past the in-flight or buffered-bytes
 * limit the socket is paused, so a client can never make the server hold more than that.
 * `done` resolves once the socket is closed, every request has settled and the export is
 * released — whatever the client did.
 */
export class Transmission {
  private state: State = 'open';
  private inFlight = 0;
  private buffered = 0;
  private paused = false;
  private pending: PendingWrite | undefined;
  private corked = false;
  private errors = 0;
  private finished = false;
  private resolveDone: () => void = () => undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly reader: SocketReader,
    private readonly exp: OpenExport,
    private readonly log: Logger,
    private readonly limits: TransmissionLimits = DEFAULT_TRANSMISSION_LIMITS,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  start(): void {
    const { socket, reader } = this;
    socket.on('close', () => {
      this.state = 'closed';
      reader.onData = undefined;
      this.maybeFinish();
    });
    socket.on('drain', () => {
      if (this.paused) this.pump();
    });
    if (socket.destroyed) {
      this.state = 'closed';
      this.maybeFinish();
      return;
    }
    reader.onData = () => this.pump();
    this.pump();
  }

  /** Stops reading requests; answers those in flight, then closes (daemon stop). */
  stop(): void {
    if (this.state !== 'open') return;
    this.disconnect();
  }

  // ───────────────────────── reading ─────────────────────────

  private pump(): void {
    const { reader, limits } = this;
    while (this.state === 'open') {
      const write = this.pending;
      if (write !== undefined) {
        if (!this.fill(write)) return this.wantBytes();
        this.pending = undefined;
        this.startWrite(write);
        continue;
      }
      if (
        this.inFlight >= limits.maxInFlight ||
        this.buffered + this.socket.writableLength >= limits.maxBufferedBytes
      ) {
        if (!this.paused) {
          this.paused = true;
          this.socket.pause();
        }
        return;
      }
      if (reader.length < REQUEST_HEADER_BYTES) return this.wantBytes();
      this.readRequest();
    }
  }

  private wantBytes(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Moves what has arrived of a WRITE payload into place; true once it is complete. */
  private fill(write: PendingWrite): boolean {
    const { reader } = this;
    const left = write.length - write.filled;
    if (write.error !== Errno.OK) {
      const k = Math.min(left, reader.length);
      reader.skip(k);
      write.filled += k;
      return write.filled === write.length;
    }
    if (write.data === undefined) {
      if (reader.length === 0) return false;
      // The common case: the whole payload is in one chunk already, used in place.
      if (reader.contiguous() >= write.length) {
        write.data = reader.take(write.length);
        write.filled = write.length;
        return true;
      }
      write.data = WRITE_POOL.take(write.length);
    }
    const k = Math.min(left, reader.length);
    if (k > 0) reader.copyInto(write.data, write.filled, k);
    write.filled += k;
    return write.filled === write.length;
  }

  private readRequest(): void {
    const header = this.reader.take(REQUEST_HEADER_BYTES);
    if (header.readUInt32BE(0) !== REQUEST_MAGIC) {
      return this.abort(`wrong request magic 0x${header.readUInt32BE(0).toString(16)}`);
    }
    const flags = header.readUInt16BE(4);
    const type = header.readUInt16BE(6);
    const cookieHigh = header.readUInt32BE(8);
    const cookieLow = header.readUInt32BE(12);
    const offset = readUInt64(header, 16);
    const length = header.readUInt32BE(24);
    const error = this.check(type, flags, offset, length);
    switch (type) {
      case Cmd.WRITE: {
        // The payload cannot be skipped safely when the client sent more than the maximum.
        if (length > MAX_REQUEST_BYTES) {
          return this.abort(`WRITE of ${length} bytes, over the ${MAX_REQUEST_BYTES} maximum`);
        }
        if (length === 0 && error === Errno.OK) return this.reply(Errno.OK, cookieHigh, cookieLow);
        this.buffered += length;
        this.pending = {
          offset,
          length,
          fua: (flags & CmdFlag.FUA) !== 0,
          cookieHigh,
          cookieLow,
          error,
          data: undefined,
          filled: 0,
        };
        return;
      }
      case Cmd.DISC:
        return this.disconnect();
      default:
        if (error !== Errno.OK) return this.reply(error, cookieHigh, cookieLow);
        return this.run(type, flags, offset, length, cookieHigh, cookieLow);
    }
  }

  /** EINVAL for unknown commands or flags, extents past the end, requests over the maximum. */
  private check(type: number, flags: number, offset: number, length: number): number {
    const allowed = ALLOWED_FLAGS[type];
    if (allowed === undefined || (flags & ~allowed) !== 0) return Errno.EINVAL;
    if (type === Cmd.FLUSH || type === Cmd.DISC) return Errno.OK;
    if (length > MAX_REQUEST_BYTES) return Errno.EINVAL;
    if (offset + length > this.exp.size) return Errno.EINVAL;
    return Errno.OK;
  }

  // ───────────────────────── running ─────────────────────────

  private startWrite(write: PendingWrite): void {
    const { cookieHigh, cookieLow, length } = write;
    if (write.error !== Errno.OK || write.data === undefined) {
      this.buffered -= length;
      return this.reply(write.error, cookieHigh, cookieLow);
    }
    this.inFlight += 1;
    const data = write.data;
    this.exp.backend.write(write.offset, data, write.fua ? FUA : undefined).then(
      () => {
        // Written to the disk and the outbox: nothing holds the payload now (after an error
        // it is left to the collector, in case a part of the write is still going on).
        WRITE_POOL.give(data);
        this.settle(Errno.OK, cookieHigh, cookieLow, length);
      },
      (err: unknown) => this.settle(this.failed(err, 'write'), cookieHigh, cookieLow, length),
    );
  }

  private run(
    type: number,
    flags: number,
    offset: number,
    length: number,
    cookieHigh: number,
    cookieLow: number,
  ): void {
    const { backend } = this.exp;
    const fua = (flags & CmdFlag.FUA) !== 0;
    let work: Promise<unknown>;
    switch (type) {
      case Cmd.READ: {
        if (length === 0) return this.reply(Errno.OK, cookieHigh, cookieLow);
        // Header and data in one buffer: one write, no copy of the data.
        const out = Buffer.allocUnsafe(REPLY_HEADER_BYTES + length);
        const held = out.length;
        this.inFlight += 1;
        this.buffered += held;
        backend.read(offset, length, out.subarray(REPLY_HEADER_BYTES)).then(
          () => {
            writeSimpleReply(out, 0, Errno.OK, cookieHigh, cookieLow);
            this.settleWith(out, held);
          },
          (err: unknown) => this.settle(this.failed(err, 'read'), cookieHigh, cookieLow, held),
        );
        return;
      }
      case Cmd.FLUSH:
        work = backend.flush();
        break;
      case Cmd.TRIM:
        if (length === 0) return this.reply(Errno.OK, cookieHigh, cookieLow);
        work = fua
          ? backend.trim(offset, length).then(() => backend.flush())
          : backend.trim(offset, length);
        break;
      case Cmd.WRITE_ZEROES:
        if (length === 0) return this.reply(Errno.OK, cookieHigh, cookieLow);
        work = backend.zero(offset, length, fua ? FUA : undefined);
        break;
      default:
        return this.reply(Errno.EINVAL, cookieHigh, cookieLow);
    }
    this.inFlight += 1;
    work.then(
      () => this.settle(Errno.OK, cookieHigh, cookieLow, 0),
      (err: unknown) => this.settle(this.failed(err, commandName(type)), cookieHigh, cookieLow, 0),
    );
  }

  private failed(err: unknown, what: string): number {
    const errno = errnoOf(err);
    this.errors += 1;
    // The first failure is worth a warning; a failing disk repeats it at every request.
    const level = this.errors === 1 ? 'warn' : 'debug';
    this.log[level](
      { err, export: this.exp.name, errno, errors: this.errors },
      `NBD ${what} failed`,
    );
    return errno;
  }

  // ───────────────────────── replying ─────────────────────────

  private settle(error: number, cookieHigh: number, cookieLow: number, held: number): void {
    const out = Buffer.allocUnsafe(REPLY_HEADER_BYTES);
    writeSimpleReply(out, 0, error, cookieHigh, cookieLow);
    this.settleWith(out, held);
  }

  private settleWith(reply: Buffer, held: number): void {
    this.inFlight -= 1;
    this.buffered -= held;
    this.send(reply);
    if (this.state === 'open') {
      if (this.paused) this.pump();
    } else if (this.inFlight === 0) {
      if (this.state === 'disconnecting') this.close();
      else this.maybeFinish();
    }
  }

  /** A reply to a request that was never in flight (invalid, or nothing to do). */
  private reply(error: number, cookieHigh: number, cookieLow: number): void {
    const out = Buffer.allocUnsafe(REPLY_HEADER_BYTES);
    writeSimpleReply(out, 0, error, cookieHigh, cookieLow);
    this.send(out);
  }

  /**
   * Replies finishing in the same turn of the event loop leave in one writev; the last one of
   * a quiet connection (queue depth 1) goes at once rather than a loop turn later.
   */
  private send(buf: Buffer): void {
    const { socket } = this;
    if (socket.destroyed || socket.writableEnded) return;
    if (!this.corked && this.inFlight > 0) {
      this.corked = true;
      socket.cork();
      setImmediate(this.uncork);
    }
    socket.write(buf);
  }

  private readonly uncork = (): void => {
    if (!this.corked) return;
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  // ───────────────────────── ending ─────────────────────────

  /** NBD_CMD_DISC (or daemon stop): no more requests; close once those in flight are answered. */
  private disconnect(): void {
    this.state = 'disconnecting';
    this.reader.onData = undefined;
    if (this.inFlight === 0) this.close();
  }

  private close(): void {
    this.uncork();
    const { socket } = this;
    if (socket.destroyed) return this.maybeFinish();
    socket.end(() => socket.destroy());
  }

  /** A protocol violation the stream cannot recover from: drop the connection now. */
  private abort(reason: string): void {
    this.log.warn(
      { export: this.exp.name, reason },
      'NBD client violated the protocol: disconnecting',
    );
    this.state = 'closed';
    this.reader.onData = undefined;
    this.socket.destroy();
    this.maybeFinish();
  }

  /** Once closed with nothing in flight: the export is released and `done` resolves. */
  private maybeFinish(): void {
    if (this.finished || this.state !== 'closed' || this.inFlight > 0) return;
    this.finished = true;
    this.exp.release().then(
      () => this.resolveDone(),
      (err: unknown) => {
        this.log.error({ err, export: this.exp.name }, 'cannot release an NBD export');
        this.resolveDone();
      },
    );
  }
}

function commandName(type: number): string {
  switch (type) {
    case Cmd.FLUSH:
      return 'flush';
    case Cmd.TRIM:
      return 'trim';
    case Cmd.WRITE_ZEROES:
      return 'write-zeroes';
    default:
      return `command ${type}`;
  }
}
