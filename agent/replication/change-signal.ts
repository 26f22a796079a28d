import type { CheckpointChange, CheckpointDiskChange } from '../../app/protocol';
import { BlockEntropyWindow } from './block-entropy';
import type { StreamRecord } from './record';

/**
 * The clean-point signal, measured part: per checkpoint interval and disk, the bytes written,
 * and how many written 4 KiB blocks look encrypted (near 8 bits of entropy per byte) where the
 * same block held low-entropy data before. Pure and incremental: fed every record the journal
 * accepted, in seq order; a checkpoint record closes the interval and returns its figures.
 *
 * **Cost.** Only a sample of each block is looked at: 8 runs of 64 bytes, one at the start of
 * every 512 B of the block (one cache line each, spread over the whole block, so a block that is
 * encrypted only in part is still seen). That is 1/8 of the bytes, one histogram of 512 counts.
 * The agent runs it in WebAssembly (block-entropy.ts): the same figure, to the bit.
 *
 * **Why 512 bytes and 7.2 bits/byte.** The plug-in (histogram) entropy of n uniform random bytes
 * is biased low (about (256 − 1) / (2 n ln 2) bits to first order, more when n is not much larger
 * than 256). Measured over 20 000 random samples of n = 512: mean 7.59 bits/byte, standard
 * deviation 0.034, lowest 7.43 (n = 256: 7.17 ± 0.05; n = 128: 6.55 ± 0.07). Text, code, zeros,
 * file-system metadata and base64 stay under 6.5 (base64 at most 6: 64 symbols). A threshold of
 * 7.2 is 11 standard deviations below random data and well above everything unencrypted
 * except already-compressed data, which looks like ciphertext to any entropy test (that is why
 * the signal counts blocks that *turned* high, not only high ones). Fewer bytes would narrow the
 * gap to dense binary data; more would cost more CPU per byte received (the histogram is the
 * cost: ≈ 2.1 µs per block in the agent in JS, ≈ 1.5 µs less in WebAssembly; bench/README.md
 * § 26).
 *
 * **Memory of low blocks** (what "was low before" knows): one bit per block, set when the block
 * was last seen low. Pages of 64 KiB (2 GiB of disk each at 4 KiB a bit) are allocated when first
 * written, so memory follows the written span. Per disk at most 8 MiB (2^26 bits): up to
 * 256 GiB a bit is a block; a larger disk groups blocks, 2^k per bit (a 1 TiB disk: 4 blocks of
 * 16 KiB per bit, 8 MiB, instead of 32 MiB for one bit a block). Within one write, a group's
 * blocks are judged against the group's bit as it was before the write, so a large encrypted
 * write is counted in full; a later small write into the same group sees the group as last
 * written (an undercount only, never a false rise).
 *
 * Initial sync and resync (`seed` records) teach the memory its baseline but are not counted
 * as change. `zero` records are writes of zeros: counted in bytes, and the blocks they cover
 * are low. `trim` forgets what the blocks held.
 */

export const SIGNAL_BLOCK_BYTES = 4096;
/** Bytes of a block sampled: SAMPLE_RUNS runs of SAMPLE_RUN_BYTES (see above). */
export const SAMPLE_RUNS = 8;
export const SAMPLE_RUN_BYTES = 64;
export const SAMPLE_BYTES = SAMPLE_RUNS * SAMPLE_RUN_BYTES;
/** Bits per byte of the 512-byte sample at or above which a block counts as high entropy. */
export const HIGH_ENTROPY_BITS = 7.2;
/** Per-disk cap of the low-block memory, in bits (8 MiB). */
export const MAX_MEMORY_BITS = 2 ** 26;
const PAGE_BYTES = 64 * 1024;
const PAGE_BITS = PAGE_BYTES * 8;
const RUN_STRIDE = SIGNAL_BLOCK_BYTES / SAMPLE_RUNS;

/**
 * (c + 1) · log2(c + 1) − c · log2(c) for every count a block can hold: the histogram's
 * Σ c · log2(c) is summed while counting, with no pass over the 256 bins afterwards (that pass
 * cost as much as the counting itself).
 */
const C_LOG_C_STEP = (() => {
  const cLogC = (c: number): number => (c < 2 ? 0 : c * Math.log2(c));
  const table = new Float64Array(SIGNAL_BLOCK_BYTES + 1);
  for (let c = 0; c <= SIGNAL_BLOCK_BYTES; c += 1) table[c] = cLogC(c + 1) - cLogC(c);
  return table;
})();

/**
 * Shannon entropy in bits per byte of `data[start, end)` estimated from its byte histogram
 * (plug-in estimate: biased low for short samples, see the threshold's comment). `counts` is a
 * scratch histogram of 256 zeros, left zeroed.
 */
