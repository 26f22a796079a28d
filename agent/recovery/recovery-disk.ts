import { TidelineError } from '../../app/errors';
import type { DiskFile } from '../tap/disk-file';
import type { WriteOptions } from '../tap/tap';
import {
  BLOCK_BYTES,
  BLOCK_LOWER,
  BLOCK_OVERLAY,
  BLOCK_ZERO,
  type BlockMap,
  type BlockState,
} from './block-map';
import type { RecoveryDisk } from './recovery-types';
import { RegionLock } from './region-lock';
import { checkDiskExtent } from '../tap/disk-file';

/** The disk under the overlay: the journal's view at C, or (promoting) the replica file. */
export interface LowerDisk {
  read(offset: number, into: Buffer): Promise<void>;
}

/**
 * layered: reads through the map (overlay, zeros, or the view), writes into the overlay.
 * copying: promotion's second stage; the lower disk is the replica (it holds the view now),
 *   blocks still in the overlay are being copied into it, writes to the others go to it.
 * direct: the replica file is the disk.
 */
export type DiskMode = 'layered' | 'copying' | 'direct';

const ZEROS = Buffer.alloc(1024 * 1024);
/** Promotion copies at most this many blocks under one region lock. */
const COPY_BLOCKS = 16;
/** Promotion persists its progress (replica sync, map) every this many bytes copied. */
const COPY_FLUSH_BYTES = 256 * 1024 * 1024;

export interface LayeredDiskParts {
  readonly diskId: string;
  readonly sourceDiskId: string;
  readonly size: number;
  readonly mode: DiskMode;
  readonly lower: LowerDisk | undefined;
  readonly overlay: DiskFile | undefined;
  readonly map: BlockMap | undefined;
  readonly replica: DiskFile | undefined;
}

/**
 * One recovered disk (README.md "Why recovered disks are layered"): the view at the
 * checkpoint under a sparse overlay of 64 KiB blocks. A partial write into a block not yet in
 * the overlay copies the block from below first (read-modify-write); a whole-block zero or
 * trim only marks the block ZERO. Writes, zeroes and promotion's copies hold a region lock on
 * their blocks; reads need none (every state change happens after the bytes it points to are
 * in place). FLUSH makes the overlay durable, then the map (block-map.ts).
 */
export class LayeredDisk implements RecoveryDisk {
  readonly diskId: string;
  readonly sourceDiskId: string;
  readonly size: number;
  private modeValue: DiskMode;
  private lower: LowerDisk | undefined;
  private overlay: DiskFile | undefined;
  private map: BlockMap | undefined;
  private replica: DiskFile | undefined;
  private readonly lock = new RegionLock();
  private closed = false;

  constructor(parts: LayeredDiskParts) {
    this.diskId = parts.diskId;
    this.sourceDiskId = parts.sourceDiskId;
    this.size = parts.size;
    this.modeValue = parts.mode;
    this.lower = parts.lower;
    this.overlay = parts.overlay;
    this.map = parts.map;
    this.replica = parts.replica;
  }

  get mode(): DiskMode {
    return this.modeValue;
  }

  /** Blocks held in the overlay or marked zero (what promotion's second stage copies). */
  layeredBlocks(): number {
    return this.map?.countLayered() ?? 0;
  }

  // ───────────────────────────── ExportBackend ─────────────────────────────

  async read(offset: number, length: number, into: Buffer): Promise<Buffer> {
    this.check(offset, length);
    const target = into.subarray(0, length);
    if (this.modeValue === 'direct') {
      await this.replicaFile().pread(offset, length, target);
      return target;
    }
    const map = this.blockMap();
    const end = offset + length;
    let at = offset;
    while (at < end) {
      const state = map.get(Math.floor(at / BLOCK_BYTES));
      let runEnd = Math.min(end, blockEnd(at));
      while (runEnd < end && map.get(runEnd / BLOCK_BYTES) === state) {
        runEnd = Math.min(end, runEnd + BLOCK_BYTES);
      }
      const part = target.subarray(at - offset, runEnd - offset);
      if (state === BLOCK_OVERLAY) await this.overlayFile().pread(at, part.length, part);
      else if (state === BLOCK_ZERO) part.fill(0);
      else await this.lowerDisk().read(at, part);
      at = runEnd;
    }
    return target;
  }

  async write(offset: number, data: Buffer, options: WriteOptions | undefined): Promise<void> {
    this.check(offset, data.length);
    if (data.length === 0) return;
    if (this.modeValue === 'direct') {
      await this.replicaFile().pwrite(data, offset);
    } else {
      await this.lock.run(...blockRange(offset, data.length), () => this.writeLocked(offset, data));
    }
    if (options?.fua === true) await this.flush();
  }

  async zero(offset: number, length: number, options: WriteOptions | undefined): Promise<void> {
    this.check(offset, length);
    if (length === 0) return;
    if (this.modeValue === 'direct') {
      await this.replicaFile().writeZeroes(offset, length);
    } else {
      await this.lock.run(...blockRange(offset, length), () => this.zeroLocked(offset, length));
    }
    if (options?.fua === true) await this.flush();
  }

