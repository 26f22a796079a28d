import { mkdir, open, rm, unlink } from 'node:fs/promises';
import { TidelineError } from '../../app/errors';
import type { CheckpointView } from '../journal/checkpoint-view';
import { JournalClosedError, UnknownDiskError } from '../journal/errors';
import type { Journal } from '../journal/journal';
import type { JournalLog } from '../journal/options';
import { fsyncDirectory } from '../store/atomic-file';
import { isErrno } from '../store/json-file';
import { DiskFile } from '../tap/disk-file';
import { BLOCK_BYTES, BlockMap } from './block-map';
import { LayeredDisk, type DiskMode, type LowerDisk } from './recovery-disk';
import {
  mapPath,
  overlayPath,
  readSetFile,
  recoverySetDir,
  writeSetFile,
  type RecoverySetFile,
  type SetPhase,
} from './recovery-set-file';
import type {
  PromoteProgress,
  RecoveryDisk,
  RecoveryDiskOpenParams,
  RecoveryDiskSet,
} from './recovery-types';

/** What a set needs from its agent. */
export interface RecoverySetContext {
  readonly dataDir: string;
  /** The open journal of a recovery-site VPG (it may be reopened: asked again then). */
  readonly journalOf: (vpgId: string) => Journal | undefined;
  readonly log: JournalLog;
  /** The set's disks are served (NBD) from open until close/discard. */
  readonly register: (set: LayeredDiskSet) => void;
  readonly unregister: (set: LayeredDiskSet) => void;
}

/** The journal pin of a failover's recovered disks. */
export function pinId(failoverId: string): string {
  return `recovery:${failoverId}`;
}

/**
 * The recovered disks of one failover (RecoveryDiskSet): opened over the VPG's journal with
 * a pin at the checkpoint, reopened from `set.json` after a restart, promoted into the
 * replica files on commit, discarded on stopTest/rollback.
 */
export class LayeredDiskSet implements RecoveryDiskSet {
  private state: RecoverySetFile;
  private layered: LayeredDisk[] = [];
  private discarded = false;
  private closed = false;
  private promoting: Promise<void> | undefined;

  private constructor(
    private readonly ctx: RecoverySetContext,
    private readonly dir: string,
    file: RecoverySetFile,
  ) {
    this.state = file;
  }

  static async open(
    ctx: RecoverySetContext,
    params: RecoveryDiskOpenParams,
  ): Promise<LayeredDiskSet> {
    const dir = recoverySetDir(ctx.dataDir, params.failoverId);
    const wanted: RecoverySetFile = {
      version: 1,
      failoverId: params.failoverId,
      vpgId: params.vpgId,
      checkpointSeq: params.checkpointSeq,
      disks: params.disks.map((d) => ({ ...d })),
      phase: 'layered',
    };
    const existing = await readSetFile(dir);
    if (existing !== undefined && !sameSet(existing, wanted)) {
      throw new TidelineError(
        'CONFLICT',
        `Failover ${params.failoverId} already has recovered disks of VPG ${existing.vpgId} at checkpoint ${existing.checkpointSeq} with other disks; discard them first`,
      );
    }
    const journal = journalFor(ctx, params.vpgId);
    const file = existing ?? wanted;
    for (const d of file.disks) {
      const spec = journal.disks().find((s) => s.diskId === d.sourceDiskId);
      if (spec === undefined) {
        throw new UnknownDiskError(
          params.vpgId,
          d.sourceDiskId,
          journal.disks().map((s) => s.diskId),
        );
      }
      if (spec.sizeBytes !== d.sizeBytes) {
        throw new TidelineError(
          'INVALID_PARAMS',
          `Disk ${d.sourceDiskId} of VPG ${params.vpgId} is ${spec.sizeBytes} bytes at the recovery site, not ${d.sizeBytes}`,
        );
      }
    }
    if (existing === undefined) {
      await mkdir(dir, { recursive: true, mode: 0o750 });
      await writeSetFile(dir, file);
    }
    const set = new LayeredDiskSet(ctx, dir, file);
    try {
      await set.start(journal, existing === undefined);
    } catch (err) {
      await set.closeDisks();
      if (existing === undefined) await rm(dir, { recursive: true, force: true });
      throw err;
    }
    ctx.register(set);
    return set;
  }