export function histogramEntropy(
  data: Uint8Array,
  start: number,
  end: number,
  counts: Uint16Array = new Uint16Array(256),
): number {
  if (end - start > SIGNAL_BLOCK_BYTES) {
    throw new RangeError(`at most ${SIGNAL_BLOCK_BYTES} bytes at a time (the step table's size)`);
  }
  let sum = 0;
  for (let i = start; i < end; i += 1) {
    const b = data[i] as number;
    const c = counts[b] as number;
    sum += C_LOG_C_STEP[c] as number;
    counts[b] = c + 1;
  }
  counts.fill(0);
  const n = end - start;
  return n <= 1 ? 0 : Math.log2(n) - sum / n;
}

const LOG2_SAMPLE = Math.log2(SAMPLE_BYTES);

/** Estimated bits per byte of the 4 KiB block at `at`, from its 512-byte sample. */
export function sampledBlockEntropy(
  data: Uint8Array,
  at: number,
  counts: Uint16Array = new Uint16Array(256),
): number {
  let sum = 0;
  for (let run = 0; run < SAMPLE_RUNS; run += 1) {
    const from = at + run * RUN_STRIDE;
    for (let i = from; i < from + SAMPLE_RUN_BYTES; i += 1) {
      const b = data[i] as number;
      const c = counts[b] as number;
      sum += C_LOG_C_STEP[c] as number;
      counts[b] = c + 1;
    }
  }
  counts.fill(0);
  return LOG2_SAMPLE - sum / SAMPLE_BYTES;
}

let sharedWindow: BlockEntropyWindow | undefined;

/**
 * The thread's WebAssembly copy of sampledBlockEntropy (block-entropy.ts: the same figure,
 * ≈ 1.5 µs less per block in the agent), with this module's step table; made on first use.
 */
export function blockWindow(): BlockEntropyWindow {
  sharedWindow ??= new BlockEntropyWindow(C_LOG_C_STEP);
  return sharedWindow;
}

/**
 * Bits over a disk's blocks (or groups of 2^shift blocks), in pages allocated on first set:
 * set = the block was last seen holding low-entropy data.
 */
export class LowBlockMemory {
  readonly shift: number;
  private readonly pages = new Map<number, Uint8Array>();

  constructor(sizeBytes: number, maxBits = MAX_MEMORY_BITS) {
    const blocks = Math.ceil(sizeBytes / SIGNAL_BLOCK_BYTES);
    let shift = 0;
    while (Math.ceil(blocks / 2 ** shift) > maxBits) shift += 1;
    this.shift = shift;
  }

  /** Bytes held now (allocated pages). */
  get bytes(): number {
    return this.pages.size * PAGE_BYTES;
  }

  groupOf(block: number): number {
    return Math.floor(block / 2 ** this.shift);
  }

  get(group: number): boolean {
    const page = this.pages.get(Math.floor(group / PAGE_BITS));
    if (page === undefined) return false;
    const bit = group % PAGE_BITS;
    return ((page[bit >> 3] as number) & (1 << (bit & 7))) !== 0;
  }

  set(group: number, low: boolean): void {
    const index = Math.floor(group / PAGE_BITS);
    let page = this.pages.get(index);
    if (page === undefined) {
      if (!low) return;
      page = new Uint8Array(PAGE_BYTES);
      this.pages.set(index, page);
    }
    const bit = group % PAGE_BITS;
    if (low) page[bit >> 3] = (page[bit >> 3] as number) | (1 << (bit & 7));
    else page[bit >> 3] = (page[bit >> 3] as number) & ~(1 << (bit & 7));
  }

  /** Sets or clears groups [from, to). */
  fill(from: number, to: number, low: boolean): void {
    let group = from;
    while (group < to) {
      const index = Math.floor(group / PAGE_BITS);
      const pageEnd = Math.min(to, (index + 1) * PAGE_BITS);
      if (!low && !this.pages.has(index)) {
        group = pageEnd;
        continue;
      }
      if (!low && group === index * PAGE_BITS && pageEnd === (index + 1) * PAGE_BITS) {
        this.pages.delete(index);
        group = pageEnd;
        continue;
      }
      for (; group < pageEnd; group += 1) this.set(group, low);
    }
  }

  /** The set pages, for persisting across a clean restart. */
  snapshot(): { index: number; bits: Uint8Array }[] {
    return [...this.pages].map(([index, bits]) => ({ index, bits }));
  }

  restore(index: number, bits: Uint8Array): void {
    if (bits.length !== PAGE_BYTES || !Number.isSafeInteger(index) || index < 0) return;
    this.pages.set(index, Uint8Array.from(bits));
  }
}

export const MEMORY_PAGE_BYTES = PAGE_BYTES;

interface DiskSignal {
  readonly diskId: string;
  readonly memory: LowBlockMemory;
  writtenBytes: number;
  writtenBlocks: number;
  highEntropyBlocks: number;
  turnedHighBlocks: number;
}