  trim(offset: number, length: number): Promise<void> {
    return this.zero(offset, length, undefined);
  }

  /** Every write acknowledged before the call is durable: data first, then the map. */
  async flush(): Promise<void> {
    if (this.closed) return;
    if (this.modeValue === 'direct') {
      await this.replicaFile().syncIfDirty();
      return;
    }
    const overlay = this.overlayFile();
    const replica = this.modeValue === 'copying' ? this.replicaFile() : undefined;
    await this.blockMap().persist(async () => {
      await overlay.syncIfDirty();
      await replica?.syncIfDirty();
    });
  }

  // ───────────────────────────── promotion ─────────────────────────────

  /**
   * Stage 1: writes the view's bytes of `extents` (what the journal changed since the
   * replica) into the replica, block by block under the region lock; blocks already in the
   * overlay are left to stage 2. The caller froze the journal (no apply meanwhile).
   */
  async copyViewToReplica(
    extents: readonly { readonly start: number; readonly end: number }[],
    replica: DiskFile,
    onBytes: (bytes: number) => void,
  ): Promise<void> {
    const map = this.blockMap();
    const lower = this.lowerDisk();
    let lastBlock = -1;
    for (const extent of extents) {
      const firstBlock = Math.max(Math.floor(extent.start / BLOCK_BYTES), lastBlock + 1);
      const endBlock = Math.ceil(extent.end / BLOCK_BYTES);
      for (let b = firstBlock; b < endBlock; b += COPY_BLOCKS) {
        const last = Math.min(b + COPY_BLOCKS, endBlock) - 1;
        await this.lock.run(b, last, async () => {
          for (let r = b; r <= last;) {
            if (map.get(r) !== BLOCK_LOWER) {
              r += 1;
              continue;
            }
            let e = r + 1;
            while (e <= last && map.get(e) === BLOCK_LOWER) e += 1;
            const start = r * BLOCK_BYTES;
            const buf = Buffer.allocUnsafe(Math.min(e * BLOCK_BYTES, this.size) - start);
            await lower.read(start, buf);
            await replica.pwrite(buf, start);
            r = e;
          }
        });
        onBytes(Math.min((last + 1) * BLOCK_BYTES, this.size) - b * BLOCK_BYTES);
      }
      lastBlock = endBlock - 1;
    }
    await replica.datasync();
  }

  /** Between the stages: the replica now holds the view, so it becomes the lower disk. */
  startCopying(replica: DiskFile): void {
    this.replica = replica;
    this.lower = {
      read: (offset, into) => replica.pread(offset, into.length, into).then(() => undefined),
    };
    this.modeValue = 'copying';
  }

  /**
   * Stage 2: copies the overlay's blocks (and zeroes the ZERO ones) into the replica, each
   * then marked LOWER; progress is persisted every COPY_FLUSH_BYTES (replica synced first).
   */
  async copyOverlayToReplica(onBytes: (bytes: number) => void): Promise<void> {
    const map = this.blockMap();
    const overlay = this.overlayFile();
    const replica = this.replicaFile();
    let sinceFlush = 0;
    for (let b = 0; b < map.blocks; b += 1) {
      if (map.get(b) === BLOCK_LOWER) continue;
      const last = Math.min(b + COPY_BLOCKS, map.blocks) - 1;
      await this.lock.run(b, last, async () => {
        for (let r = b; r <= last; r += 1) {
          const state = map.get(r);
          if (state === BLOCK_LOWER) continue;
          const start = r * BLOCK_BYTES;
          const length = Math.min(BLOCK_BYTES, this.size - start);
          if (state === BLOCK_OVERLAY) {
            await replica.pwrite(await overlay.pread(start, length), start);
          } else {
            await replica.pwrite(ZEROS.subarray(0, length), start);
          }
          map.set(r, BLOCK_LOWER);
          onBytes(length);
          sinceFlush += length;
        }
      });
      b = last;
      if (sinceFlush >= COPY_FLUSH_BYTES) {
        sinceFlush = 0;
        await this.flush();
      }
    }
    await this.flush();
  }

  /** After stage 2: the replica file is the disk. */
  becomeDirect(): void {
    this.replicaFile();
    this.modeValue = 'direct';
  }

  /** Flushes and closes the overlay, the map and the replica handle. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      const parts = [this.overlay, this.map, this.replica];
      this.overlay = undefined;
      this.map = undefined;
      this.replica = undefined;
      await Promise.allSettled(parts.map((p) => p?.close()));
    }
  }

  // ───────────────────────────── internals ─────────────────────────────

  /** Where a block's writes go: the overlay, or (copying) the replica for LOWER blocks. */
  private toReplica(block: number): boolean {
    return this.modeValue === 'copying' && this.blockMap().get(block) === BLOCK_LOWER;
  }

