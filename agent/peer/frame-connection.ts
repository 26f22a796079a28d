import { sourceKey } from '../security/source-key';
import type { TLSSocket } from 'node:tls';
import { TidelineError, isTidelineError } from '../../app/errors';
import type { Logger } from '../log';
import { FrameDecoder, FrameTooLargeError } from './frame-decoder';
import {
  RefusedSchema,
  decodeJson,
  encodeJson,
  refusalError,
  type Refused,
  type RefusalReason,
} from './messages';
import {
  FrameType,
  decodeStamp,
  encodeStamp,
  frameHeader,
  frameTypeName,
  type Frame,
  type FrameTypeCode,
} from './wire';

export interface CloseInfo {
  /** Why the connection ended, for logs and a peer's lastError. */
  readonly reason: string;
  /** The REFUSED frame the other side sent before closing, if it sent one. */
  readonly refused?: Refused;
}

export type FrameHandler = (frame: Frame) => void;

/** After end(), how long the other side has to close before the socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;
/** A connection with nothing received for this many keepalive intervals is dead. */
const SILENT_INTERVALS = 3;

/**
 * One TLS connection carrying frames. It owns the socket: decoding, PING/PONG and keepalive,
 * REFUSED handling and closing. Everything else goes to the current frame handler; while no
 * handler is set (between a handshake frame and the owner taking over) frames stay in the
 * decoder and the socket is paused, so nothing is lost and nothing piles up.
 *
 * A handler that throws a TidelineError closes the connection with a REFUSED frame carrying
 * its message (a peer that breaks the protocol is cut off, never trusted further).
 */
export class FrameConnection {
  readonly closed: Promise<CloseInfo>;
  /** The peer certificate's SHA-256 fingerprint (AB:CD:…), if it presented one. */
  readonly peerFingerprint: string | undefined;
  readonly remote: string;
  /** What admission limits and refusal logs count by (IPv4 address, IPv6 /64). */
  readonly source: string;
  /** Round-trip time of the last PING, in ms. */
  rttMs: number | undefined;
  private resolveClosed: (info: CloseInfo) => void = () => undefined;
  private readonly decoder: FrameDecoder;
  private handler: FrameHandler | undefined;
  private readonly holds = new Set<string>();
  private closeReason: string | undefined;
  private remoteRefusal: Refused | undefined;
  private isClosed = false;
  private lastReceived = performance.now();
  private keepalive: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private decoding = false;

