import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TidelineError } from '../../../app/errors';
import type { Host, Network, Vm } from '../../../app/protocol';
import type { DataDirLayout } from '../../config/data-dir';
import { readJsonFile } from '../../store/json-file';
import type { HypervisorAdapter, PowerEvent, VmRegistration } from '../adapter';
import { SimInventorySchema, type SimInventory } from './generator';
import type { Logger } from '../../log';

/** The embedded simulated hypervisor: its inventory is a state file, its disks sparse files. */
export class SimHypervisor implements HypervisorAdapter {
  readonly kind = 'sim' as const;
  private inventory: SimInventory | undefined;

  constructor(
    private readonly layout: DataDirLayout,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const inventory = await readJsonFile(
      this.layout.inventoryFile,
      SimInventorySchema,
      'sim inventory',
    );
    const missing: string[] = [];
    for (const vm of inventory.vms) {
      for (const disk of vm.disks) {
        const path = resolve(this.layout.root, disk.location);
        if (!(await exists(path))) missing.push(path);
      }
    }
    if (missing.length > 0) this.log.warn({ missing }, 'sim disks are missing');
    this.inventory = inventory;
    this.log.info(
      { hosts: inventory.hosts.length, vms: inventory.vms.length },
      'sim hypervisor ready',
    );
  }

  async stop(): Promise<void> {
    this.inventory = undefined;
  }

  async listHosts(): Promise<Host[]> {
    return structuredClone(this.loaded().hosts);
  }

  async listVms(filter: { readonly hostId?: string } = {}): Promise<Vm[]> {
    return this.loaded()
      .vms.filter((vm) => filter.hostId === undefined || vm.hostId === filter.hostId)
      .map((vm) => ({
        ...structuredClone(vm),
        disks: vm.disks.map((d) => ({ ...d, location: resolve(this.layout.root, d.location) })),
      }));
  }

  // Recovery operations: contracts only until the sim implements them (issue 6).
  async listNetworks(): Promise<Network[]> {
    throw notYet('networks');
  }

  async createNetwork(network: Network): Promise<Network> {
    throw notYet(`creating network ${network.name}`);
  }

  async deleteNetwork(name: string): Promise<void> {
    throw notYet(`deleting network ${name}`);
  }

  async registerVm(registration: VmRegistration): Promise<Vm> {
    throw notYet(`registering VM ${registration.name}`);
  }

  async unregisterVm(vmId: string): Promise<void> {
    throw notYet(`unregistering VM ${vmId}`);
  }

  async powerOn(vmId: string): Promise<PowerEvent> {
    throw notYet(`powering on VM ${vmId}`);
  }

  async powerOff(vmId: string): Promise<PowerEvent> {
    throw notYet(`powering off VM ${vmId}`);
  }

  private loaded(): SimInventory {
    if (this.inventory === undefined) throw new Error('sim hypervisor used before start()');
    return this.inventory;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function notYet(what: string): TidelineError {
  return new TidelineError('UNAVAILABLE', `The sim hypervisor does not support ${what} yet`);
}