  get failoverId(): string {
    return this.state.failoverId;
  }

  get vpgId(): string {
    return this.state.vpgId;
  }

  get checkpointSeq(): number {
    return this.state.checkpointSeq;
  }

  get phase(): SetPhase {
    return this.state.phase;
  }

  get disks(): readonly RecoveryDisk[] {
    return this.layered;
  }

  async discard(): Promise<void> {
    if (this.discarded) return;
    if (this.state.phase !== 'layered') {
      throw new TidelineError(
        'CONFLICT',
        `The recovered disks of failover ${this.failoverId} are ${this.state.phase === 'promoted' ? 'promoted' : 'being promoted'} into the replicas: they can no longer be discarded`,
      );
    }
    this.discarded = true;
    this.ctx.unregister(this);
    await this.closeDisks();
    await rm(this.dir, { recursive: true, force: true });
    const journal = this.ctx.journalOf(this.vpgId);
    if (journal === undefined) {
      this.ctx.log.warn(
        { vpgId: this.vpgId, failoverId: this.failoverId },
        'recovered disks discarded while the VPG journal is not open: its pin stays until the next discard of this failover',
      );
      return;
    }
    await journal.unpin(pinId(this.failoverId));
  }

  async close(): Promise<void> {
    if (this.closed || this.discarded) return;
    this.closed = true;
    this.ctx.unregister(this);
    await this.promoting?.catch(() => undefined);
    await this.closeDisks();
  }

  promote(onProgress?: (progress: PromoteProgress) => void): Promise<void> {
    this.promoting ??= this.runPromotion(onProgress).finally(() => {
      this.promoting = undefined;
    });
    return this.promoting;
  }

  // ───────────────────────────── open ─────────────────────────────

  private async start(journal: Journal, fresh: boolean): Promise<void> {
    const { phase, checkpointSeq } = this.state;
    const id = pinId(this.failoverId);
    if (phase === 'layered' || phase === 'promoting-view') {
      // A fresh set pins at C; a reopened one keeps its pin (frozen at appliedSeq once
      // promotion started) and only re-creates a lost one.
      if (fresh || !journal.pins().has(id)) {
        await journal.pin(id, phase === 'layered' ? checkpointSeq : 'applied');
      }
    }
    for (const d of this.state.disks) {
      const spec = journal.disks().find((s) => s.diskId === d.sourceDiskId);
      const replicaPath = spec?.replicaPath ?? '';
      let mode: DiskMode = 'layered';
      let lower: LowerDisk | undefined;
      let replica: DiskFile | undefined;
      if (phase === 'layered' || phase === 'promoting-view') {
        lower = await this.viewReader(d.sourceDiskId);
      } else {
        replica = await DiskFile.open(d.diskId, replicaPath);
        const r = replica;
        lower = { read: async (offset, into) => void (await r.pread(offset, into.length, into)) };
        mode = phase === 'promoted' ? 'direct' : 'copying';
      }
      let overlay: DiskFile | undefined;
      let map: BlockMap | undefined;
      if (phase !== 'promoted') {
        const path = overlayPath(this.dir, d.diskId);
        await createSparse(path, d.sizeBytes);
        overlay = await DiskFile.open(d.diskId, path);
        map = await BlockMap.open(
          mapPath(this.dir, d.diskId),
          Math.ceil(d.sizeBytes / BLOCK_BYTES),
        );
      }
      this.layered.push(
        new LayeredDisk({
          diskId: d.diskId,
          sourceDiskId: d.sourceDiskId,
          size: d.sizeBytes,
          mode,
          lower,
          overlay,
          map,
          replica,
        }),
      );
    }
    await fsyncDirectory(this.dir);
  }

