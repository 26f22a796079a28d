import { TidelineError } from '../../app/errors';
import type { Network, Vm } from '../../app/protocol';
import type { VmRegistration } from './adapter';

/**
 * What every adapter refuses before registering a VM (the contract's errors): a host it does
 * not have, a NIC on a network that does not exist here, a disk id another VM has.
 */
export function checkRegistration(
  registration: VmRegistration,
  here: {
    readonly hostIds: readonly string[];
    readonly networks: readonly Pick<Network, 'name'>[];
    readonly vms: readonly Pick<Vm, 'disks'>[];
  },
): void {
  if (!here.hostIds.includes(registration.hostId)) {
    throw new TidelineError('NOT_FOUND', `Host ${registration.hostId} is not on this hypervisor`);
  }
  for (const nic of registration.nics) {
    if (!here.networks.some((n) => n.name === nic.network)) {
      throw new TidelineError(
        'NOT_FOUND',
        `NIC ${nic.name} of VM "${registration.name}" is on network "${nic.network}", which does not exist here: create it first`,
        { network: nic.network },
      );
    }
  }
  const taken = new Set(here.vms.flatMap((v) => v.disks.map((d) => d.diskId)));
  for (const disk of registration.disks) {
    if (taken.has(disk.diskId)) {
      throw new TidelineError(
        'CONFLICT',
        `Disk ${disk.diskId} already belongs to a VM on this hypervisor`,
      );
    }
  }
}