export interface SignalDisk {
  readonly diskId: string;
  readonly sizeBytes: number;
}

/** One VPG's signal: per disk, the open interval's counts and the low-block memory. */
export class ChangeSignal {
  private readonly disks = new Map<string, DiskSignal>();
  private partial: boolean;

  /**
   * `partial`: the first interval began before this signal saw its records (a restart in the
   * middle of an interval, or a memory that could not be restored).
   */
  constructor(disks: readonly SignalDisk[], options: { partial?: boolean; maxBits?: number } = {}) {
    for (const d of disks) {
      this.disks.set(d.diskId, {
        diskId: d.diskId,
        memory: new LowBlockMemory(d.sizeBytes, options.maxBits),
        writtenBytes: 0,
        writtenBlocks: 0,
        highEntropyBlocks: 0,
        turnedHighBlocks: 0,
      });
    }
    this.partial = options.partial === true;
  }

  memoryOf(diskId: string): LowBlockMemory | undefined {
    return this.disks.get(diskId)?.memory;
  }

  /** Marks the open interval as partly measured (e.g. the memory was lost). */
  markPartial(): void {
    this.partial = true;
  }

  /** Feeds one record; a checkpoint returns the interval's figures and opens the next one. */
  add(record: StreamRecord): CheckpointChange | undefined {
    switch (record.kind) {
      case 'checkpoint':
        return this.close();
      case 'write':
      case 'seed':
        this.addData(record.diskId, record.offset, record.data, record.kind === 'write');
        return undefined;
      case 'zero':
      case 'trim': {
        const disk = this.disks.get(record.diskId);
        if (disk === undefined) return undefined;
        if (record.kind === 'zero') disk.writtenBytes += record.length;
        const first = Math.ceil(record.offset / SIGNAL_BLOCK_BYTES);
        const end = Math.floor((record.offset + record.length) / SIGNAL_BLOCK_BYTES);
        if (end <= first) return undefined;
        // Whole groups only: a group partly covered keeps what its other blocks said.
        const size = 2 ** disk.memory.shift;
        disk.memory.fill(Math.ceil(first / size), Math.floor(end / size), record.kind === 'zero');
        return undefined;
      }
    }
  }

  private addData(diskId: string, offset: number, data: Buffer, counted: boolean): void {
    const disk = this.disks.get(diskId);
    if (disk === undefined) return; // a retired disk's late records
    if (counted) disk.writtenBytes += data.length;
    const { memory } = disk;
    let block = Math.ceil(offset / SIGNAL_BLOCK_BYTES);
    let at = block * SIGNAL_BLOCK_BYTES - offset;
    let left = Math.max(0, Math.floor((data.length - at) / SIGNAL_BLOCK_BYTES));
    let group = -1;
    let groupWasLow = false;
    const judge = blockWindow();
    while (left > 0) {
      const n = judge.load(data, at, left);
      for (let k = 0; k < n; k += 1, block += 1) {
        const high = judge.entropy(k) >= HIGH_ENTROPY_BITS;
        const g = memory.groupOf(block);
        if (g !== group) {
          group = g;
          groupWasLow = memory.get(g);
        }
        memory.set(g, !high);
        if (!counted) continue;
        disk.writtenBlocks += 1;
        if (!high) continue;
        disk.highEntropyBlocks += 1;
        if (groupWasLow) disk.turnedHighBlocks += 1;
      }
      at += n * SIGNAL_BLOCK_BYTES;
      left -= n;
    }
  }

  /** The open interval's counts so far (saved at a clean close, resumed at the next open). */
  openInterval(): { disks: CheckpointDiskChange[]; partial: boolean } {
    return {
      disks: [...this.disks.values()].map((d) => ({
        diskId: d.diskId,
        writtenBytes: d.writtenBytes,
        writtenBlocks: d.writtenBlocks,
        highEntropyBlocks: d.highEntropyBlocks,
        turnedHighBlocks: d.turnedHighBlocks,
      })),
      partial: this.partial,
    };
  }

  resumeInterval(counts: readonly CheckpointDiskChange[], partial: boolean): void {
    for (const c of counts) {
      const d = this.disks.get(c.diskId);
      if (d === undefined) continue;
      d.writtenBytes = c.writtenBytes;
      d.writtenBlocks = c.writtenBlocks;
      d.highEntropyBlocks = c.highEntropyBlocks;
      d.turnedHighBlocks = c.turnedHighBlocks;
    }
    if (partial) this.partial = true;
  }

  private close(): CheckpointChange {
    const { disks } = this.openInterval();
    for (const d of this.disks.values()) {
      d.writtenBytes = 0;
      d.writtenBlocks = 0;
      d.highEntropyBlocks = 0;
      d.turnedHighBlocks = 0;
    }
    const change: CheckpointChange = { disks, ...(this.partial && { partial: true as const }) };
    this.partial = false;
    return change;
  }
}
