import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { AppendRing } from './append-ring';
import { readFully } from './read-fully';

/**
 * Appending through O_DIRECT. On the machines measured (bench/direct-io.mjs, bench/README.md
 * section 12) a buffered append of fresh pages costs 1.5–2.5 s of CPU per GiB in the kernel's
 * page-cache copy, an O_DIRECT one 0.05–0.07 s: the disk reads the bytes from our buffer.
 *
 * O_DIRECT wants the file position, the length and the memory address aligned to the device's
 * block. Node's Buffers promise no alignment, so the bytes are gathered into staging buffers
 * carved from a WebAssembly.Memory (page-aligned by construction) at multiples of BLOCK. A
 * write ends on a block boundary: the last partial block is padded with zeros, and the next
 * append rewrites that block with the real bytes after the old ones (`tail`). So a file may
 * end in up to BLOCK - 1 zero bytes past its last record; its reader knows its true length,
 * and a scan after a crash treats such a run as padding (`endsInPadding`).
 */
export const DIRECT_BLOCK = 4096;
/**
 * Smaller appends and reads go through the page cache. A small O_DIRECT write waits for the
 * device and extends the file on its own (on ext4 an extending direct write is its own journal
 * transaction), which cost more than half of the 4k QD1 IOPS of bench:nbd; what a small write
 * copies costs little, and a small read is most likely still cached.
 */
export const DIRECT_MIN_BYTES = 256 * 1024;
/**
 * One staging buffer. A write takes as many as it needs (a 256 KiB disk write one, not a MiB),
 * up to MAX_CHUNKS for one pwritev; a larger batch goes out in several.
 */
export const STAGING_BYTES = 256 * 1024;
const WASM_PAGE = 65536;
/** Staging buffers per WebAssembly.Memory (each Memory reserves address space, not RAM). */
const STAGING_PER_MEMORY = 16;
/**
 * Idle staging buffers kept (16 MiB); more are dropped (freed with their Memory). Below what
 * the journal's and the outbox's 8 MiB writes take back and forth, each commit allocated fresh
 * Memories and faulted their pages in: the recovery agent's CPU went from 1.4 to 2.1 s per GiB.
 */
const MAX_IDLE_STAGING = 64;
/**
 * Staging buffers gathered into one write or read (8 MiB). A group commit of several MiB goes
 * to the disk in one pwritev, so the kernel has all its requests queued at once rather than
 * one 2 MiB write after the other: bench:replication 336–343 → 442–461 MiB/s persisted
 * (bench/README.md § 17).
 */
const MAX_CHUNKS = 32;
/** Staging buffers out at once, in all (32 MiB): bench:replication's RSS with 21 disks. */
const MAX_STAGING_IN_USE = 128;
const EMPTY = Buffer.alloc(0);
const ZEROS = Buffer.alloc(DIRECT_BLOCK);

/** An append for the caller's buffered handle: `buffers` (`bytes` in all) at `position`. */
export interface BufferedAppend {
  readonly position: number;
  readonly buffers: readonly Buffer[];
  readonly bytes: number;
}

const idle: Buffer[] = [];
/** Memory from allocAligned: page-aligned, so O_DIRECT can take it without staging. */
const alignedMemory = new WeakSet<ArrayBuffer>();
let inUse = 0;

/** The one WebAssembly API used (the project's lib settings carry no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
const { Memory } = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (descriptor: { initial: number }) => WasmMemory };
  }
).WebAssembly;

/**
 * A staging buffer, or undefined when MAX_STAGING_IN_USE are out: the caller then goes
 * through the page cache. That bounds the memory of many disks writing at once (each large
 * write in flight holds a buffer until the disk took it).
 */
function takeStaging(): Buffer | undefined {
  if (inUse >= MAX_STAGING_IN_USE) return undefined;
  inUse += 1;
  const reused = idle.pop();
  if (reused !== undefined) return reused;
  const memory = new Memory({
    initial: (STAGING_BYTES * STAGING_PER_MEMORY) / WASM_PAGE,
  });
  const whole = Buffer.from(memory.buffer);
  for (let i = 1; i < STAGING_PER_MEMORY; i += 1) {
    idle.push(whole.subarray(i * STAGING_BYTES, (i + 1) * STAGING_BYTES));
  }
  return whole.subarray(0, STAGING_BYTES);
}

function giveStaging(buffer: Buffer): void {
  inUse -= 1;
  if (idle.length < MAX_IDLE_STAGING) idle.push(buffer);
}

