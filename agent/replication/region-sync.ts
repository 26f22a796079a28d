import { isZeroBlock } from '../source/block-hasher';
import type { DirtyRegion } from '../source/dirty-bitmap';
import type { VpgSource } from '../source/vpg-source';
import type { DiskFile } from '../tap/disk-file';

/** What a running initial sync or resync obeys. */
export interface SyncControl {
  readonly signal: AbortSignal;
  /** Waits while the outbox holds more than the sync may add to it. */
  pace(): Promise<void>;
}

export interface SyncProgress {
  records: number;
  dataBytes: number;
}

const CHUNK_BYTES = 1024 * 1024;

/**
 * Initial sync of one disk: its non-zero blocks, sequenced as seed records through the VPG's
 * source (VpgSource.seed, atomic with the VM's writes). The replica starts as zeros, so zero
 * blocks are skipped; a never-written sparse file is skipped without reading. Each chunk is
 * peeked at first: a chunk that is all zeros needs no seed (any write racing with the peek
 * is sequenced as a write, on top of the replica's zeros).
 */
export async function seedDisk(
  source: VpgSource,
  disk: DiskFile,
  control: SyncControl,
  progress: SyncProgress,
): Promise<void> {
  if ((await disk.allocatedBytes()) === 0) return;
  const peek = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let offset = 0; offset < disk.size; offset += CHUNK_BYTES) {
    control.signal.throwIfAborted();
    const length = Math.min(CHUNK_BYTES, disk.size - offset);
    const view = await disk.pread(offset, length, peek.subarray(0, length));
    if (isZeroBlock(view)) continue;
    await control.pace();
    control.signal.throwIfAborted();
    const result = await source.seed(disk.diskId, offset, length, { zeroBlocks: 'skip' });
    progress.records += result.records;
    progress.dataBytes += result.dataBytes;
  }
}

/**
 * Resync of one disk after the outbox overflowed: every region its dirty bitmap marks is
 * sent again as it is now (seed records, zero records for zero blocks: the replica may hold
 * anything there), then cleared. A region written again meanwhile is sequenced as a write
 * (the source is streaming again), so clearing after the seed loses nothing.
 */
export async function resyncDisk(
  source: VpgSource,
  diskId: string,
  control: SyncControl,
  progress: SyncProgress,
): Promise<void> {
  const bitmap = source.bitmap(diskId);
  const cleared: Promise<void>[] = [];
  try {
    for (const run of runsOf([...bitmap.dirtyRegions()])) {
      control.signal.throwIfAborted();
      await control.pace();
      control.signal.throwIfAborted();
      const result = await source.seed(diskId, run.offset, run.length, { zeroBlocks: 'zero' });
      progress.records += result.records;
      progress.dataBytes += result.dataBytes;
      for (const index of run.indexes) cleared.push(bitmap.clear(index));
    }
  } finally {
    await Promise.allSettled(cleared);
  }
  await bitmap.flush();
}

interface Run {
  readonly offset: number;
  length: number;
  readonly indexes: number[];
}

/** Adjacent dirty regions joined into runs of at most 1 MiB. */
function runsOf(regions: readonly DirtyRegion[]): Run[] {
  const runs: Run[] = [];
  let run: Run | undefined;
  for (const region of regions) {
    if (
      run !== undefined &&
      run.offset + run.length === region.offset &&
      run.length + region.length <= CHUNK_BYTES
    ) {
      run.length += region.length;
      run.indexes.push(region.index);
    } else {
      run = { offset: region.offset, length: region.length, indexes: [region.index] };
      runs.push(run);
    }
  }
  return runs;
}
