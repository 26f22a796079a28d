import { allocAligned } from './direct-io';
/**
 * Reusable buffers for the replication data path. A fresh 1 MiB Buffer per RECORDS frame is
 * external memory that outlives the young generation (it waits in the receive backlog, then
 * for the journal's fdatasync), so V8 reclaims it only by full mark-compacts: at 100+ MiB/s
 * the recovery agent spent almost half its CPU in them. A frame is assembled into a pooled
 * buffer and given back once its records are persisted; an outbox read, once it was sent.
 *
 * Sizes come in classes, powers of two from `minBytes` up to `maxBytes` (the last class is
 * `maxBytes` itself): a request of n bytes gets the smallest class that holds it, so pooled
 * memory in use stays within twice the bytes asked for. Smaller or larger requests get a fresh
 * buffer (small ones die young and cost nothing).
 *
 * Safe by construction against the two ways a pool goes wrong:
 * - give() of a buffer the pool did not hand out (a view of a socket chunk, a small frame) is
 *   ignored, so a caller can give back whatever payload it was handed;
 * - a buffer given twice is taken back once (it would otherwise be handed to two users).
 * A buffer that is never given back is simply collected.
 *
 * Memory: what is in use, plus idle buffers up to `idleBytes` in all. Idle ones decay: every
 * `decayMs`, each class drops as many as stayed idle the whole time (the low-water mark of
 * its free list), so a burst's buffers do not stay for good. Buffers dropped in steady state
 * are what drives the full collections, so `idleBytes` should cover what the user holds at
 * its peak (for RECORDS frames: the receive backlog).
 */
export interface BufferPoolOptions {
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly idleBytes: number;
  readonly decayMs?: number;
  /** Page-aligned memory (util/direct-io.ts allocAligned) for classes of whole 64 KiB pages. */
  readonly aligned?: boolean;
}

interface SizeClass {
  readonly bytes: number;
  readonly free: ArrayBuffer[];
  lowWater: number;
}

export class BufferPool {
  private readonly classes: SizeClass[] = [];
  /** Buffers handed out and not yet given back (weak: a lost one is collected). */
  private readonly out = new WeakSet<ArrayBuffer>();
  private idle = 0;
  private reused = 0;
  private allocated = 0;
  private decayTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BufferPoolOptions) {
    const { minBytes, maxBytes } = options;
    if (!Number.isSafeInteger(minBytes) || minBytes <= 0 || maxBytes < minBytes) {
      throw new RangeError('0 < minBytes <= maxBytes');
    }
    for (let bytes = minBytes; bytes < maxBytes; bytes *= 2) {
      this.classes.push({ bytes, free: [], lowWater: 0 });
    }
    this.classes.push({ bytes: maxBytes, free: [], lowWater: 0 });
  }

  /** A buffer of exactly `n` bytes (uninitialised): pooled within the classes, else fresh. */
  take(n: number): Buffer {
    const size =
      n >= this.options.minBytes / 2 ? this.classes.find((c) => c.bytes >= n) : undefined;
    if (size === undefined) return Buffer.allocUnsafe(n);
    let memory = size.free.pop();
    if (memory === undefined) {
      memory =
        (this.options.aligned === true ? allocAligned(size.bytes) : undefined) ??
        new ArrayBuffer(size.bytes);
      this.allocated += 1;
    } else {
      this.idle -= size.bytes;
      this.reused += 1;
      size.lowWater = Math.min(size.lowWater, size.free.length);
    }
    this.out.add(memory);
    return Buffer.from(memory, 0, n);
  }

  /** Gives a buffer from take() back; anything else (or a second give) is ignored. */
  give(buffer: Buffer): void {
    const memory = buffer.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.out.has(memory)) return;
    this.out.delete(memory);
    const size = this.classes.find((c) => c.bytes === memory.byteLength);
    if (size === undefined || this.idle + size.bytes > this.options.idleBytes) return;
    size.free.push(memory);
    this.idle += size.bytes;
    if (this.decayTimer === undefined) {
      for (const c of this.classes) c.lowWater = c.free.length;
      this.decayTimer = setInterval(() => this.decay(), this.options.decayMs ?? 10_000);
      this.decayTimer.unref();
    }
  }

  /** Drops the buffers that stayed idle since the last decay. */
  decay(): void {
    for (const c of this.classes) {
      const dropped = c.free.splice(0, Math.min(c.lowWater, c.free.length));
      this.idle -= dropped.length * c.bytes;
      c.lowWater = c.free.length;
    }
    if (this.idle === 0 && this.decayTimer !== undefined) {
      clearInterval(this.decayTimer);
      this.decayTimer = undefined;
    }
  }

  /** Reuses, allocations and idle bytes so far (for tests and benchmarks). */
  stats(): { reused: number; allocated: number; idleBytes: number } {
    return { reused: this.reused, allocated: this.allocated, idleBytes: this.idle };
  }
}
