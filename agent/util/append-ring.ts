import { allocAligned } from './direct-io';

/**
 * The last bytes appended to one file, kept in page-aligned memory at `position mod size`:
 * - O_DIRECT appends are written from it (it is their staging buffer, so keeping the bytes
 *   costs no copy beyond the one staging already made);
 * - a reader that asks for recent bytes (the sender, a few MiB behind the outbox's appends)
 *   copies them from memory instead of reading the file, which takes one of the four passes
 *   over the disk that bench:replication makes per byte (bench/README.md § 13).
 *
 * A ring serves one file at a time (`owner`): a file that appends claims it, and what it held
 * of the file before is forgotten. Invariants: it holds the file's bytes [lo, hi), and
 * hi - lo <= size. Bytes past hi (padding, a write that failed) are never read from it.
 */
export class AppendRing {
  private owner: object | undefined;
  private lo = 0;
  private hi = 0;
  private released = false;

  private constructor(
    private readonly memory: Buffer,
    /** A multiple of util/direct-io.ts DIRECT_BLOCK, so an aligned file position is an aligned ring offset. */
    readonly size: number,
  ) {}

  /**
   * A ring of `bytes` (a multiple of 64 KiB), or undefined once the process's rings take
   * RING_BUDGET_BYTES, or where page-aligned memory is refused: the file then reads back from
   * the disk, as it would without one.
   */
  static take(bytes: number): AppendRing | undefined {
    if (budgetUsed + bytes > RING_BUDGET_BYTES) return undefined;
    const memory = allocAligned(bytes);
    if (memory === undefined) return undefined;
    budgetUsed += bytes;
    return new AppendRing(Buffer.from(memory), bytes);
  }

  /** Gives the ring's memory back to the budget; it holds nothing from then on. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.owner = undefined;
    budgetUsed -= this.size;
  }

  /** Whether it holds the bytes [start, end) of `owner`'s file. */
  holds(owner: object, start: number, end: number): boolean {
    return this.owner === owner && this.lo <= start && end <= this.hi && start <= end;
  }

  /** Forgets what it holds of `owner`'s file (its bytes changed some other way). */
  forget(owner: object): void {
    if (this.owner === owner) this.hi = this.lo;
  }

  /**
   * `owner`'s file holds `buffers` (`bytes` in all) from `position` on: anything held past
   * `position` is dropped, and if `position` is not next to what it holds, what it held is.
   */
  put(owner: object, position: number, buffers: readonly Buffer[], bytes: number): void {
    if (bytes > this.size) {
      this.owner = owner;
      this.lo = this.hi = position + bytes;
      return;
    }
    if (this.owner !== owner || position < this.lo || position > this.hi) {
      this.owner = owner;
      this.lo = position;
    }
    let at = position;
    for (const buffer of buffers) {
      for (let from = 0; from < buffer.length;) {
        const offset = at % this.size;
        const n = buffer.copy(this.memory, offset, from); // up to the ring's end
        from += n;
        at += n;
      }
    }
    this.hi = position + bytes;
    this.lo = Math.max(this.lo, this.hi - this.size);
  }

  /** Zeros the ring from `from` (= hi) to `to` (the padding of an O_DIRECT write). */
  zero(from: number, to: number): void {
    for (let at = from; at < to;) {
      const offset = at % this.size;
      const n = Math.min(to - at, this.size - offset);
      this.memory.fill(0, offset, offset + n);
      at += n;
    }
    this.lo = Math.max(this.lo, to - this.size);
  }

  /** The ring's memory for the file's bytes [start, end): one slice, or two where it wraps. */
  slices(start: number, end: number): Buffer[] {
    const offset = start % this.size;
    const length = end - start;
    if (offset + length <= this.size) return [this.memory.subarray(offset, offset + length)];
    return [this.memory.subarray(offset), this.memory.subarray(0, offset + length - this.size)];
  }

  /** Copies the held bytes [start, end) into `into` at `at`. */
  copyOut(start: number, end: number, into: Buffer, at = 0): void {
    let to = at;
    for (const slice of this.slices(start, end)) to += slice.copy(into, to);
  }
}

/** All rings of the process together (RSS with many VPGs, issue 16). */
export const RING_BUDGET_BYTES = 64 * 1024 * 1024;
let budgetUsed = 0;
