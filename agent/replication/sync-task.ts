import { TidelineError } from '../../app/errors';
import { ATTACH_STEP } from '../../app/task/task-schemas';
import type { Logger } from '../log';
import type { VpgSource } from '../source/vpg-source';
import type { DiskFile } from '../tap/disk-file';
import type { TaskHandle, TaskManager } from '../tasks/task-manager';
import { isTransient } from './hash-control';
import type { SyncProgress } from './region-sync';

/** How often the sync's progress (SyncProgress.scannedBytes) is read into the task. */
const POLL_MS = 500;

/**
 * One initial sync or resync shown as an InitialSync or Resync task: units are the bytes to
 * examine (the disks' sizes for a seed, their dirty bytes for a resync), one step per disk,
 * progress read from the SyncProgress that region-sync fills. Task bookkeeping never breaks
 * the sync: without a task manager (or while it is stopping) this does nothing.
 */
export class SyncTask {
  private readonly handle: TaskHandle | undefined;
  private readonly units: Map<string, number>;
  private progress: SyncProgress | undefined;
  private poll: NodeJS.Timeout | undefined;
  private disk: { readonly units: number; readonly scannedBefore: number } | undefined;

  constructor(
    tasks: TaskManager | undefined,
    private readonly kind: 'seeding' | 'resync',
    private readonly source: VpgSource,
    disks: readonly DiskFile[],
    log: Logger,
    options: { readonly attachStep?: boolean } = {},
  ) {
    this.units = new Map(
      disks.map((d) => [d.diskId, kind === 'seeding' ? d.size : this.dirtyBytes(d.diskId)]),
    );
    let total = 0;
    for (const units of this.units.values()) total += units;
    try {
      this.handle = tasks?.begin({
        type: kind === 'seeding' ? 'InitialSync' : 'Resync',
        vpgId: source.vpgId,
        input: { vpgId: source.vpgId, disks: disks.map((d) => d.diskId) },
        steps: [
          ...(options.attachStep === true ? [ATTACH_STEP] : []),
          ...disks.map((d) => stepName(d.diskId)),
        ],
        totalUnits: total,
        abortable: false,
      });
    } catch (err) {
      log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'sync runs without a task',
      );
    }
  }

  get taskId(): string | undefined {
    return this.handle?.taskId;
  }

  /**
   * The first step of a VPG on a mirroring hypervisor: the tap attaches to every disk (the
   * hypervisor copies each disk into the agent's export once, then mirrors every write).
   */
  startAttach(): void {
    this.handle?.start();
    this.handle?.step(ATTACH_STEP);
  }

  /** How far the hypervisor's copies are (0..1). */
  attachProgress(fraction: number): void {
    this.handle?.progress(0, Math.max(0, Math.min(1, fraction)));
  }

  /** The sync started: progress is read from `progress` until it ends. */
  watch(progress: SyncProgress): void {
    this.progress = progress;
    this.handle?.start();
    if (this.handle === undefined) return;
    this.poll = setInterval(() => this.report(), POLL_MS);
    this.poll.unref();
  }

  /** The sync moves on to `diskId`. */
  startDisk(diskId: string): void {
    this.report();
    this.disk = { units: this.units.get(diskId) ?? 0, scannedBefore: this.scanned() };
    this.handle?.step(stepName(diskId));
  }

  succeed(): void {
    this.stopPolling();
    const p = this.progress;
    this.handle?.succeed(
      p === undefined
        ? undefined
        : { records: p.records, dataBytes: p.dataBytes, scannedBytes: p.scannedBytes ?? 0 },
    );
  }

  /** The sync stopped on `err`: aborted (the VPG stopped), handed over to a resync, or failed. */
  end(err: unknown, signal: AbortSignal): void {
    this.stopPolling();
    this.report();
    const what = this.kind === 'seeding' ? 'initial sync' : 'resync';
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      this.handle?.aborted(
        typeof reason === 'string'
          ? `${reason}: the ${what} starts over`
          : `The VPG was removed or stopped on this agent during the ${what}`,
      );
    } else if (this.source.mode === 'bitmap') {
      this.handle?.fail(
        new TidelineError(
          'CONFLICT',
          `The outbox reached its limit during the ${what} (the VMs wrote faster than the link sent): a resync of the written regions follows`,
        ),
      );
    } else if (isTransient(err)) {
      const message = err instanceof Error ? err.message : String(err);
      this.handle?.fail(
        new TidelineError(
          'UNAVAILABLE',
          `The ${what} needs the recovery site, which did not answer (${message}): it starts over in a moment`,
        ),
      );
    } else {
      this.handle?.fail(err);
    }
  }

  private report(): void {
    if (this.handle === undefined || this.progress === undefined) return;
    const scanned = this.scanned();
    const disk = this.disk;
    const stepProgress =
      disk === undefined || disk.units === 0
        ? undefined
        : Math.min(1, (scanned - disk.scannedBefore) / disk.units);
    this.handle.progress(scanned, stepProgress);
  }

  private scanned(): number {
    return this.progress?.scannedBytes ?? 0;
  }

  private stopPolling(): void {
    if (this.poll !== undefined) clearInterval(this.poll);
    this.poll = undefined;
  }

  private dirtyBytes(diskId: string): number {
    try {
      return this.source.bitmap(diskId).dirtyBytes;
    } catch {
      return 0;
    }
  }
}

function stepName(diskId: string): string {
  return `Disk ${diskId}`;
}
