import { TidelineError } from '../../app/errors';
import type { HypervisorKind } from '../../app/protocol';
import type { DataDirLayout } from '../config/data-dir';
import { assertNever } from '../util/assert-never';
import type { HypervisorAdapter } from './adapter';
import { provisionSim } from './sim/provision';
import { SimHypervisor } from './sim/sim-adapter';
import { LibvirtHypervisor } from './libvirt/libvirt-adapter';
import { loadLibvirtSettings, provisionLibvirt } from './libvirt/libvirt-settings';
import type { Logger } from '../log';

/** Hypervisors this build can create at init. */
export const SUPPORTED_HYPERVISORS: readonly HypervisorKind[] = ['sim', 'libvirt'];

export interface ProvisionOptions {
  readonly siteName: string;
  readonly agentId: string;
  /** sim: every disk of this size (bytes) instead of 1–8 GiB. */
  readonly simDiskBytes?: number;
  /** sim: this many VMs instead of 4–6. */
  readonly simVms?: number;
  /** libvirt: connection URI (default qemu:///system), domain name prefix, QEMU's group. */
  readonly libvirt?: {
    readonly uri?: string;
    readonly domainPrefix?: string;
    readonly qemuGroup?: string;
  };
}

/** Creates a hypervisor's state in a new data directory (init). */
export async function provisionHypervisor(
  kind: HypervisorKind,
  layout: DataDirLayout,
  options: ProvisionOptions,
): Promise<void> {
  switch (kind) {
    case 'sim':
      await provisionSim(layout, {
        siteName: options.siteName,
        idSalt: options.agentId,
        ...(options.simDiskBytes !== undefined && { diskBytes: options.simDiskBytes }),
        ...(options.simVms !== undefined && { vmsPerHost: [options.simVms, options.simVms] }),
      });
      return;
    case 'libvirt':
      await provisionLibvirt(layout, options.libvirt ?? {});
      return;
    default:
      assertNever(kind, 'hypervisor');
  }
}

export async function createHypervisorAdapter(
  kind: HypervisorKind,
  layout: DataDirLayout,
  log: Logger,
): Promise<HypervisorAdapter> {
  switch (kind) {
    case 'sim':
      return new SimHypervisor(layout, log.child({ component: 'sim' }));
    case 'libvirt': {
      let settings;
      try {
        settings = await loadLibvirtSettings(layout);
      } catch (err) {
        throw new TidelineError(
          'NOT_FOUND',
          `${err instanceof Error ? err.message : String(err)}: this data directory was not initialized for libvirt (init --hypervisor libvirt)`,
        );
      }
      return new LibvirtHypervisor({ settings, log: log.child({ component: 'libvirt' }) });
    }
    default:
      return assertNever(kind, 'hypervisor');
  }
}
