import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TidelineError } from '../../../app/errors';
import type { Host, Network, Vm } from '../../../app/protocol';
import type { DataDirLayout } from '../../config/data-dir';
import { writeJsonAtomic } from '../../store/atomic-file';
import { readJsonFile } from '../../store/json-file';
import type { HypervisorAdapter, PowerEvent, VmRegistration } from '../adapter';
import { checkRegistration } from '../registration-checks';
import {
  SIM_POWER_LOG_LIMIT,
  SimInventorySchema,
  withNetworks,
  type SimInventory,
  type SimPowerEvent,
} from './generator';
import type { Logger } from '../../log';

/** The embedded simulated hypervisor: its inventory is a state file, its disks sparse files. */
export class SimHypervisor implements HypervisorAdapter {
  readonly kind = 'sim' as const;
  private inventory: SimInventory | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly layout: DataDirLayout,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const file = await readJsonFile(this.layout.inventoryFile, SimInventorySchema, 'sim inventory');
    const inventory = withNetworks(file);
    const missing: string[] = [];
    for (const vm of inventory.vms) {
      for (const disk of vm.disks) {
        if (isUri(disk.location)) continue;
        const path = resolve(this.layout.root, disk.location);
        if (!(await exists(path))) missing.push(path);
      }
    }
    if (missing.length > 0) this.log.warn({ missing }, 'sim disks are missing');
    this.inventory = inventory;
    if (file.networks === undefined) {
      // An inventory from before the sim had networks: its VMs' networks become the list.
      await writeJsonAtomic(this.layout.inventoryFile, inventory);
      this.log.info({ networks: inventory.networks.length }, 'sim inventory given its networks');
    }
    this.log.info(
      { hosts: inventory.hosts.length, vms: inventory.vms.length },
      'sim hypervisor ready',
    );
  }

  async stop(): Promise<void> {
    await this.queue;
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
        disks: vm.disks.map((d) => ({
          ...d,
          location: isUri(d.location) ? d.location : resolve(this.layout.root, d.location),
        })),
      }));
  }

  async listNetworks(): Promise<Network[]> {
    return structuredClone(this.loaded().networks);
  }

  /** The power operations carried out, oldest first (boot order and delays, for tests). */
  powerLog(): SimPowerEvent[] {
    return structuredClone(this.loaded().powerLog);
  }

  createNetwork(network: Network): Promise<Network> {
    return this.mutate((inv) => {
      if (inv.networks.some((n) => n.name === network.name)) {
        throw new TidelineError(
          'CONFLICT',
          `Network "${network.name}" already exists on this hypervisor: use it rather than create it`,
          { network: network.name },
        );
      }
      const created: Network = {
        name: network.name,
        isolated: network.isolated,
        ...(network.subnet !== undefined && { subnet: network.subnet }),
      };
      inv.networks.push(created);
      return structuredClone(created);
    });
  }

  deleteNetwork(name: string): Promise<void> {
    return this.mutate((inv) => {
      const at = inv.networks.findIndex((n) => n.name === name);
      if (at < 0) throw new TidelineError('NOT_FOUND', `No network "${name}" on this hypervisor`);
      const users = inv.vms.filter((vm) => vm.nics.some((nic) => nic.network === name));
      if (users.length > 0) {
        throw new TidelineError(
          'CONFLICT',
          `Network "${name}" is in use by ${users.map((v) => v.name).join(', ')}: remove their NICs from it first`,
          { network: name },
        );
      }
      inv.networks.splice(at, 1);
    });
  }

  registerVm(registration: VmRegistration): Promise<Vm> {
    return this.mutate((inv) => {
      checkRegistration(registration, {
        hostIds: inv.hosts.map((h) => h.hostId),
        networks: inv.networks,
        vms: inv.vms,
      });
      const vm: Vm = {
        vmId: `vm-${randomBytes(6).toString('hex')}`,
        name: registration.name,
        hostId: registration.hostId,
        powerState: 'stopped',
        cpus: registration.cpus,
        memoryMiB: registration.memoryMiB,
        guestOs: registration.guestOs,
        nics: registration.nics.map((n) => ({ ...n })),
        disks: registration.disks.map((d) => ({ ...d })),
        ...(registration.recoveredFrom !== undefined && {
          recoveredFrom: { ...registration.recoveredFrom },
        }),
      };
      inv.vms.push(vm);
      return structuredClone(vm);
    });
  }

  unregisterVm(vmId: string): Promise<void> {
    return this.mutate((inv) => {
      const at = inv.vms.findIndex((v) => v.vmId === vmId);
      const vm = inv.vms[at];
      if (vm === undefined) throw vmNotFound(vmId);
      if (vm.powerState !== 'stopped') {
        throw new TidelineError(
          'CONFLICT',
          `VM "${vm.name}" is ${vm.powerState}: power it off before unregistering it`,
          { vmId },
        );
      }
      inv.vms.splice(at, 1);
    });
  }

  powerOn(vmId: string): Promise<PowerEvent> {
    return this.setPower(vmId, 'running');
  }

  /** The sim has no guest to ask: a shutdown and a forced one are the same. */
  powerOff(vmId: string, _options?: { readonly force?: boolean }): Promise<PowerEvent> {
    return this.setPower(vmId, 'stopped');
  }

  private setPower(vmId: string, state: 'running' | 'stopped'): Promise<PowerEvent> {
    return this.mutate((inv) => {
      const vm = inv.vms.find((v) => v.vmId === vmId);
      if (vm === undefined) throw vmNotFound(vmId);
      const at = Date.now();
      if (vm.powerState === state) return { vmId, at };
      vm.powerState = state;
      inv.powerLog.push({ vmId, state, at });
      inv.powerLog.splice(0, Math.max(0, inv.powerLog.length - SIM_POWER_LOG_LIMIT));
      return { vmId, at };
    });
  }

  /**
   * One change at a time: applied to a copy, saved atomically, then made current, so a
   * failed write changes nothing and what listVms shows is always what is on disk.
   */
  private mutate<T>(change: (inventory: SimInventory) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const next = structuredClone(this.loaded());
      const result = change(next);
      await writeJsonAtomic(this.layout.inventoryFile, next);
      this.inventory = next;
      return result;
    };
    const done = this.queue.then(run, run);
    this.queue = done.catch(() => undefined);
    return done;
  }

  private loaded(): SimInventory {
    if (this.inventory === undefined) throw new Error('sim hypervisor used before start()');
    return this.inventory;
  }
}

/** A disk served from elsewhere (a recovery disk's NBD export), not a file in the data dir. */
function isUri(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

function vmNotFound(vmId: string): TidelineError {
  return new TidelineError('NOT_FOUND', `No VM ${vmId} on this hypervisor`, { vmId });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
