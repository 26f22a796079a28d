import { TidelineError } from '../../app/errors';
import type { HypervisorAdapter } from '../../agent/hypervisor/adapter';

/**
 * A hypervisor adapter for unit tests that need only an inventory: the recovery operations
 * answer UNAVAILABLE, as an adapter without them would.
 */
export function inventoryHypervisor(
  inventory: Pick<HypervisorAdapter, 'listHosts' | 'listVms'>,
): HypervisorAdapter {
  const unavailable = async (): Promise<never> => {
    throw new TidelineError('UNAVAILABLE', 'this test hypervisor has an inventory only');
  };
  return {
    kind: 'sim',
    start: async () => undefined,
    stop: async () => undefined,
    listHosts: inventory.listHosts,
    listVms: inventory.listVms,
    listNetworks: unavailable,
    createNetwork: unavailable,
    deleteNetwork: unavailable,
    registerVm: unavailable,
    unregisterVm: unavailable,
    powerOn: unavailable,
    powerOff: unavailable,
  };
}
