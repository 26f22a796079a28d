import { hash } from 'node:crypto';

/** What the hasher needs of a disk: DiskFile fits, and so does a replica on the target. */
export interface HashableDisk {
  readonly size: number;
  pread(offset: number, length: number, into?: Buffer): Promise<Buffer>;
  /** Allocated bytes on the filesystem; 0 means the whole file is a hole. */
  allocatedBytes?(): Promise<number>;
}

export interface BlockHash {
  readonly index: number;
  readonly offset: number;
  readonly length: number;
  /** SHA-256 of the block; undefined for an all-zero block (a hole, or written zeros). */
  readonly hash: Buffer | undefined;
}

export interface HashBlocksOptions {
  /** Bytes per block (default 64 KiB, the dirty bitmap's region size). */
  readonly blockBytes?: number;
  /** First and last-plus-one byte to hash (default the whole disk); aligned to blocks. */
  readonly from?: number;
  readonly to?: number;
}

export const DEFAULT_BLOCK_BYTES = 64 * 1024;
const READ_BYTES = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(READ_BYTES);

/** True when every byte is zero (a memcmp against a zero page, not a JS loop). */
export function isZeroBlock(buf: Buffer): boolean {
  let at = 0;
  while (at < buf.length) {
    const n = Math.min(ZEROS.length, buf.length - at);
    if (!buf.subarray(at, at + n).equals(ZEROS.subarray(0, n))) return false;
    at += n;
  }
  return true;
}

/** SHA-256 of a block, or undefined when it is all zeros (so zero blocks compare equal cheaply). */
export function hashBlock(buf: Buffer): Buffer | undefined {
  return isZeroBlock(buf) ? undefined : hash('sha256', buf, 'buffer');
}

/**
 * Hashes fixed-size blocks of a disk in order, for initial sync and resync: both sides hash
 * the same blocks, and only blocks whose hashes differ are sent.
 *
 * Holes are skipped quickly. Node has no lseek(SEEK_DATA/SEEK_HOLE), so: a file with no
 * allocated blocks at all (a fresh sparse disk) is answered without reading; otherwise the disk
 * is read in 4 MiB chunks into one reused buffer (reading a hole costs a page-cache zero fill,
 * no device I/O) and each block is tested for zeros with a memcmp before any hashing.
 */
export async function* hashBlocks(
  disk: HashableDisk,
  options: HashBlocksOptions = {},
): AsyncGenerator<BlockHash> {
  const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  if (blockBytes <= 0 || READ_BYTES % blockBytes !== 0) {
    throw new RangeError(`block size ${blockBytes} must divide ${READ_BYTES}`);
  }
  const from = options.from ?? 0;
  const to = Math.min(options.to ?? disk.size, disk.size);
  if (from % blockBytes !== 0) throw new RangeError(`from ${from} is not block-aligned`);
  const sparse = disk.allocatedBytes !== undefined && (await disk.allocatedBytes()) === 0;
  const chunk = sparse ? undefined : Buffer.allocUnsafe(READ_BYTES);
  for (let offset = from; offset < to; offset += READ_BYTES) {
    const length = Math.min(READ_BYTES, to - offset);
    const data = chunk === undefined ? undefined : await disk.pread(offset, length, chunk);
    for (let at = 0; at < length; at += blockBytes) {
      const n = Math.min(blockBytes, length - at);
      yield {
        index: (offset + at) / blockBytes,
        offset: offset + at,
        length: n,
        hash: data === undefined ? undefined : hashBlock(data.subarray(at, at + n)),
      };
    }
  }
}

/**
 * The hashes of consecutive `blockBytes` blocks of an extent's content, as they travel in a
 * hash compare: base64 SHA-256, or null for an all-zero block (the last block may be short).
 */
export function blockDigests(
  data: Buffer,
  blockBytes: number = DEFAULT_BLOCK_BYTES,
): (string | null)[] {
  if (blockBytes <= 0) throw new RangeError(`block size ${blockBytes} must be positive`);
  const digests: (string | null)[] = [];
  for (let at = 0; at < data.length; at += blockBytes) {
    const digest = hashBlock(data.subarray(at, Math.min(data.length, at + blockBytes)));
    digests.push(digest === undefined ? null : digest.toString('base64'));
  }
  return digests;
}

/**
 * Runs of blocks whose digests differ (as [offset, length) of the extent starting at
 * `offset`, `length` bytes long), adjacent differing blocks joined. A missing digest on either
 * side counts as different.
 */
export function differingRuns(
  offset: number,
  length: number,
  blockBytes: number,
  ours: readonly (string | null)[],
  theirs: readonly (string | null)[],
): { offset: number; length: number }[] {
  const runs: { offset: number; length: number }[] = [];
  const blocks = Math.ceil(length / blockBytes);
  for (let i = 0; i < blocks; i += 1) {
    const a = ours[i];
    const b = theirs[i];
    if (a !== undefined && b !== undefined && a === b) continue;
    const start = offset + i * blockBytes;
    const n = Math.min(blockBytes, offset + length - start);
    const last = runs.at(-1);
    if (last !== undefined && last.offset + last.length === start) last.length += n;
    else runs.push({ offset: start, length: n });
  }
  return runs;
}
