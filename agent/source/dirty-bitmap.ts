import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { TidelineError } from '../../app/errors';
import { writeFileAtomic } from '../store/atomic-file';
import { errnoMessage, isErrno } from '../store/json-file';
import { drop } from '../util/drop';
import { readFully } from '../util/read-fully';

export const DEFAULT_REGION_BYTES = 64 * 1024;
/** Bits are written back a page at a time; the header has a page of its own. */
const PAGE = 4096;
const MAGIC = 0x4d424c54; // "TLBM"
const VERSION = 1;

export interface DirtyBitmapOptions {
  /** e.g. `<outbox dir>/dirty-<diskId>.bitmap` */
  readonly path: string;
  readonly diskSize: number;
  /** Bytes per region (default 64 KiB); a power of two, at least 4 KiB. */
  readonly regionBytes?: number;
}

export interface DirtyRegion {
  readonly index: number;
  readonly offset: number;
  readonly length: number;
}

/** How the file was found at open. Anything but 'loaded' starts with every region dirty. */
export type BitmapOpenState = 'loaded' | 'created' | 'geometry-changed' | 'damaged';

/**
 * Which fixed-size regions of a disk were written while the VPG could not keep records (the
 * outbox was over its limit): resync later compares and sends exactly those regions.
 *
 * The file is created once at its full size (a header page, then the bits), and updated in
 * place: mark() sets bits in memory and resolves only after the pages it changed were written
 * and fdatasynced (concurrent marks share one write-back). So a region written after overflow
 * is dirty on stable storage BEFORE the VM gets its ack; a crash can only leave extra bits set
 * (a torn page write happens before the ack it guards, and cleared bits are written lazily),
 * which costs a redundant compare, never a missed region. In-place writes need no new blocks,
 * so marking keeps working on a full filesystem. A damaged or resized file makes every region
 * dirty: a full hash compare is always a correct answer.
 */
export class DirtyBitmap {
  readonly regionBytes: number;
  readonly regionCount: number;
  private dirtyCount = 0;
  private readonly pending = new Set<number>();
  private readonly writing = new Set<number>();
  private nextFlush:
    { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private flushing: Promise<void> | undefined;

  private constructor(
    private readonly options: DirtyBitmapOptions,
    private readonly handle: FileHandle,
    private readonly bits: Buffer,
    readonly openState: BitmapOpenState,
  ) {
    this.regionBytes = options.regionBytes ?? DEFAULT_REGION_BYTES;
    this.regionCount = Math.ceil(options.diskSize / this.regionBytes);
    for (const byte of bits) this.dirtyCount += popcount(byte);
  }

  static async open(options: DirtyBitmapOptions): Promise<DirtyBitmap> {
    const regionBytes = options.regionBytes ?? DEFAULT_REGION_BYTES;
    if (regionBytes < 4096 || (regionBytes & (regionBytes - 1)) !== 0) {
      throw new RangeError(`region size ${regionBytes} is not a power of two of at least 4096`);
    }
    const regionCount = Math.ceil(options.diskSize / regionBytes);
    const bitBytes = Math.max(PAGE, Math.ceil(regionCount / 8 / PAGE) * PAGE);
    let state: BitmapOpenState;
    let bits: Buffer | undefined;
    try {
      const found = await readBits(options.path, regionBytes, options.diskSize, bitBytes);
      state = found.state;
      bits = found.bits;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) {
        throw new TidelineError(
          'INTERNAL_ERROR',
          `Cannot read dirty bitmap ${options.path}: ${errnoMessage(err)}`,
        );
      }
      state = 'created';
    }
    if (bits === undefined) {
      bits = Buffer.alloc(bitBytes);
      // A new bitmap of a disk that was protected before (damaged, resized) must assume the
      // worst; a brand-new one starts clean (the caller marks what initial sync must copy).
      if (state !== 'created') setRange(bits, 0, regionCount);
      await writeFileAtomic(
        options.path,
        Buffer.concat([header(regionBytes, options.diskSize), bits]),
        { mode: 0o600 },
      );
    }
    const handle = await open(options.path, 'r+');
    const bitmap = new DirtyBitmap(options, handle, bits, state);
    return bitmap;
  }

  /** Regions currently dirty. */
  get count(): number {
    return this.dirtyCount;
  }

  /** Bytes of disk covered by dirty regions (the last region may be short). */
  get dirtyBytes(): number {
    if (this.dirtyCount === 0) return 0;
    const last = this.regionCount - 1;
    const lastShort = this.isDirty(last) ? this.regionBytes - this.regionLength(last) : 0;
    return this.dirtyCount * this.regionBytes - lastShort;
  }