/**
 * Page-aligned memory for buffers that go to O_DIRECT as they are (pooled NBD payloads, the
 * sender's outbox reads): `bytes` a multiple of 64 KiB, at least DIRECT_MIN_BYTES (smaller
 * ones never go direct, and each Memory reserves 10 GiB of address space). Undefined
 * otherwise, or where the address space is refused (a ulimit -v): allocate as usual then.
 */
export function allocAligned(bytes: number): ArrayBuffer | undefined {
  if (bytes < DIRECT_MIN_BYTES || bytes % WASM_PAGE !== 0) return undefined;
  try {
    const { buffer } = new Memory({ initial: bytes / WASM_PAGE });
    alignedMemory.add(buffer);
    return buffer;
  } catch {
    return undefined;
  }
}

/** Whether `data` starts on a block boundary of allocAligned memory. */
export function isAligned(data: Buffer): boolean {
  return alignedMemory.has(data.buffer as ArrayBuffer) && data.byteOffset % DIRECT_BLOCK === 0;
}

/**
 * The O_DIRECT side of a file that is only ever appended to: a second handle, opened on first
 * use, and the bytes of the last partial block (read back from the file when not known). The
 * caller keeps its buffered handle for everything else and tells each call where the file's
 * valid bytes end. Where the file system refuses O_DIRECT (ramfs, and tmpfs before Linux 6.6:
 * EINVAL) every call answers false and the caller writes or reads through its buffered
 * handle.
 */
export class DirectAppender {
  private direct: Promise<FileHandle | undefined> | undefined;
  /** The file's bytes from blockStart(end) to end, once known. */
  private tail: Buffer | undefined;
  /** Where `tail` ends: an append that failed leaves it past the file's end, not to be used. */
  private tailEnd = 0;
  /** An O_DIRECT append left zeros past the valid bytes (a buffered one may not cover them). */
  private padded = false;
  /** Recent appends in memory (useRing): the staging of large appends, and read from. */
  private ring: AppendRing | undefined;

  /** `empty`: the file was just created (nothing to read back). */
  constructor(
    private readonly path: string,
    empty: boolean,
  ) {
    if (empty) this.tail = Buffer.alloc(0);
    // A file opened again may still end in the padding of an append before a crash.
    else this.padded = true;
  }

  /**
   * Keeps this file's recent appends in `ring` (shared with the files appended before and
   * after it: the one appending holds it) and serves reads of them from there.
   */
  useRing(ring: AppendRing | undefined): void {
    this.ring = ring;
  }

  /**
   * Appends `buffers` (`bytes` in all) at `end`, the end of the file's valid bytes (`file`
   * reads the last partial block back when it is not known). Undefined: written through
   * O_DIRECT. Otherwise nothing was written (the append is small, O_DIRECT is refused here,
   * or staging buffers are short): the caller writes what it answers through its buffered
   * handle. On failure the caller cuts the file back to `end`.
   */
  async append(
    file: FileHandle,
    end: number,
    buffers: readonly Buffer[],
    bytes: number,
  ): Promise<BufferedAppend | undefined> {
    const ring = this.ring;
    if (bytes < DIRECT_MIN_BYTES) return this.buffered(end, buffers, bytes);
    const direct = await this.handle();
    if (direct === undefined) return this.buffered(end, buffers, bytes);
    const from = blockStart(end);
    const stop = roundUp(end + bytes);
    if (ring !== undefined && stop - from <= ring.size) {
      // The ring is the staging buffer: the bytes it keeps cost no copy of their own.
      if (!ring.holds(this, from, end)) {
        const tail = await this.knownTail(file, end);
        ring.put(this, from, [tail], tail.length);
      }
      ring.put(this, end, buffers, bytes);
      ring.zero(end + bytes, stop);
      this.tail = undefined;
      await writeAligned(direct, ring.slices(from, stop), from);
      this.padded = stop !== end + bytes;
      return undefined;
    }
    ring?.forget(this);
    this.tail = await this.knownTail(file, end);
    this.tailEnd = end;
    const staging = takeStaging();
    if (staging === undefined) return this.buffered(end, buffers, bytes);
    this.tail = await appendDirect(direct, end, this.tail, buffers, bytes, staging);
    this.tailEnd = end + bytes;
    this.padded = (end + bytes) % DIRECT_BLOCK !== 0;
    return undefined;
  }

