/**
 * Reusable buffers of one size for the replication data path. A fresh 1 MiB Buffer per
 * RECORDS frame is external memory V8 only reclaims by a full mark-compact: at 100+ MiB/s the
 * recovery agent spent almost half its CPU in them. A frame is assembled into a pooled buffer
 * and given back once its records are persisted; an outbox read, once its records are sent.
 *
 * Safe by construction against the two ways a pool goes wrong:
 * - give() of a buffer the pool did not hand out (a view of a socket chunk, a small frame) is
 *   ignored, so a caller can give back whatever payload it was handed;
 * - a buffer given twice is taken back once (it would otherwise be handed to two users).
 * A buffer that is never given back is simply collected. The pool keeps at most `maxFree`
 * idle buffers, so its memory is bounded by what is in use plus maxFree × bufferBytes.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  /** Buffers handed out and not yet given back (weak: a lost one is collected). */
  private readonly out = new WeakSet<ArrayBuffer>();
  private reused = 0;
  private allocated = 0;

  constructor(
    readonly bufferBytes: number,
    readonly maxFree: number,
  ) {
    if (!Number.isSafeInteger(bufferBytes) || bufferBytes <= 0) {
      throw new RangeError('bufferBytes must be a positive integer');
    }
  }

  /**
   * A buffer of exactly `n` bytes (uninitialised). Pooled from half a buffer up to a whole
   * one, so pooled memory in use stays within twice the bytes asked for; else a fresh one.
   */
  take(n: number): Buffer {
    if (n > this.bufferBytes || n < this.bufferBytes / 2) return Buffer.allocUnsafe(n);
    let memory = this.free.pop();
    if (memory === undefined) {
      memory = new ArrayBuffer(this.bufferBytes);
      this.allocated += 1;
    } else {
      this.reused += 1;
    }
    this.out.add(memory);
    return Buffer.from(memory, 0, n);
  }

  /** Gives a buffer from take() back; anything else (or a second give) is ignored. */
  give(buffer: Buffer): void {
    const memory = buffer.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.out.has(memory)) return;
    this.out.delete(memory);
    if (this.free.length < this.maxFree) this.free.push(memory);
  }

  /** How often take() reused a buffer and how many it allocated (for tests and benchmarks). */
  stats(): { reused: number; allocated: number; idle: number } {
    return { reused: this.reused, allocated: this.allocated, idle: this.free.length };
  }
}