  /** The caller holds the region lock of every block the extent touches. */
  private async writeLocked(offset: number, data: Buffer): Promise<void> {
    const end = offset + data.length;
    let at = offset;
    while (at < end) {
      const replica = this.toReplica(Math.floor(at / BLOCK_BYTES));
      let runEnd = Math.min(end, blockEnd(at));
      while (runEnd < end && this.toReplica(runEnd / BLOCK_BYTES) === replica) {
        runEnd = Math.min(end, runEnd + BLOCK_BYTES);
      }
      const part = data.subarray(at - offset, runEnd - offset);
      if (replica) await this.replicaFile().pwrite(part, at);
      else await this.writeOverlay(at, part);
      at = runEnd;
    }
  }

  /**
   * Writes a run of blocks into the overlay: partial head and tail blocks not yet in the
   * overlay are completed from below (or zeros) first; then every block is OVERLAY.
   */
  private async writeOverlay(offset: number, data: Buffer): Promise<void> {
    const map = this.blockMap();
    const overlay = this.overlayFile();
    const end = offset + data.length;
    const [first, last] = blockRange(offset, data.length);
    let middleFrom = offset;
    let middleTo = end;
    const headStart = first * BLOCK_BYTES;
    if (offset > headStart || end < blockEnd(headStart, this.size)) {
      if (map.get(first) !== BLOCK_OVERLAY) {
        const headEnd = Math.min(blockEnd(headStart, this.size), end);
        await this.mergeBlock(first, offset, data.subarray(0, headEnd - offset));
        middleFrom = headEnd;
      }
    }
    const tailStart = last * BLOCK_BYTES;
    if (last > first && end < blockEnd(tailStart, this.size) && map.get(last) !== BLOCK_OVERLAY) {
      await this.mergeBlock(last, tailStart, data.subarray(tailStart - offset));
      middleTo = tailStart;
    }
    if (middleTo > middleFrom) {
      await overlay.pwrite(data.subarray(middleFrom - offset, middleTo - offset), middleFrom);
    }
    for (let b = first; b <= last; b += 1) map.set(b, BLOCK_OVERLAY);
  }

  /** Read-modify-write of one block into the overlay. */
  private async mergeBlock(block: number, at: number, part: Buffer): Promise<void> {
    const start = block * BLOCK_BYTES;
    const whole = Buffer.alloc(Math.min(BLOCK_BYTES, this.size - start));
    const state: BlockState = this.blockMap().get(block);
    if (state === BLOCK_LOWER) await this.lowerDisk().read(start, whole);
    part.copy(whole, at - start);
    await this.overlayFile().pwrite(whole, start);
  }

  /** Whole overlay blocks become ZERO (no I/O); the rest is written as zeros. */
  private async zeroLocked(offset: number, length: number): Promise<void> {
    const map = this.blockMap();
    const end = offset + length;
    let pending = -1; // start of a stretch still to be written as zeros
    const writeZeros = async (from: number, to: number): Promise<void> => {
      for (let at = from; at < to; at += ZEROS.length) {
        await this.writeLocked(at, ZEROS.subarray(0, Math.min(ZEROS.length, to - at)));
      }
    };
    for (let at = offset; at < end;) {
      const block = Math.floor(at / BLOCK_BYTES);
      const stop = Math.min(end, blockEnd(at, this.size));
      const whole = at === block * BLOCK_BYTES && stop === blockEnd(at, this.size);
      if (whole && !this.toReplica(block)) {
        if (pending >= 0) await writeZeros(pending, at);
        pending = -1;
        map.set(block, BLOCK_ZERO);
      } else if (pending < 0) {
        pending = at;
      }
      at = stop;
    }
    if (pending >= 0) await writeZeros(pending, end);
  }

  private check(offset: number, length: number): void {
    if (this.closed) {
      throw new TidelineError('UNAVAILABLE', `Recovered disk ${this.diskId} is closed`);
    }
    checkDiskExtent(this.diskId, this.size, offset, length);
  }

  private blockMap(): BlockMap {
    if (this.map === undefined) throw this.closedError();
    return this.map;
  }

  private overlayFile(): DiskFile {
    if (this.overlay === undefined) throw this.closedError();
    return this.overlay;
  }

  private replicaFile(): DiskFile {
    if (this.replica === undefined) throw this.closedError();
    return this.replica;
  }

  private lowerDisk(): LowerDisk {
    if (this.lower === undefined) throw this.closedError();
    return this.lower;
  }

  private closedError(): TidelineError {
    return new TidelineError('UNAVAILABLE', `Recovered disk ${this.diskId} is closed`);
  }
}

/** End of the block containing `at` (clipped to `size` when given). */
function blockEnd(at: number, size = Infinity): number {
  return Math.min((Math.floor(at / BLOCK_BYTES) + 1) * BLOCK_BYTES, size);
}

/** First and last block of a non-empty extent. */
function blockRange(offset: number, length: number): [number, number] {
  return [
    Math.floor(offset / BLOCK_BYTES),
    Math.floor((offset + Math.max(length, 1) - 1) / BLOCK_BYTES),
  ];
}