  /**
   * What the caller writes through the page cache for an append of `buffers` at `end`: whole
   * blocks where the bytes before `end` in its block are known (kept, or in the ring), so the
   * kernel never reads a block to fill in a page it does not hold. A partial page of a block
   * on the disk is read before it is written, and a reused segment written through O_DIRECT
   * has none of its pages cached: bench:nbd's 4 KiB QD1 ran at half qemu-nbd's rate, the
   * outbox's synchronous writev waiting on those reads (bench/README.md § 23). The zeros past
   * the end are padding, as an O_DIRECT append's.
   */
  private buffered(end: number, buffers: readonly Buffer[], bytes: number): BufferedAppend {
    const from = blockStart(end);
    const head = this.tailAt(end) ?? this.fromRing(from, end);
    this.ring?.put(this, end, buffers, bytes);
    this.tail = tailAfter(head, end, buffers, bytes);
    this.tailEnd = end + bytes;
    // Not known (a file opened again): the kernel reads that one block.
    if (head === undefined) return { position: end, buffers, bytes };
    const stop = end + bytes;
    const pad = roundUp(stop) - stop;
    if (pad > 0) this.padded = true;
    const out = head.length > 0 ? [head, ...buffers] : [...buffers];
    if (pad > 0) out.push(ZEROS.subarray(0, pad));
    return { position: from, buffers: out, bytes: stop + pad - from };
  }

  private tailAt(end: number): Buffer | undefined {
    return this.tailEnd === end ? this.tail : undefined;
  }

  private fromRing(from: number, end: number): Buffer | undefined {
    if (this.ring?.holds(this, from, end) !== true) return undefined;
    const head = Buffer.allocUnsafe(end - from);
    this.ring.copyOut(from, end, head);
    return head;
  }

  /** The file's bytes from blockStart(end) to end: known, held by the ring, or read back. */
  private async knownTail(file: FileHandle, end: number): Promise<Buffer> {
    const from = blockStart(end);
    const known = this.tailAt(end) ?? this.fromRing(from, end);
    if (known !== undefined) return known;
    const tail = Buffer.alloc(end - from);
    const { bytesRead } = await file.read(tail, 0, tail.length, from);
    if (bytesRead !== tail.length) throw new Error(`short read of the last block at ${end}`);
    return tail;
  }

  /**
   * Fills `into` from `position` through O_DIRECT (no page cache, whose pages would cost what
   * the append saved); false if small, refused here, or while staging buffers are short.
   */
  async read(into: Buffer, position: number): Promise<boolean> {
    if (into.length < DIRECT_MIN_BYTES) return false;
    const direct = await this.handle();
    const staging = direct === undefined ? undefined : takeStaging();
    if (direct === undefined || staging === undefined) return false;
    await readDirect(direct, into, position, staging);
    return true;
  }

  /**
   * The file's bytes [start, end) in a buffer from `alloc`, at `at` in it: when the buffer is
   * allocAligned memory, the blocks around them are read into it directly (no copy), else as
   * read() (through staging) or, if that declines, through the buffered `file`.
   */
  async readRange(
    file: FileHandle,
    start: number,
    end: number,
    alloc: (bytes: number) => Buffer,
  ): Promise<{ buf: Buffer; at: number }> {
    if (this.ring?.holds(this, start, end)) {
      const buf = alloc(end - start);
      this.ring.copyOut(start, end, buf);
      return { buf, at: 0 };
    }
    const direct = end - start >= DIRECT_MIN_BYTES ? await this.handle() : undefined;
    if (direct !== undefined) {
      const from = blockStart(start);
      const buf = alloc(roundUp(end) - from);
      const at = start - from;
      if (isAligned(buf)) {
        const { bytesRead } = await direct.read(buf, 0, buf.length, from);
        if (bytesRead < end - from) throw new Error(`short read at ${from + bytesRead}`);
        return { buf, at };
      }
      await this.readInto(file, buf.subarray(at, at + end - start), start);
      return { buf, at };
    }
    const buf = alloc(end - start);
    await this.readInto(file, buf, start);
    return { buf, at: 0 };
  }

  private async readInto(file: FileHandle, into: Buffer, position: number): Promise<void> {
    if (await this.read(into, position)) return;
    const done = await readFully(file, into, position);
    if (done < into.length) throw new Error(`short read at ${position + done}`);
  }

  /** Cuts the padding of the last append (the file is done, or closing): `end` is its length. */
  async trim(file: FileHandle, end: number): Promise<void> {
    if (!this.padded) return;
    await file.truncate(end);
    this.padded = false;
  }