  isDirty(index: number): boolean {
    return ((this.bits[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;
  }

  /**
   * Marks every region the extent touches. Resolves once those bits are on stable storage
   * (at once if they already were).
   */
  mark(offset: number, length: number): Promise<void> {
    if (length <= 0) return Promise.resolve();
    const first = Math.floor(offset / this.regionBytes);
    const last = Math.min(
      this.regionCount - 1,
      Math.floor((offset + length - 1) / this.regionBytes),
    );
    let waitPending = false;
    let waitWriting = false;
    for (let i = first; i <= last; i += 1) {
      const page = pageOf(i);
      if (!this.isDirty(i)) {
        this.bits[i >> 3] = (this.bits[i >> 3] ?? 0) | (1 << (i & 7));
        this.dirtyCount += 1;
        this.pending.add(page);
        waitPending = true;
      } else if (this.pending.has(page)) {
        waitPending = true;
      } else if (this.writing.has(page)) {
        waitWriting = true;
      }
    }
    if (waitPending) return this.scheduleFlush();
    if (waitWriting && this.flushing !== undefined) return this.flushing;
    return Promise.resolve();
  }

  /** Marks the whole disk (initial sync, or a full resync after a host crash). */
  markAll(): Promise<void> {
    return this.mark(0, this.regionCount * this.regionBytes);
  }

  /**
   * The region was resynced. Written back lazily (with the next flush): a crash before that
   * leaves it dirty, which is safe. Returns the write-back for callers that want to wait.
   */
  clear(index: number): Promise<void> {
    if (index < 0 || index >= this.regionCount || !this.isDirty(index)) return Promise.resolve();
    this.bits[index >> 3] = (this.bits[index >> 3] ?? 0) & ~(1 << (index & 7));
    this.dirtyCount -= 1;
    this.pending.add(pageOf(index));
    return this.scheduleFlush();
  }

  /** The dirty regions in disk order (a snapshot is not taken: bits cleared meanwhile are skipped). */
  *dirtyRegions(): IterableIterator<DirtyRegion> {
    for (let byte = 0; byte < this.bits.length; byte += 1) {
      if (this.bits[byte] === 0) continue;
      for (let bit = 0; bit < 8; bit += 1) {
        const index = byte * 8 + bit;
        if (index >= this.regionCount) return;
        if (this.isDirty(index)) {
          yield { index, offset: index * this.regionBytes, length: this.regionLength(index) };
        }
      }
    }
  }

  /** Writes back every changed page and fdatasyncs. */
  flush(): Promise<void> {
    return this.pending.size > 0 ? this.scheduleFlush() : (this.flushing ?? Promise.resolve());
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.handle.close();
    }
  }

  private regionLength(index: number): number {
    return Math.min(this.regionBytes, this.options.diskSize - index * this.regionBytes);
  }

  private scheduleFlush(): Promise<void> {
    let batch = this.nextFlush;
    if (batch === undefined) {
      let resolve = (): void => undefined;
      let reject = (_: unknown): void => undefined;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = { promise, resolve, reject };
      this.nextFlush = batch;
      // On the next microtask, so that the marks of one tick share a write-back.
      if (this.flushing === undefined) {
        queueMicrotask(() => {
          if (this.flushing === undefined) this.startFlush();
        });
      }
    }
    return batch.promise;
  }

  /** One write-back at a time; marks made meanwhile wait for the next one. */
  private startFlush(): void {
    const batch = this.nextFlush;
    if (batch === undefined) return;
    this.nextFlush = undefined;
    const pages = [...this.pending].sort((a, b) => a - b);
    this.pending.clear();
    for (const p of pages) this.writing.add(p);
    this.flushing = this.writePages(pages).then(
      () => batch.resolve(),
      (err: unknown) => {
        // The pages are still changed: the next flush retries them.
        for (const p of pages) this.pending.add(p);
        batch.reject(
          new TidelineError(
            'INTERNAL_ERROR',
            `Cannot write dirty bitmap ${this.options.path}: ${errnoMessage(err)}`,
          ),
        );
      },
    );
    drop(
      this.flushing.finally(() => {
        this.writing.clear();
        this.flushing = undefined;
        if (this.nextFlush !== undefined) this.startFlush();
      }),
      () => undefined,
    );
  }

  private async writePages(pages: number[]): Promise<void> {
    for (const page of pages) {
      const start = page * PAGE;
      // A copy: marks made while the write is in flight must not tear it.
      const bytes = Buffer.from(this.bits.subarray(start, start + PAGE));
      await this.handle.write(bytes, 0, bytes.length, PAGE + start);
    }
    await this.handle.datasync();
  }
}

function pageOf(index: number): number {
  return Math.floor(index / 8 / PAGE);
}

function header(regionBytes: number, diskSize: number): Buffer {
  const out = Buffer.alloc(PAGE);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(VERSION, 4);
  out.writeUInt32LE(regionBytes, 8);
  out.writeBigUInt64LE(BigInt(diskSize), 16);
  out.writeUInt32LE(crc32(out.subarray(0, 24)), 24);
  return out;
}

/** The bits of a valid file of this geometry, or why there are none. */
async function readBits(
  path: string,
  regionBytes: number,
  diskSize: number,
  bitBytes: number,
): Promise<{ state: BitmapOpenState; bits?: Buffer }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const buf = Buffer.alloc(size);
    if ((await readFully(handle, buf, 0)) !== size) return { state: 'damaged' };
    if (size < PAGE || buf.readUInt32LE(0) !== MAGIC || buf.readUInt32LE(4) !== VERSION) {
      return { state: 'damaged' };
    }
    if (crc32(buf.subarray(0, 24)) !== buf.readUInt32LE(24)) return { state: 'damaged' };
    if (buf.readUInt32LE(8) !== regionBytes || Number(buf.readBigUInt64LE(16)) !== diskSize) {
      return { state: 'geometry-changed' };
    }
    if (size !== PAGE + bitBytes) return { state: 'damaged' };
    return { state: 'loaded', bits: buf.subarray(PAGE) };
  } finally {
    await handle.close();
  }
}

function setRange(bits: Buffer, first: number, count: number): void {
  for (let i = first; i < first + count; i += 1)
    bits[i >> 3] = (bits[i >> 3] ?? 0) | (1 << (i & 7));
}

function popcount(byte: number): number {
  let n = byte;
  let c = 0;
  while (n !== 0) {
    n &= n - 1;
    c += 1;
  }
  return c;
}
