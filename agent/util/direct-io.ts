import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

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
 * and a scan after a crash treats such a run as padding (`isPadding`).
 */
export const DIRECT_BLOCK = 4096;
/**
 * Smaller appends and reads go through the page cache. A small O_DIRECT write waits for the
 * device and extends the file on its own (on ext4 an extending direct write is its own journal
 * transaction), which cost more than half of the 4k QD1 IOPS of bench:nbd; what a small write
 * copies costs little, and a small read is most likely still cached.
 */
export const DIRECT_MIN_BYTES = 256 * 1024;
/** Bytes gathered per write: a batch larger than this goes out in several. */
export const STAGING_BYTES = 1024 * 1024;
const WASM_PAGE = 65536;
/** Staging buffers per WebAssembly.Memory (each Memory reserves address space, not RAM). */
const STAGING_PER_MEMORY = 4;
/** Idle staging buffers kept; more are dropped (their memory is freed with their Memory). */
const MAX_IDLE_STAGING = 16;

const idle: Buffer[] = [];

/** The one WebAssembly API used (the project's lib settings carry no WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
const { Memory } = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (descriptor: { initial: number }) => WasmMemory };
  }
).WebAssembly;

function takeStaging(): Buffer {
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
  if (idle.length < MAX_IDLE_STAGING) idle.push(buffer);
}

/**
 * The O_DIRECT side of a file that is only ever appended to: a second handle, opened on first
 * use, and the bytes of the last partial block (read back from the file when not known). The
 * caller keeps its buffered handle for everything else and tells each call where the file's
 * valid bytes end. Where the file system refuses O_DIRECT (tmpfs: EINVAL) every call answers
 * false and the caller writes or reads through its buffered handle.
 */
export class DirectAppender {
  private direct: Promise<FileHandle | undefined> | undefined;
  /** The file's bytes from blockStart(end) to end, once known. */
  private tail: Buffer | undefined;
  /** An O_DIRECT append left zeros past the valid bytes (a buffered one may not cover them). */
  private padded = false;

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
   * Appends `buffers` (`bytes` in all) at `end`, the end of the file's valid bytes (`file`
   * reads the last partial block back when it is not known). False: nothing was written, the
   * caller writes through its buffered handle (the append is small, or O_DIRECT is refused
   * here). On failure the caller cuts the file back to `end`, which leaves the known tail as
   * it was.
   */
  async append(
    file: FileHandle,
    end: number,
    buffers: readonly Buffer[],
    bytes: number,
  ): Promise<boolean> {
    if (bytes < DIRECT_MIN_BYTES) {
      this.tail = undefined; // the buffered write changes it: read back when next needed
      return false;
    }
    const direct = await this.handle();
    if (direct === undefined) return false;
    if (this.tail?.length !== end - blockStart(end)) {
      const tail = Buffer.alloc(end - blockStart(end));
      const { bytesRead } = await file.read(tail, 0, tail.length, blockStart(end));
      if (bytesRead !== tail.length) throw new Error(`short read of the last block at ${end}`);
      this.tail = tail;
    }
    this.tail = await appendDirect(direct, end, this.tail, buffers, bytes);
    this.padded = (end + bytes) % DIRECT_BLOCK !== 0;
    return true;
  }

  /**
   * Fills `into` from `position` through O_DIRECT (no page cache, whose pages would cost what
   * the append saved); false if small or refused here.
   */
  async read(into: Buffer, position: number): Promise<boolean> {
    if (into.length < DIRECT_MIN_BYTES) return false;
    const direct = await this.handle();
    if (direct === undefined) return false;
    await readDirect(direct, into, position);
    return true;
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

/** Reads `into.length` bytes at `position` through the O_DIRECT `handle`, block by block. */
async function readDirect(handle: FileHandle, into: Buffer, position: number): Promise<void> {
  const staging = takeStaging();
  try {
    let done = 0;
    while (done < into.length) {
      const at = blockStart(position + done);
      const skip = position + done - at;
      const want = Math.min(staging.length, roundUp(skip + into.length - done));
      const { bytesRead } = await handle.read(staging, 0, want, at);
      if (bytesRead <= skip) throw new Error(`short read at ${position + done}`);
      done += staging.copy(into, done, skip, bytesRead);
    }
  } finally {
    giveStaging(staging);
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

/** Writes `data` at `position` (both block-aligned: directWritable) through O_DIRECT `handle`. */
export async function writeDirect(
  handle: FileHandle,
  data: Buffer,
  position: number,
): Promise<void> {
  const staging = takeStaging();
  try {
    for (let done = 0; done < data.length;) {
      const n = data.copy(staging, 0, done);
      await writeAligned(handle, staging, n, position + done);
      done += n;
    }
  } finally {
    giveStaging(staging);
  }
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
): Promise<Buffer> {
  if (tail.length !== position % DIRECT_BLOCK) {
    throw new RangeError(`tail of ${tail.length} bytes at position ${position}`);
  }
  const staging = takeStaging();
  try {
    let at = blockStart(position); // file position of staging[0]
    let filled = tail.copy(staging, 0);
    let remaining = bytes;
    for (const buffer of buffers) {
      let from = 0;
      while (from < buffer.length) {
        if (filled === staging.length) {
          await writeAligned(handle, staging, staging.length, at);
          at += staging.length;
          filled = 0;
        }
        const n = buffer.copy(staging, filled, from);
        filled += n;
        from += n;
        remaining -= n;
      }
    }
    if (remaining !== 0) throw new RangeError(`buffers hold ${bytes - remaining}, not ${bytes}`);
    const whole = blockStart(filled);
    const padded = filled === whole ? filled : whole + DIRECT_BLOCK;
    staging.fill(0, filled, padded);
    if (padded > 0) await writeAligned(handle, staging, padded, at);
    return Buffer.from(staging.subarray(whole, filled));
  } finally {
    giveStaging(staging);
  }
}

async function writeAligned(
  handle: FileHandle,
  staging: Buffer,
  length: number,
  position: number,
): Promise<void> {
  const { bytesWritten } = await handle.write(staging, 0, length, position);
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