  async close(): Promise<void> {
    const direct = this.direct;
    this.direct = undefined;
    this.tail = undefined;
    this.ring?.forget(this);
    this.ring = undefined;
    await (await direct?.catch(() => undefined))?.close();
  }

  private handle(): Promise<FileHandle | undefined> {
    this.direct ??= openDirect(this.path);
    return this.direct;
  }
}

/** An O_DIRECT handle on `path` (read and write), or undefined where it is refused (EINVAL). */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, constants.O_RDWR | constants.O_DIRECT);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw err;
  }
}

/**
 * Reads `into.length` bytes at `position` through the O_DIRECT `handle`: the blocks around
 * them into staging buffers (one preadv per MAX_CHUNKS of them), then copied out.
 */
async function readDirect(
  handle: FileHandle,
  into: Buffer,
  position: number,
  first: Buffer,
): Promise<void> {
  const end = roundUp(position + into.length);
  let at = blockStart(position);
  const chunks: Buffer[] = [first];
  try {
    for (let n = at + STAGING_BYTES; n < end && chunks.length < MAX_CHUNKS; n += STAGING_BYTES) {
      const more = takeStaging();
      if (more === undefined) break;
      chunks.push(more);
    }
    let done = 0;
    while (done < into.length) {
      const want = Math.min(chunks.length * STAGING_BYTES, end - at);
      const bufs: Buffer[] = [];
      for (let left = want, i = 0; left > 0; left -= STAGING_BYTES, i += 1) {
        bufs.push((chunks[i] as Buffer).subarray(0, Math.min(STAGING_BYTES, left)));
      }
      const { bytesRead } = await handle.readv(bufs, at);
      const skip = position + done - at;
      if (bytesRead <= skip) throw new Error(`short read at ${position + done}`);
      const stop = Math.min(bytesRead, skip + into.length - done);
      for (let o = skip; o < stop;) {
        const offset = o % STAGING_BYTES;
        const chunk = chunks[Math.floor(o / STAGING_BYTES)] as Buffer;
        const n = chunk.copy(into, done, offset, Math.min(STAGING_BYTES, offset + stop - o));
        done += n;
        o += n;
      }
      at += want;
    }
  } finally {
    for (const chunk of chunks) giveStaging(chunk);
  }
}

/**
 * Large aligned writes to a file around the page cache, as QEMU's cache=none (a disk the tap
 * writes, a replica the journal applies to): a second, O_DIRECT handle, opened on first use.
 * The kernel keeps it coherent with the buffered handle the owner writes everything else
 * through, and an fsync of that handle covers both.
 */
export class DirectWriter {
  private direct: Promise<FileHandle | undefined> | undefined;

  constructor(private readonly path: string) {}

  /**
   * Writes `data` at `offset` through O_DIRECT when it is large and block-aligned
   * (directWritable); false, with nothing written, otherwise, where O_DIRECT is refused, or
   * while staging buffers are short: the caller writes it buffered.
   */
  async write(data: Buffer, offset: number): Promise<boolean> {
    if (!directWritable(data, offset)) return false;
    this.direct ??= openDirect(this.path);
    const direct = await this.direct;
    return direct !== undefined && (await writeDirect(direct, data, offset));
  }

  async close(): Promise<void> {
    const direct = this.direct;
    this.direct = undefined;
    await (await direct?.catch(() => undefined))?.close();
  }
}

/** Whether `data` at `position` may be written with writeDirect: large and block-aligned. */
export function directWritable(data: Buffer, position: number): boolean {
  return (
    data.length >= DIRECT_MIN_BYTES &&
    position % DIRECT_BLOCK === 0 &&
    data.length % DIRECT_BLOCK === 0
  );
}

/**
 * Writes `data` at `position` (both block-aligned: directWritable) through the O_DIRECT
 * `handle`: as it is when it is allocAligned memory, else copied into staging; false, with
 * nothing written, while staging buffers are short.
 */
export async function writeDirect(
  handle: FileHandle,
  data: Buffer,
  position: number,
): Promise<boolean> {
  if (isAligned(data)) {
    await writeAligned(handle, [data], position);
    return true;
  }
  const staging = takeStaging();
  if (staging === undefined) return false;
  await appendDirect(handle, position, EMPTY, [data], data.length, staging);
  return true;
}

/**
 * The bytes from blockStart(end + bytes) to end + bytes once `buffers` (`bytes` in all) follow
 * `head`, the bytes from blockStart(end) to end; undefined when they need an unknown head.
 */
