import { Backoff } from '../../app/backoff';
import type { MirrorTarget, TapMirroring } from '../hypervisor/adapter';
import type { Logger } from '../log';
import { drop } from '../util/drop';
import { sleep } from '../util/sleep';

export interface MirroredDisk {
  readonly vmId: string;
  readonly diskId: string;
}

export interface MirrorAttachmentsOptions {
  readonly vpgId: string;
  readonly mirroring: TapMirroring;
  readonly target: (diskId: string) => MirrorTarget;
  readonly log: Logger;
  /** Every write of the disk reaches the tap before the guest sees it complete, from now on. */
  readonly onAttached: (diskId: string) => Promise<void>;
  /**
   * The disk's writes may have been missed (the mirror ended under a running VM, or the VM
   * started before the mirror was attached): what it holds must be compared again.
   */
  readonly onDetached: (diskId: string, reason: string) => Promise<void>;
  /** A disk's phase or progress changed (the VPG's status says so). */
  readonly onChange: () => void;
  /** How often each disk's mirror is checked besides the hypervisor's events (default 5 s). */
  readonly pollMs?: number;
}

/** pending → attaching → attached; off while the VM does not run; failed retries. */
export type AttachPhase = 'pending' | 'attaching' | 'attached' | 'off' | 'failed';

interface DiskState extends MirroredDisk {
  phase: AttachPhase;
  progress: { done: number; total: number } | undefined;
  error: string | undefined;
  readonly abort: AbortController;
  wake: (() => void) | undefined;
  loop: Promise<void> | undefined;
}

/** What the sync task shows of the attach step. */
export interface AttachProgress {
  readonly settled: boolean;
  /** 0..1 over the disks still copying (QEMU's bulk copy into the export). */
  readonly fraction: number;
  readonly message: string | undefined;
}

/**
 * Keeps the tap attached to every disk of one VPG whose hypervisor mirrors (libvirt): one
 * loop per disk asks the hypervisor for the disk's mirror on every VM event and every
 * `pollMs`, attaches it when the VM runs and it is not attached, and reports a detach (the
 * mirror ended under a running VM, or the VM started) so the VPG compares the disk again. An agent
 * process attaches afresh: a mirror left by an earlier process is ended first (its NBD
 * connection died with that process).
 */
export class MirrorAttachments {
  private readonly disks = new Map<string, DiskState>();
  private offEvents: (() => void) | undefined;
  private stopped = false;
  private readonly settleWaiters = new Set<() => void>();

  private started = false;

  /** `disks` count as not attached from now on (a sync waits for them), until start(). */
  constructor(
    private readonly options: MirrorAttachmentsOptions,
    disks: readonly MirroredDisk[],
  ) {
    this.track(disks);
  }

  /** Starts attaching (once the NBD server, the mirrors' target, listens). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.offEvents = this.options.mirroring.onVmEvent((vmId) => {
      for (const disk of this.disks.values()) if (disk.vmId === vmId) disk.wake?.();
    });
    for (const state of this.disks.values()) this.launch(state);
  }

  add(disks: readonly MirroredDisk[]): void {
    for (const state of this.track(disks)) if (this.started) this.launch(state);
    this.options.onChange();
  }

  private track(disks: readonly MirroredDisk[]): DiskState[] {
    const added: DiskState[] = [];
    for (const { vmId, diskId } of disks) {
      if (this.disks.has(diskId) || this.stopped) continue;
      const state: DiskState = {
        vmId,
        diskId,
        phase: 'pending',
        progress: undefined,
        error: undefined,
        abort: new AbortController(),
        wake: undefined,
        loop: undefined,
      };
      this.disks.set(diskId, state);
      added.push(state);
    }
    return added;
  }

  private launch(state: DiskState): void {
    state.loop ??= this.run(state).catch((err: unknown) =>
      this.options.log.error({ err, diskId: state.diskId }, 'mirror attachment loop failed'),
    );
  }

  /** Stops watching the disks; `detach`: their mirrors end (the VMs keep their own files). */
  async remove(diskIds: readonly string[], detach = true): Promise<void> {
    await Promise.all(
      diskIds.map(async (diskId) => {
        const state = this.disks.get(diskId);
        if (state === undefined) return;
        this.disks.delete(diskId);
        state.abort.abort();
        state.wake?.();
        await state.loop;
        if (detach) await this.detach(state);
      }),
    );
    this.notifySettled();
    this.options.onChange();
  }

  /** Stops every loop; `detach` ends the mirrors (a clean stop, a removed VPG). */
  async stop(detach: boolean): Promise<void> {
    this.stopped = true;
    this.offEvents?.();
    await this.remove([...this.disks.keys()], detach);
  }

  phase(diskId: string): AttachPhase | undefined {
    return this.disks.get(diskId)?.phase;
  }

  /** Every disk is attached, or its VM is off (its file is still: a sync may read it). */
  get settled(): boolean {
    for (const disk of this.disks.values()) {
      if (disk.phase !== 'attached' && disk.phase !== 'off') return false;
    }
    return true;
  }

