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