function tailAfter(
  head: Buffer | undefined,
  end: number,
  buffers: readonly Buffer[],
  bytes: number,
): Buffer | undefined {
  const stop = end + bytes;
  const length = stop - blockStart(stop);
  const fromBuffers = Math.min(length, bytes);
  // Only when the append stays in end's block is any of it head's: all of head.
  const fromHead = length - fromBuffers;
  if (fromHead > 0 && head === undefined) return undefined;
  const tail = Buffer.allocUnsafe(length);
  if (head !== undefined && fromHead > 0) head.copy(tail, 0);
  let skip = bytes - fromBuffers;
  let at = fromHead;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    at += buffer.copy(tail, at, skip);
    skip = 0;
  }
  return tail;
}

function roundUp(n: number): number {
  return Math.ceil(n / DIRECT_BLOCK) * DIRECT_BLOCK;
}

/** Start of the block holding `position`. */
function blockStart(position: number): number {
  return position - (position % DIRECT_BLOCK);
}

/**
 * Writes `buffers` (in order, `bytes` long in all) at `position` through the O_DIRECT
 * `handle`. `tail` holds the file's bytes from blockStart(position) to position (what was
 * written there before; empty when position is block-aligned). Returns the new tail: the
 * bytes from blockStart(position + bytes) to position + bytes, copied out of the staging
 * buffer. Past position + bytes the file holds zeros up to the next block boundary.
 */
async function appendDirect(
  handle: FileHandle,
  position: number,
  tail: Buffer,
  buffers: readonly Buffer[],
  bytes: number,
  first: Buffer,
): Promise<Buffer> {
  // Staging buffers filled in turn and written by one pwritev (each is aligned, so the kernel
  // takes them as they are): one thread-pool round trip per MAX_CHUNKS MiB, not per MiB.
  const chunks: Buffer[] = [first];
  try {
    if (tail.length !== position % DIRECT_BLOCK) {
      throw new RangeError(`tail of ${tail.length} bytes at position ${position}`);
    }
    let at = blockStart(position); // file position of chunks[0][0]
    let ci = 0; // the chunk being filled
    let filled = tail.copy(chunks[0] as Buffer, 0);
    let remaining = bytes;
    for (const buffer of buffers) {
      for (let from = 0; from < buffer.length;) {
        if (filled === STAGING_BYTES) {
          const more =
            ci + 1 < chunks.length || chunks.length === MAX_CHUNKS ? undefined : takeStaging();
          if (more !== undefined) chunks.push(more);
          if (ci + 1 < chunks.length) {
            ci += 1;
          } else {
            await writeAligned(handle, chunks, at);
            at += chunks.length * STAGING_BYTES;
            ci = 0;
          }
          filled = 0;
        }
        const n = buffer.copy(chunks[ci] as Buffer, filled, from);
        filled += n;
        from += n;
        remaining -= n;
      }
    }
    if (remaining !== 0) throw new RangeError(`buffers hold ${bytes - remaining}, not ${bytes}`);
    const last = chunks[ci] as Buffer;
    const whole = blockStart(filled);
    const padded = filled === whole ? filled : whole + DIRECT_BLOCK;
    last.fill(0, filled, padded);
    const out = chunks.slice(0, ci);
    if (padded > 0) out.push(last.subarray(0, padded));
    if (out.length > 0) await writeAligned(handle, out, at);
    return Buffer.from(last.subarray(whole, filled));
  } finally {
    for (const chunk of chunks) giveStaging(chunk);
  }
}

async function writeAligned(
  handle: FileHandle,
  chunks: readonly Buffer[],
  position: number,
): Promise<void> {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const { bytesWritten } = await handle.writev(chunks, position);
  if (bytesWritten !== length) {
    // An O_DIRECT write comes up short only when the file system is full.
    throw Object.assign(
      new Error(`short write: ${bytesWritten} of ${length} bytes, the file system is full`),
      { code: 'ENOSPC' },
    );
  }
}

/**
 * True when the file's bytes from `end` (just past its last whole record) to `size` are the
 * padding of an O_DIRECT append: zeros, less than a block of them.
 */
export async function endsInPadding(file: FileHandle, end: number, size: number): Promise<boolean> {
  if (size - end >= DIRECT_BLOCK || size <= end) return false;
  const rest = Buffer.alloc(size - end);
  const { bytesRead } = await file.read(rest, 0, rest.length, end);
  return bytesRead === rest.length && rest.every((b) => b === 0);
}
