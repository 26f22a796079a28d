import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import {
  WorkloadSettingsSchema,
  type HypervisorKind,
  type WorkloadContent,
  type WorkloadStatus,
} from '../../app/protocol';
import { WorkloadGenerator, type WorkloadDisk } from '../hypervisor/sim/workload';
import { DEFAULT_WRITE_MIX, type WriteMix } from '../hypervisor/sim/workload-mix';
import type { Logger } from '../log';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';
import type { Tap } from '../tap/tap';

export interface WorkloadRequest {
  readonly vmId: string;
  readonly bytesPerSecond: number;
  readonly mix?: WriteMix;
  readonly locality?: number;
  readonly paused?: boolean;
  readonly content?: WorkloadContent;
}

/** Where the workloads are kept across restarts (`state/workloads.json`), atomically. */
export interface WorkloadsPersistence {
  readonly file: string;
  readonly log: Logger;
}

/** What a VM is to a workload: its name, and its protected disks (undefined: not protected). */
export interface WorkloadVm {
  readonly name: string;
  readonly disks: WorkloadDisk[] | undefined;
}

const WorkloadsFileSchema = z.object({
  version: z.literal(1),
  workloads: z.array(WorkloadSettingsSchema),
});

/**
 * The sim hypervisor's guest writes (vm.setWorkload / vm.workload), through the tap. A
 * workload runs only on a protected VM, so every write it makes is sequenced and replicated;
 * a VM leaving protection loses its workload. Every change is saved before it is answered, and
 * `restore` starts the saved workloads again after a restart.
 */
export class Workloads {
  private readonly generator: WorkloadGenerator;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    tap: Tap,
    private readonly hypervisor: HypervisorKind,
    private readonly persistence?: WorkloadsPersistence,
  ) {
    this.generator = new WorkloadGenerator({ tap });
  }

  start(): void {
    this.generator.start();
  }

  async stop(): Promise<void> {
    await this.generator.stop();
    await this.saving;
  }

  /**
   * Starts the saved workloads again (after the VPGs have started). A VM that no longer exists
   * or is no longer protected is dropped, with a log line, and the file rewritten without it.
   */
  async restore(lookup: (vmId: string) => Promise<WorkloadVm | undefined>): Promise<void> {
    if (this.persistence === undefined || this.hypervisor !== 'sim') return;
    const { file, log } = this.persistence;
    let saved: z.infer<typeof WorkloadsFileSchema>['workloads'];
    try {
      saved = (await readJsonFile(file, WorkloadsFileSchema, 'Workloads file')).workloads;
    } catch (err) {
      if (err instanceof TidelineError && err.code === 'NOT_FOUND') return;
      log.error({ err }, 'cannot read the saved workloads: every VM starts idle');
      return;
    }
    let dropped = 0;
    for (const settings of saved) {
      const vm = await lookup(settings.vmId);
      let reason: string | undefined;
      if (vm === undefined) reason = 'the VM no longer exists';
      else if (vm.disks === undefined) reason = 'the VM is no longer protected';
      else {
        try {
          this.apply(settings, vm.name, vm.disks);
        } catch (err) {
          reason = err instanceof Error ? err.message : String(err);
        }
      }
      if (reason === undefined) continue;
      dropped += 1;
      log.warn({ vmId: settings.vmId, reason }, 'saved workload dropped');
    }
    if (dropped > 0) await this.save();
    log.info({ restored: saved.length - dropped, dropped }, 'saved workloads restarted');
  }

  /**
   * Sets a VM's workload. `disks`: the VM's protected disks, or undefined when the VM is not
   * protected (then only rate 0 is accepted).
   */
  async set(
    request: WorkloadRequest,
    vmName: string,
    disks: WorkloadDisk[] | undefined,
  ): Promise<WorkloadStatus> {
    const status = this.apply(request, vmName, disks);
    await this.save();
    if (request.paused !== true) return status;
    // "Paused" is answered once the VM's last writes are sequenced, with their count: a
    // checkpoint inserted after the answer then holds every write the answer counts.
    await this.generator.settle(request.vmId);
    return this.status(request.vmId);
  }

  private apply(
    request: WorkloadRequest,
    vmName: string,
    disks: WorkloadDisk[] | undefined,
  ): WorkloadStatus {
    if (this.hypervisor !== 'sim') {
      throw new TidelineError(
        'UNAVAILABLE',
        `Simulated workloads exist only on the sim hypervisor, not on ${this.hypervisor}`,
      );
    }
    const { vmId } = request;
    if (disks === undefined) {
      if (request.bytesPerSecond > 0) {
        throw new TidelineError(
          'CONFLICT',
          `VM ${vmName} is not protected: protect the VM in a VPG first (its writes would not be replicated)`,
          { vmId },
        );
      }
      return idle(vmId);
    }
    const generator = this.generator;
    if (!generator.hasVm(vmId)) {
      generator.addVm(vmId, disks, {
        bytesPerSecond: request.bytesPerSecond,
        ...(request.mix !== undefined && { mix: request.mix }),
        ...(request.locality !== undefined && { locality: request.locality }),
        ...(request.content !== undefined && { content: request.content }),
      });
    } else {
      generator.setRate(
        vmId,
        request.bytesPerSecond,
        request.mix,
        request.locality,
        request.content,
      );
    }
    if (request.paused === true) generator.pause(vmId);
    else if (request.paused === false) generator.resume(vmId);
    return generator.status(vmId);
  }

  status(vmId: string): WorkloadStatus {
    return this.generator.hasVm(vmId) ? this.generator.status(vmId) : idle(vmId);
  }

  /** Stops a VM's workload (its VPG is going away) and waits for its writes in flight. */
  async remove(vmId: string): Promise<void> {
    if (!this.generator.hasVm(vmId)) return;
    await this.generator.removeVm(vmId);
    await this.save();
  }

  /** Writes every workload's settings, one save after the other (the last one wins). */
  private save(): Promise<void> {
    const persistence = this.persistence;
    if (persistence === undefined) return Promise.resolve();
    const run = async (): Promise<void> => {
      const workloads = this.generator.list().map((w) => ({
        vmId: w.vmId,
        bytesPerSecond: w.bytesPerSecond,
        mix: w.mix,
        locality: w.locality,
        paused: w.paused,
        content: w.content,
      }));
      await writeJsonAtomic(persistence.file, { version: 1, workloads });
    };
    const next = this.saving.then(run, run);
    this.saving = next.catch((err: unknown) =>
      persistence.log.error({ err }, 'cannot save the workloads'),
    );
    return next;
  }
}

function idle(vmId: string): WorkloadStatus {
  return {
    vmId,
    bytesPerSecond: 0,
    mix: { ...DEFAULT_WRITE_MIX },
    locality: 0.5,
    paused: false,
    content: 'random',
    measuredBytesPerSecond: 0,
    writes: 0,
    bytes: 0,
    errors: 0,
  };
}
