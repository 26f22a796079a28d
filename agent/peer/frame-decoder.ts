import { TidelineError } from '../../app/errors';
import { BufferPool } from '../util/buffer-pool';
import { formatBytes } from '../util/bytes';
import { FRAME_HEADER_BYTES, RECORDS_BATCH_BYTES, type Frame } from './wire';

/** A frame header announced more payload than the connection accepts. */
export class FrameTooLargeError extends TidelineError {
  constructor(
    readonly size: number,
    readonly limit: number,
    readonly frameType: number,
  ) {
    super(
      'FRAME_TOO_LARGE',
      `Peer frame of type ${frameType} announces ${formatBytes(size)}, over the limit of ${formatBytes(limit)}`,
      { size, limit, frameType },
    );
  }
}

/**
 * One per process. The largest class holds a RECORDS frame: a batch of at most 1 MiB of
 * records, or one record of a 1 MiB write. Idle buffers up to the receive backlog (64 MiB),
 * what is held at peak: with fewer, dropped buffers kept V8 collecting (8 idle buffers: 291
 * full collections in one bench:replication run, 24: 150, 80: 43).
 */
export const RECEIVE_POOL = new BufferPool({
  minBytes: 64 * 1024,
  maxBytes: RECORDS_BATCH_BYTES + 64 * 1024,
  idleBytes: 64 * 1024 * 1024,
});

/**
 * Streaming frame decoder: push() TCP chunks as they come (a frame may be split across any
 * number of chunks, and a chunk may hold many frames), then take frames with next() until it
 * returns undefined. An oversized frame is refused from its header, before its payload is
 * buffered. A payload that lies within one chunk is a view of it (no copy).
 *
 * next() is pull-based so a caller can change `maxPayload` between two frames of one chunk
 * (raised once the peer is authenticated) or stop taking frames for a while.
 *
 * A large payload split across chunks (every RECORDS frame: TLS delivers ≤ 16 KiB at a time)
 * is assembled in a buffer of `pool`: the frame's consumer gives it back with
 * `pool.give(payload)` once done with it (RECORDS: once persisted), or lets it be collected.
 * (Pooled memory in use stays within twice the payload bytes the connection holds.)
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private head = 0; // index of the first chunk not wholly consumed
  private offset = 0; // consumed bytes of chunks[head]
  private buffered = 0;

  constructor(
    public maxPayload: number,
    private readonly pool: BufferPool = RECEIVE_POOL,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    if (this.buffered < FRAME_HEADER_BYTES) return undefined;
    const header = this.read(FRAME_HEADER_BYTES, false);
    const length = header.readUInt32BE(0);
    const type = header.readUInt8(4);
    if (length > this.maxPayload) throw new FrameTooLargeError(length, this.maxPayload, type);
    if (this.buffered < FRAME_HEADER_BYTES + length) return undefined;
    this.read(FRAME_HEADER_BYTES, true);
    return { type, payload: this.read(length, true) };
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The next `n` buffered bytes (a view when they lie in one chunk); `consume` removes them. */
  private read(n: number, consume: boolean): Buffer {
    const first = this.chunks[this.head];
    if (first === undefined || n === 0) return Buffer.alloc(0);
    let out: Buffer;
    let index = this.head;
    let offset = this.offset;
    if (first.length - offset >= n) {
      out = first.subarray(offset, offset + n);
      offset += n;
    } else {
      out = consume ? this.pool.take(n) : Buffer.allocUnsafe(n);
      let copied = 0;
      while (copied < n) {
        const chunk = this.chunks[index];
        if (chunk === undefined) throw new Error('frame decoder underrun');
        const count = chunk.copy(out, copied, offset, Math.min(chunk.length, offset + n - copied));
        copied += count;
        offset += count;
        if (offset === chunk.length && copied < n) {
          index++;
          offset = 0;
        }
      }
    }
    if (!consume) return out;
    const last = this.chunks[index];
    if (last !== undefined && offset === last.length) {
      index++;
      offset = 0;
    }
    this.head = index;
    this.offset = offset;
    this.buffered -= n;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}
