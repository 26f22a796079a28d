import { TidelineError } from '../../app/errors';
import type { HypervisorKind } from '../../app/protocol';
import type { DataDirLayout } from '../config/data-dir';
import { assertNever } from '../util/assert-never';
import type { HypervisorAdapter } from './adapter';
import { provisionSim } from './sim/provision';
import { SimHypervisor } from './sim/sim-adapter';
import type { Logger } from '../log';

/** Hypervisors this build can create at init. */
export const SUPPORTED_HYPERVISORS: readonly HypervisorKind[] = ['sim'];

export interface ProvisionOptions {
  readonly siteName: string;
  readonly agentId: string;
  /** sim: every disk of this size (bytes) instead of 1–8 GiB. */
  readonly simDiskBytes?: number;
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
      });
      return;
    case 'libvirt':
      throw notYet(kind);
    default:
      assertNever(kind, 'hypervisor');
  }
}

export function createHypervisorAdapter(
  kind: HypervisorKind,
  layout: DataDirLayout,
  log: Logger,
): HypervisorAdapter {
  switch (kind) {
    case 'sim':
      return new SimHypervisor(layout, log.child({ component: 'sim' }));
    case 'libvirt':
      throw notYet(kind);
    default:
      return assertNever(kind, 'hypervisor');
  }
}

function notYet(kind: HypervisorKind): TidelineError {
  return new TidelineError(
    'UNAVAILABLE',
    `The ${kind} hypervisor is not available in this build yet; use sim`,
  );
}
