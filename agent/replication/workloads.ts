import { TidelineError } from '../../app/errors';
import type { HypervisorKind, WorkloadStatus } from '../../app/protocol';
import { WorkloadGenerator, type WorkloadDisk } from '../hypervisor/sim/workload';
import { DEFAULT_WRITE_MIX, type WriteMix } from '../hypervisor/sim/workload-mix';
import type { Tap } from '../tap/tap';

export interface WorkloadRequest {
  readonly vmId: string;
  readonly bytesPerSecond: number;
  readonly mix?: WriteMix;
  readonly locality?: number;
  readonly paused?: boolean;
}

/**
 * The sim hypervisor's guest writes (vm.setWorkload / vm.workload), through the tap. A
 * workload runs only on a protected VM, so every write it makes is sequenced and replicated;
 * a VM leaving protection loses its workload. Not persisted: after a restart every VM is idle.
 */
export class Workloads {
  private readonly generator: WorkloadGenerator;

  constructor(
    tap: Tap,
    private readonly hypervisor: HypervisorKind,
  ) {
    this.generator = new WorkloadGenerator({ tap });
  }

  start(): void {
    this.generator.start();
  }

  async stop(): Promise<void> {
    await this.generator.stop();
  }

  /**
   * Sets a VM's workload. `disks`: the VM's protected disks, or undefined when the VM is not
   * protected (then only rate 0 is accepted).
   */
  set(request: WorkloadRequest, vmName: string, disks: WorkloadDisk[] | undefined): WorkloadStatus {
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
      });
    } else {
      generator.setRate(vmId, request.bytesPerSecond, request.mix, request.locality);
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
    if (this.generator.hasVm(vmId)) await this.generator.removeVm(vmId);
  }
}

function idle(vmId: string): WorkloadStatus {
  return {
    vmId,
    bytesPerSecond: 0,
    mix: { ...DEFAULT_WRITE_MIX },
    locality: 0.5,
    paused: false,
    measuredBytesPerSecond: 0,
    writes: 0,
    bytes: 0,
    errors: 0,
  };
}