  /**
   * The view at C of a source disk; if the VPG's journal was reopened meanwhile (settings
   * changed), the view is opened again on the new one (the pin is in its directory).
   */
  private async viewReader(sourceDiskId: string): Promise<LowerDisk> {
    let view: CheckpointView = await journalFor(this.ctx, this.vpgId).openView(
      sourceDiskId,
      this.checkpointSeq,
    );
    return {
      read: async (offset, into) => {
        try {
          await view.read(offset, into);
        } catch (err) {
          if (!(err instanceof JournalClosedError)) throw err;
          const journal = this.ctx.journalOf(this.vpgId);
          if (journal === undefined) throw err;
          view = await journal.openView(sourceDiskId, this.checkpointSeq);
          await view.read(offset, into);
        }
      },
    };
  }

  // ───────────────────────────── promotion ─────────────────────────────

  private async runPromotion(onProgress?: (progress: PromoteProgress) => void): Promise<void> {
    if (this.closed || this.discarded) {
      throw new TidelineError(
        'UNAVAILABLE',
        `The recovered disks of failover ${this.failoverId} are closed`,
      );
    }
    if (this.state.phase === 'promoted') return;
    const journal = journalFor(this.ctx, this.vpgId);
    const replicaPaths = new Map(journal.disks().map((s) => [s.diskId, s.replicaPath]));
    let done = 0;
    let total = 0;
    const progress = (bytes: number): void => {
      done += bytes;
      onProgress?.({ doneBytes: Math.min(done, total), totalBytes: total });
    };
    if (this.state.phase === 'layered') {
      // Frozen: no apply may touch the replicas while the view is written into them.
      await journal.pin(pinId(this.failoverId), 'applied');
      await this.setPhase('promoting-view');
    }
    if (this.state.phase === 'promoting-view') {
      const plans = await Promise.all(
        this.layered.map(async (disk) => {
          const view = await journal.openView(disk.sourceDiskId, this.checkpointSeq);
          const extents = await view.writtenExtents();
          return { disk, extents };
        }),
      );
      for (const { extents, disk } of plans) {
        for (const e of extents) total += e.end - e.start;
        total += disk.layeredBlocks() * BLOCK_BYTES;
      }
      const replicas: DiskFile[] = [];
      for (const { disk, extents } of plans) {
        const replica = await DiskFile.open(disk.diskId, replicaPaths.get(disk.sourceDiskId) ?? '');
        replicas.push(replica);
        await disk.copyViewToReplica(extents, replica, progress);
      }
      await this.setPhase('promoting-overlay');
      this.layered.forEach((disk, i) => disk.startCopying(replicas[i] as DiskFile));
    } else {
      for (const disk of this.layered) total += disk.layeredBlocks() * BLOCK_BYTES;
    }
    for (const disk of this.layered) await disk.copyOverlayToReplica(progress);
    await this.setPhase('promoted');
    for (const disk of this.layered) {
      // The handles stay open until close (reads in flight); the files go now.
      disk.becomeDirect();
      await Promise.all(
        [overlayPath(this.dir, disk.diskId), mapPath(this.dir, disk.diskId)].map((p) =>
          unlink(p).catch((err: unknown) => {
            if (!isErrno(err, 'ENOENT')) throw err;
          }),
        ),
      );
    }
    // The journal stays frozen (pin at appliedSeq): its records must never be applied over
    // the recovered VM's data now in the replicas. Committing drops the journal, pin and all.
    onProgress?.({ doneBytes: total, totalBytes: total });
  }

  private async setPhase(phase: SetPhase): Promise<void> {
    const next = { ...this.state, phase };
    await writeSetFile(this.dir, next);
    this.state = next;
  }

  private async closeDisks(): Promise<void> {
    const disks = this.layered;
    const results = await Promise.allSettled(disks.map((d) => d.close()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

function journalFor(ctx: RecoverySetContext, vpgId: string): Journal {
  const journal = ctx.journalOf(vpgId);
  if (journal === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `VPG ${vpgId} has no journal on this agent: recovered disks are opened at the VPG's recovery site`,
    );
  }
  return journal;
}

function sameSet(a: RecoverySetFile, b: RecoverySetFile): boolean {
  return (
    a.vpgId === b.vpgId &&
    a.checkpointSeq === b.checkpointSeq &&
    JSON.stringify(a.disks) === JSON.stringify(b.disks)
  );
}

/** Creates a sparse file of `size` bytes unless it exists. */
async function createSparse(path: string, size: number): Promise<void> {
  try {
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
}