  constructor(
    private readonly socket: TLSSocket,
    maxPayload: number,
    private readonly log: Logger,
  ) {
    this.decoder = new FrameDecoder(maxPayload);
    this.peerFingerprint = socket.getPeerX509Certificate()?.fingerprint256;
    this.remote = `${normalizeHost(socket.remoteAddress)}:${socket.remotePort ?? 0}`;
    this.source = sourceKey(socket.remoteAddress);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.closeReason ??= `connection error: ${err.message}`;
    });
    socket.on('end', () => {
      this.closeReason ??= 'closed by the peer';
      socket.end();
    });
    socket.on('close', () => this.onClose());
    this.hold('no-handler', true); // nothing is read until the owner sets a handler
  }

  get isOpen(): boolean {
    return !this.isClosed && this.closeReason === undefined;
  }

  setMaxPayload(bytes: number): void {
    this.decoder.maxPayload = bytes;
  }

  /** Routes frames to `handler` (undefined: hold them until a handler is set again). */
  setHandler(handler: FrameHandler | undefined): void {
    this.handler = handler;
    this.hold('no-handler', handler === undefined);
    if (handler !== undefined) this.decode();
  }

  /** Resolves with the next frame (the handler is unset after it, holding later frames). */
  nextFrame(timeoutMs: number, what: string): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.setHandler(undefined);
        reject(
          new TidelineError(
            'TIMEOUT',
            `No ${what} from ${this.remote} within ${Math.round(timeoutMs / 1000)} s`,
          ),
        );
      }, timeoutMs);
      const onClosed = (info: CloseInfo): void => {
        clearTimeout(timer);
        reject(
          info.refused !== undefined
            ? refusalError(info.refused)
            : new TidelineError(
                'CONNECTION_CLOSED',
                `Connection to ${this.remote} closed before the ${what}: ${info.reason}`,
              ),
        );
      };
      void this.closed.then(onClosed);
      this.setHandler((frame) => {
        clearTimeout(timer);
        this.setHandler(undefined);
        resolve(frame);
      });
    });
  }

  /** Pauses reading while any hold is on (receive back-pressure). */
  hold(key: string, on: boolean): void {
    if (on) this.holds.add(key);
    else this.holds.delete(key);
    if (this.isClosed) return;
    if (this.holds.size > 0) this.socket.pause();
    else this.socket.resume();
  }

  /** Writes one frame; false when the socket's buffer is full (wait for writable()). */
  send(type: FrameTypeCode, payload: Buffer = Buffer.alloc(0)): boolean {
    return this.sendParts(type, [payload]);
  }

  sendJson(type: FrameTypeCode, value: unknown): boolean {
    return this.send(type, encodeJson(value));
  }

  /**
   * Writes one frame whose payload is `parts` concatenated, without copying them. `onWritten`
   * is called once the socket no longer needs the parts (handed to TLS, which encrypts them
   * into its own buffers), or with an error if it closed first (at once if it was closed).
   */
  sendParts(
    type: FrameTypeCode,
    parts: readonly Buffer[],
    onWritten?: (err?: Error | null) => void,
  ): boolean {
    if (!this.isOpen || this.socket.destroyed) {
      onWritten?.(this.closedError());
      return false;
    }
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    const chunks = [frameHeader(type, length), ...parts.filter((part) => part.length > 0)];
    this.socket.cork();
    // Chunks are handled in order, so the last one's callback covers them all.
    chunks.forEach((chunk, i) => {
      this.socket.write(chunk, i === chunks.length - 1 ? onWritten : undefined);
    });
    this.socket.uncork();
    return !this.socket.writableNeedDrain;
  }

  /** Resolves once the socket can take more (at once if it can); rejects when it closes. */
  writable(): Promise<void> {
    if (!this.isOpen) return Promise.reject(this.closedError());
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('drain', onDrain);
        reject(this.closedError());
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  /** Pings every `intervalMs`; a peer silent for 3 intervals is cut off. */
  startKeepalive(intervalMs: number): void {
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    this.lastReceived = performance.now();
    this.keepalive = setInterval(() => {
      const silentMs = performance.now() - this.lastReceived;
      if (silentMs > intervalMs * SILENT_INTERVALS) {
        this.log.warn(
          { remote: this.remote, silentMs: Math.round(silentMs) },
          'peer silent: closing the link',
        );
        this.refuse(
          'silent',
          'TIMEOUT',
          `Nothing received for ${Math.round(silentMs / 1000)} s: closing the link`,
        );
        this.socket.destroy();
        return;
      }
      this.send(FrameType.PING, encodeStamp(performance.now()));
    }, intervalMs);
    this.keepalive.unref();
  }

  /** Sends REFUSED with the reason, then closes. */
  refuse(reason: RefusalReason, code: string, message: string): void {
    if (this.isOpen && !this.socket.destroyed) {
      this.sendJson(FrameType.REFUSED, { reason, code, message } satisfies Refused);
    }
    this.close(`${reason}: ${message}`);
  }

  /** Ends the connection (the peer has CLOSE_GRACE_MS to finish before it is destroyed). */
  close(reason: string): void {
    this.closeReason ??= reason;
    this.setHandlerQuietly();
    if (this.isClosed) return;
    this.socket.end();
    this.graceTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  destroy(reason: string): void {
    this.closeReason ??= reason;
    this.socket.destroy();
  }

  private setHandlerQuietly(): void {
    this.handler = undefined;
  }

  private closedError(): TidelineError {
    return new TidelineError(
      'CONNECTION_CLOSED',
      `The link to ${this.remote} closed: ${this.closeReason ?? 'closed'}`,
    );
  }

  private onData(chunk: Buffer): void {
    this.lastReceived = performance.now();
    this.decoder.push(chunk);
    this.decode();
  }

  private decode(): void {
    if (this.decoding) return; // a handler set from inside a handler: the loop below goes on
    this.decoding = true;
    try {
      while (this.handler !== undefined && this.isOpen) {
        let frame: Frame | undefined;
        try {
          frame = this.decoder.next();
        } catch (err) {
          if (err instanceof FrameTooLargeError) {
            this.log.warn(
              { remote: this.remote, size: err.size, limit: err.limit },
              'peer frame too large',
            );
            this.refuse('frame-too-large', err.code, err.message);
            return;
          }
          throw err;
        }
        if (frame === undefined) return;
        this.dispatch(frame);
      }
    } finally {
      this.decoding = false;
    }
  }

  private dispatch(frame: Frame): void {
    try {
      switch (frame.type) {
        case FrameType.PING:
          decodeStamp(frame.payload);
          this.send(FrameType.PONG, frame.payload);
          return;
        case FrameType.PONG:
          this.rttMs = Math.max(0, performance.now() - decodeStamp(frame.payload));
          return;
        case FrameType.REFUSED: {
          this.remoteRefusal = decodeJson(frame.payload, RefusedSchema, 'REFUSED');
          this.closeReason ??= `refused by the peer (${this.remoteRefusal.reason}): ${this.remoteRefusal.message}`;
          this.close(this.closeReason);
          return;
        }
        default:
          if (frameTypeName(frame.type) === undefined) {
            throw new TidelineError(
              'INVALID_REQUEST',
              `Peer protocol error: unknown frame type ${frame.type}`,
            );
          }
          this.handler?.(frame);
      }
    } catch (err) {
      if (isTidelineError(err)) {
        this.log.warn({ remote: this.remote, err: err.message }, 'peer protocol error: closing');
        this.refuse('protocol', err.code, err.message);
        return;
      }
      this.log.error({ err, remote: this.remote }, 'internal error handling a peer frame');
      this.refuse(
        'internal',
        'INTERNAL_ERROR',
        'Internal error on the receiving agent: see its log',
      );
    }
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.handler = undefined;
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.resolveClosed({
      reason: this.closeReason ?? 'connection closed',
      ...(this.remoteRefusal !== undefined && { refused: this.remoteRefusal }),
    });
  }
}

function normalizeHost(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  return address.includes(':') ? `[${address}]` : address;
}