  progress(): AttachProgress {
    let done = 0;
    let total = 0;
    const waiting: string[] = [];
    for (const disk of this.disks.values()) {
      if (disk.phase === 'attached' || disk.phase === 'off') continue;
      const p = disk.progress;
      done += p?.done ?? 0;
      total += p?.total ?? 0;
      const percent =
        p === undefined || p.total === 0 ? '' : ` ${Math.floor((100 * p.done) / p.total)} %`;
      waiting.push(
        disk.phase === 'failed'
          ? `disk ${disk.diskId}: ${disk.error ?? 'failed'} (retrying)`
          : `disk ${disk.diskId}${percent}`,
      );
    }
    if (waiting.length === 0) return { settled: true, fraction: 1, message: undefined };
    return {
      settled: false,
      fraction: total === 0 ? 0 : done / total,
      message: `Attaching to the VMs' disks (the hypervisor copies each disk into the agent once): ${waiting.join('; ')}`,
    };
  }

  /** Resolves once `settled` (or the signal aborts), reporting progress meanwhile. */
  async whenSettled(signal: AbortSignal, onProgress: (p: AttachProgress) => void): Promise<void> {
    while (!this.settled && !signal.aborted) {
      onProgress(this.progress());
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.settleWaiters.delete(wake);
          resolve();
        };
        this.settleWaiters.add(wake);
        drop(sleep(500, signal).then(wake), () => undefined);
      });
    }
    onProgress(this.progress());
  }

  private async run(state: DiskState): Promise<void> {
    const { mirroring, log } = this.options;
    const target = this.options.target(state.diskId);
    const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
    const signal = state.abort.signal;
    while (!signal.aborted) {
      let mirror;
      try {
        mirror = await mirroring.state(state.vmId, state.diskId, target);
      } catch (err) {
        // Not knowing (libvirtd restarting) is not a detach: the mirror lives in QEMU.
        if (state.phase === 'attached') state.error = errorText(err);
        else this.set(state, 'failed', errorText(err));
        await this.idle(state, backoff.next());
        continue;
      }
      if (signal.aborted) return;
      if (mirror === 'off') {
        // The mirror was synchronous until QEMU went: every write the guest saw completed is
        // in the tap, and nothing writes the disk now (a write QEMU had not completed may
        // have reached the file only: the next start compares the disk). A planned move's
        // checkpoint after the shutdown stays consistent.
        if (state.phase === 'attached') {
          this.options.log.info(
            { vmId: state.vmId, diskId: state.diskId },
            'the VM stopped: its disk is still in sync',
          );
        }
        this.set(state, 'off');
        await this.idle(state, this.options.pollMs ?? 5000);
        continue;
      }
      if (state.phase === 'attached') {
        // Ours, still there: libvirt may show it as copying for a moment after a restart.
        if (mirror === 'ready' || mirror === 'copying') {
          state.error = undefined;
          backoff.reset();
          await this.idle(state, this.options.pollMs ?? 5000);
          continue;
        }
        await this.detached(state, 'the mirror ended');
      } else if (state.phase === 'off') {
        await this.detached(state, 'the VM started');
      }
      this.set(state, 'attaching');
      try {
        await mirroring.attach(state.vmId, state.diskId, target, {
          signal,
          onProgress: (done, total) => {
            state.progress = { done, total };
            this.options.onChange();
          },
        });
        if (signal.aborted) return;
        await this.options.onAttached(state.diskId);
        state.progress = undefined;
        backoff.reset();
        this.set(state, 'attached');
        log.info(
          { vmId: state.vmId, diskId: state.diskId },
          'tap attached to the disk (mirror in sync)',
        );
      } catch (err) {
        if (signal.aborted) return;
        this.set(state, 'failed', errorText(err));
        const delay = backoff.next();
        log.warn(
          { vmId: state.vmId, diskId: state.diskId, err: errorText(err), retryMs: delay },
          'cannot attach to the disk',
        );
        await this.idle(state, delay);
      }
    }
  }

  private async detached(state: DiskState, reason: string): Promise<void> {
    this.options.log.warn(
      { vmId: state.vmId, diskId: state.diskId, reason },
      'tap detached from the disk',
    );
    state.phase = 'pending';
    await this.options.onDetached(state.diskId, reason);
  }

  private async detach(state: DiskState): Promise<void> {
    try {
      await this.options.mirroring.detach(state.vmId, state.diskId);
    } catch (err) {
      this.options.log.warn(
        { vmId: state.vmId, diskId: state.diskId, err: errorText(err) },
        'cannot end the mirror of a disk',
      );
    }
  }

  /** Waits for a VM event, the poll period, or the end. */
  private idle(state: DiskState, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (state.wake === done) state.wake = undefined;
        resolve();
      };
      state.wake = done;
      drop(sleep(ms, state.abort.signal).then(done), () => undefined);
    });
  }

  private set(state: DiskState, phase: AttachPhase, error?: string): void {
    const changed = state.phase !== phase || state.error !== error;
    state.phase = phase;
    state.error = error;
    if (!changed) return;
    this.notifySettled();
    this.options.onChange();
  }

  private notifySettled(): void {
    for (const wake of [...this.settleWaiters]) wake();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
