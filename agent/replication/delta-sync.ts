import { DEFAULT_BLOCK_BYTES, blockDigests, differingRuns } from '../source/block-hasher';
import type { VpgSource } from '../source/vpg-source';
import type { HashesResult, TargetHashes } from './hash-control';
import { MAX_HASH_REQUEST_BYTES } from './hash-control';

/** What a delta sync needs of the VPG's source (VpgSource fits). */
export type DeltaSource = Pick<VpgSource, 'vpgId' | 'readExtents' | 'seed'>;

export interface Extent {
  readonly offset: number;
  readonly length: number;
}

export interface DeltaControl {
  readonly signal: AbortSignal;
  /** Waits while the outbox holds more than the sync may add to it. */
  pace(): Promise<void>;
}

export interface DeltaProgress {
  records: number;
  /** Bytes of disk content sent as seed data. */
  dataBytes: number;
  /** Bytes of disk examined (hashed and compared). */
  scannedBytes?: number;
  /** vpg.hashes requests made. */
  hashRequests?: number;
}

export interface DeltaOptions {
  /** Block size of the compare (default 64 KiB, the dirty bitmap's region size). */
  readonly blockBytes?: number;
  /** Bytes of extents per hash request (default 4 MiB). */
  readonly batchBytes?: number;
  /** Hash requests in flight (default 4): a link with latency is not round-trip bound. */
  readonly depth?: number;
  /** An extent is in sync with the target (its differing blocks sequenced): clear it. */
  readonly onSynced?: (extent: Extent) => void;
}

const SEED_CHUNK = 1024 * 1024;

interface Pending {
  readonly batch: readonly Extent[];
  readonly ours: (string | null)[][];
  readonly answer: Promise<HashesResult>;
}

/**
 * Delta sync of some extents of one disk (resync after an overflow, initial sync against a
 * pre-seeded replica). For each batch of extents:
 *
 * 1. the source reads them atomically with respect to the VM's writes and learns the seq `s`
 *    of that instant (VpgSource.readExtents), and hashes their blocks;
 * 2. the target hashes its view of the same extents as of `s` (vpg.hashes: replica plus the
 *    journal's records up to `s`, once it holds them all);
 * 3. blocks whose hashes differ are sequenced as `seed` records (VpgSource.seed, read again,
 *    atomically, at a later seq `s2`; zero blocks as `zero` records).
 *
 * Why that is right: at `s` both sides had applied the same records, so a block equal at `s`
 * stays equal, for every later write to it is a streamed record with seq > `s`; a block that
 * differed is overwritten at `s2` by the source's content at `s2`, and later writes follow it.
 * If the target already applied its replica past `s` (the view is gone), the batch is sent
 * whole. Several batches are in flight at once; their results are handled in order.
 */
export async function deltaSync(
  source: DeltaSource,
  diskId: string,
  extents: Iterable<Extent>,
  target: TargetHashes,
  control: DeltaControl,
  progress: DeltaProgress,
  options: DeltaOptions = {},
): Promise<void> {
  const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  const batchBytes = Math.min(options.batchBytes ?? 4 * 1024 * 1024, MAX_HASH_REQUEST_BYTES);
  const depth = Math.max(1, options.depth ?? 4);
  const queue: Pending[] = [];
  const settle = async (pending: Pending): Promise<void> => {
    const answer = await pending.answer;
    for (const [i, extent] of pending.batch.entries()) {
      const runs =
        'appliedPast' in answer
          ? [extent]
          : differingRuns(
              extent.offset,
              extent.length,
              blockBytes,
              pending.ours[i] ?? [],
              answer.hashes[i] ?? [],
            );
      for (const run of runs) await sendRun(source, diskId, run, blockBytes, control, progress);
      options.onSynced?.(extent);
    }
  };
  try {
    for (const batch of batches(extents, batchBytes)) {
      control.signal.throwIfAborted();
      await control.pace();
      control.signal.throwIfAborted();
      const { seq, data } = await source.readExtents(diskId, batch);
      const ours = data.map((d) => blockDigests(d, blockBytes));
      progress.scannedBytes =
        (progress.scannedBytes ?? 0) + batch.reduce((n, e) => n + e.length, 0);
      progress.hashRequests = (progress.hashRequests ?? 0) + 1;
      const answer = target.hashes({
        vpgId: source.vpgId,
        diskId,
        atSeq: seq,
        blockBytes,
        extents: batch.map((e) => ({ offset: e.offset, length: e.length })),
      });
      // Handled when its turn comes; until then a failure must not count as unhandled.
      answer.catch(() => undefined);
      queue.push({ batch, ours, answer });
      if (queue.length >= depth) await settle(queue.shift() as Pending);
    }
    while (queue.length > 0) {
      control.signal.throwIfAborted();
      await settle(queue.shift() as Pending);
    }
  } finally {
    queue.length = 0;
  }
}

async function sendRun(
  source: DeltaSource,
  diskId: string,
  run: Extent,
  blockBytes: number,
  control: DeltaControl,
  progress: DeltaProgress,
): Promise<void> {
  for (let at = run.offset; at < run.offset + run.length; at += SEED_CHUNK) {
    control.signal.throwIfAborted();
    await control.pace();
    control.signal.throwIfAborted();
    const length = Math.min(SEED_CHUNK, run.offset + run.length - at);
    const result = await source.seed(diskId, at, length, { zeroBlocks: 'zero', blockBytes });
    progress.records += result.records;
    progress.dataBytes += result.dataBytes;
  }
}

/** Extents grouped into hash requests of at most `batchBytes` (longer extents are split). */
export function* batches(extents: Iterable<Extent>, batchBytes: number): Generator<Extent[]> {
  let batch: Extent[] = [];
  let bytes = 0;
  for (const extent of extents) {
    for (let at = extent.offset; at < extent.offset + extent.length;) {
      const length = Math.min(batchBytes - bytes, extent.offset + extent.length - at);
      batch.push({ offset: at, length });
      bytes += length;
      at += length;
      if (bytes >= batchBytes || batch.length >= 1024) {
        yield batch;
        batch = [];
        bytes = 0;
      }
    }
  }
  if (batch.length > 0) yield batch;
}
