import { TidelineError, isTidelineError } from '../../app/errors';
import type { Logger } from '../log';
import type { VpgSource } from '../source/vpg-source';
import type { DiskFile } from '../tap/disk-file';
import { isTransient, type TargetHashes } from './hash-control';
import { resyncDisk, seedDisk, type SyncControl, type SyncProgress } from './region-sync';
import type { TaskManager } from '../tasks/task-manager';
import { SyncTask } from './sync-task';
import type { AttachProgress } from './mirror-attachments';

/** The tap's attachment to the VPG's disks (mirroring hypervisors): a sync waits for it. */
export interface SyncAttachments {
  whenSettled(signal: AbortSignal, onProgress: (p: AttachProgress) => void): Promise<void>;
}
import { sleep } from '../util/sleep';

export type SyncKind = 'seeding' | 'resync';

export interface SyncRunnerOptions {
  readonly source: VpgSource;
  /** The VPG's disks as the tap opened them (the owner's array: addVm/removeVm change it). */
  readonly disks: readonly DiskFile[];
  readonly outboxLimitBytes: number;
  readonly log: Logger;
  /** Initial sync is done (or handed over to a resync of every region): persist it. */
  readonly onSeeded: () => Promise<void>;
  /** The sync failed for good: the VPG is in Error. */
  readonly onFault: (error: TidelineError) => void;
  /** Started or ended (the VPG's status changes). */
  readonly onChange: () => void;
  /** The target's block hashes (delta sync); without, resync sends dirty regions whole. */
  readonly target?: TargetHashes;
  /** Disks whose replica was pre-seeded: their initial sync is a hash compare. */
  readonly preseeded?: ReadonlySet<string>;
  /** Wait before trying again after a link failure (default 2 s). */
  readonly retryMs?: number;
  /** Each run is shown as an InitialSync or Resync task (sync-task.ts). */
  readonly tasks?: TaskManager;
  /** Mirroring hypervisors: a run first waits until the tap is attached to every disk. */
  readonly attachments?: SyncAttachments;
}

/** An initial sync or resync may keep at most this much in the outbox (or a quarter of it). */
const SYNC_BACKLOG_BYTES = 64 * 1024 * 1024;

/**
 * Runs one initial sync or resync of a VPG at a time (region-sync.ts), in the background:
 * checkpoints are inconsistent while it runs and a consistent one is inserted when it ends;
 * it paces itself on the outbox backlog. If the outbox overflows meanwhile (the VMs write
 * faster than the link drains), it stops and the resync starts over later; an initial sync
 * then becomes a resync of every region.
 */
export class SyncRunner {
  private running: { kind: SyncKind; abort: AbortController; done: Promise<void> } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: SyncRunnerOptions) {}

  get kind(): SyncKind | undefined {
    return this.running?.kind;
  }

  /** `only`: the disks to seed (those vpg.addVm added); all of them if absent. */
  start(kind: SyncKind, only?: readonly string[]): void {
    if (this.running !== undefined || this.stopped) return;
    clearTimeout(this.retryTimer);
    const { source, log } = this.options;
    const abort = new AbortController();
    source.setInconsistent(true);
    log.info({ kind }, kind === 'seeding' ? 'initial sync started' : 'resync started');
    const disks = this.options.disks.filter((d) => only === undefined || only.includes(d.diskId));
    const task = new SyncTask(this.options.tasks, kind, source, disks, log, {
      attachStep: this.options.attachments !== undefined,
    });
    const done = this.run(kind, abort.signal, only, task)
      .then(() => task.succeed())
      .catch((err: unknown) => {
        task.end(err, abort.signal);
        return this.failed(kind, err, abort.signal, only);
      })
      .finally(() => {
        this.running = undefined;
        this.options.onChange();
      });
    this.running = { kind, abort, done };
    this.options.onChange();
  }

  /** Aborts the sync in progress and waits for it to stop. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.abortRun();
  }

  /**
   * Aborts the run in progress (if any) and waits for it to stop; later runs may start. A
   * disk the tap lost must be marked dirty only after this, or the run could clear its marks.
   */
  async abortRun(reason?: string): Promise<void> {
    clearTimeout(this.retryTimer);
    const running = this.running;
    if (running === undefined) return;
    running.abort.abort(reason);
    await running.done;
  }

  private async run(
    kind: SyncKind,
    signal: AbortSignal,
    only: readonly string[] | undefined,
    task: SyncTask,
  ): Promise<void> {
    const { source, log } = this.options;
    const threshold = Math.min(SYNC_BACKLOG_BYTES, Math.floor(this.options.outboxLimitBytes / 4));
    const control: SyncControl = {
      signal,
      pace: async () => {
        while (source.status().backlogBytes > threshold && !signal.aborted) await sleep(20);
      },
    };
    const progress: SyncProgress = { records: 0, dataBytes: 0, scannedBytes: 0 };
    const started = Date.now();
    const { attachments } = this.options;
    if (attachments !== undefined) {
      task.startAttach();
      await attachments.whenSettled(signal, (p) => task.attachProgress(p.fraction));
      if (signal.aborted) throw new TidelineError('UNAVAILABLE', `The ${kind} was cancelled`);
    }
    if (kind === 'resync') await source.resumeStreaming();
    task.watch(progress);
    for (const disk of [...this.options.disks]) {
      if (only !== undefined && !only.includes(disk.diskId)) continue;
      task.startDisk(disk.diskId);
      const { target, preseeded } = this.options;
      if (kind === 'seeding') {
        const compare = preseeded?.has(disk.diskId) === true ? target : undefined;
        await seedDisk(source, disk, control, progress, compare);
      } else await resyncDisk(source, disk.diskId, control, progress, target);
    }
    source.setInconsistent(false);
    // The first consistent checkpoint, at once rather than at the next interval.
    source.insertCheckpoint();
    if (kind === 'seeding') await this.options.onSeeded();
    log.info(
      { kind, ...progress, seconds: Math.round((Date.now() - started) / 100) / 10 },
      kind === 'seeding' ? 'initial sync done' : 'resync done',
    );
  }

  private async failed(
    kind: SyncKind,
    err: unknown,
    signal: AbortSignal,
    only: readonly string[] | undefined,
  ): Promise<void> {
    const { source, log } = this.options;
    if (signal.aborted) return;
    if (source.mode === 'bitmap') {
      log.warn({ kind }, `the outbox overflowed during the ${kind}: resyncing instead`);
      if (kind === 'seeding') {
        try {
          for (const disk of this.options.disks) await source.bitmap(disk.diskId).markAll();
          await this.options.onSeeded();
        } catch (markErr) {
          this.options.onFault(
            new TidelineError(
              'INTERNAL_ERROR',
              `The initial sync of VPG ${source.vpgId} could not fall back to a resync: ${markErr instanceof Error ? markErr.message : String(markErr)}`,
            ),
          );
        }
      }
      return;
    }
    if (isTransient(err)) {
      // The hash compare needs the recovery site: start over once it answers again.
      log.warn(
        { kind, err: err instanceof Error ? err.message : String(err) },
        `the ${kind} is waiting for the recovery site`,
      );
      this.retryTimer = setTimeout(() => this.start(kind, only), this.options.retryMs ?? 2000);
      this.retryTimer.unref();
      return;
    }
    log.error({ err, kind }, `${kind === 'seeding' ? 'initial sync' : 'resync'} failed`);
    this.options.onFault(
      isTidelineError(err)
        ? err
        : new TidelineError('INTERNAL_ERROR', `The ${kind} of VPG ${source.vpgId} failed`),
    );
  }
}
