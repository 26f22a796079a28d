import { isZeroBlock } from '../source/block-hasher';
import type { DirtyRegion } from '../source/dirty-bitmap';
import type { VpgSource } from '../source/vpg-source';
import type { DiskFile } from '../tap/disk-file';
import { deltaSync, type DeltaOptions } from './delta-sync';
import type { TargetHashes } from './hash-control';

/** What a running initial sync or resync obeys. */
export interface SyncControl {
  readonly signal: AbortSignal;
  /** Waits while the outbox holds more than the sync may add to it. */
  pace(): Promise<void>;
}

export interface SyncProgress {
  records: number;
  /** Bytes of disk content sent as seed data. */
  dataBytes: number;
  /** Bytes of disk examined (peeked at, or hashed and compared with the target). */
  scannedBytes?: number;
  /** Block-hash requests to the target (delta sync). */
  hashRequests?: number;
}

const CHUNK_BYTES = 1024 * 1024;

/**
 * Initial sync of one disk: its non-zero blocks, sequenced as seed records through the VPG's
 * source (VpgSource.seed, atomic with the VM's writes). The replica starts as zeros, so zero
 * blocks are skipped; a never-written sparse file is skipped without reading. Each chunk is
 * peeked at first: a chunk that is all zeros needs no seed (any write racing with the peek
 * is sequenced as a write, on top of the replica's zeros).
 *
 * A pre-seeded replica (`preseeded`: the target's hashes) does not start as zeros: the whole
 * disk is compared block by block instead, and only differing blocks are sent (delta-sync.ts).
 */
export async function seedDisk(
  source: VpgSource,
  disk: DiskFile,
  control: SyncControl,
  progress: SyncProgress,
  preseeded?: TargetHashes,
  delta?: DeltaOptions,
): Promise<void> {
  if (preseeded !== undefined) {
    await deltaSync(
      source,
      disk.diskId,
      [{ offset: 0, length: disk.size }],
      preseeded,
      control,
      progress,
      delta,
    );
    return;
  }
  if ((await disk.allocatedBytes()) === 0) {
    progress.scannedBytes = (progress.scannedBytes ?? 0) + disk.size;
    return;
  }
  const peek = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let offset = 0; offset < disk.size; offset += CHUNK_BYTES) {
    control.signal.throwIfAborted();
    const length = Math.min(CHUNK_BYTES, disk.size - offset);
    const view = await disk.pread(offset, length, peek.subarray(0, length));
    progress.scannedBytes = (progress.scannedBytes ?? 0) + length;
    if (isZeroBlock(view)) continue;
    await control.pace();
    control.signal.throwIfAborted();
    const result = await source.seed(disk.diskId, offset, length, { zeroBlocks: 'skip' });
    progress.records += result.records;
    progress.dataBytes += result.dataBytes;
  }
}

/**
 * Resync of one disk after the outbox overflowed: the regions its dirty bitmap marks. With the
 * target's hashes (`target`), they are compared block by block and only differing blocks are
 * sent (delta-sync.ts); without, every dirty region is sent again as it is now (seed records,
 * zero records for zero blocks: the replica may hold anything there). A region is cleared once
 * it is in sync — and only while the source keeps records (queue mode): if the outbox
 * overflowed again meanwhile, the bitmap may hold a newer mark for it, which must stay.
 */
export async function resyncDisk(
  source: VpgSource,
  diskId: string,
  control: SyncControl,
  progress: SyncProgress,
  target?: TargetHashes,
  delta?: DeltaOptions,
): Promise<void> {
  const bitmap = source.bitmap(diskId);
  const cleared: Promise<void>[] = [];
  const clear = (index: number): void => {
    if (source.mode === 'queue') cleared.push(bitmap.clear(index));
  };
  try {
    const regions = [...bitmap.dirtyRegions()];
    const runs = runsOf(regions);
    if (target !== undefined) {
      const byIndex = new Map(regions.map((r) => [r.index, r]));
      const size = bitmap.regionBytes;
      await deltaSync(source, diskId, runs, target, control, progress, {
        ...delta,
        // The regions that end inside the extent: a region split between two requests is
        // cleared with its second part (results are handled in disk order).
        onSynced: (extent) => {
          const end = extent.offset + extent.length;
          for (let i = Math.floor(extent.offset / size); i * size < end; i += 1) {
            const region = byIndex.get(i);
            if (region !== undefined && region.offset + region.length <= end) clear(i);
          }
        },
      });
      return;
    }
    for (const run of runs) {
      control.signal.throwIfAborted();
      await control.pace();
      control.signal.throwIfAborted();
      const result = await source.seed(diskId, run.offset, run.length, { zeroBlocks: 'zero' });
      progress.records += result.records;
      progress.dataBytes += result.dataBytes;
      progress.scannedBytes = (progress.scannedBytes ?? 0) + run.length;
      for (const index of run.indexes) clear(index);
    }
  } finally {
    await Promise.allSettled(cleared);
    await bitmap.flush();
  }
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
