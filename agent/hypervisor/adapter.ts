import type { Disk, Host, HypervisorKind, Network, Nic, Vm } from '../../app/protocol';

/** What a failover asks the hypervisor to register: a VM rebuilt from its metadata. */
export interface VmRegistration {
  readonly name: string;
  readonly hostId: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly guestOs: string;
  readonly nics: readonly Nic[];
  /**
   * The recovered disks. `location` is where the hypervisor finds the disk: for a recovery
   * disk served by the agent's NBD server, its exportUri (`nbd+unix:///<diskId>?socket=…`).
   */
  readonly disks: readonly Omit<Disk, 'exportUri' | 'exportError'>[];
  readonly recoveredFrom?: Vm['recoveredFrom'];
}

/** When the hypervisor carried out a power operation (epoch ms). */
export interface PowerEvent {
  readonly vmId: string;
  readonly at: number;
}

/**
 * What the agent needs from a hypervisor. Every adapter (sim, libvirt) implements it and
 * passes the same contract tests: inventory, networks, VM power, registration, configuration
 * capture (listVms gives a VM's whole configuration).
 */
export interface HypervisorAdapter {
  readonly kind: HypervisorKind;
  /** Loads state and checks the hypervisor is reachable. */
  start(): Promise<void>;
  stop(): Promise<void>;
  listHosts(): Promise<Host[]>;
  /** All VMs, or those of one host (an unknown host gives an empty list). */
  listVms(filter?: { readonly hostId?: string }): Promise<Vm[]>;
  listNetworks(): Promise<Network[]>;
  /** CONFLICT if a network of that name exists: callers reuse existing networks by name. */
  createNetwork(network: Network): Promise<Network>;
  /** NOT_FOUND if there is none; CONFLICT while a VM still has a NIC on it. */
  deleteNetwork(name: string): Promise<void>;
  /** Registers a VM, powered off; its NICs' networks must exist (NOT_FOUND otherwise). */
  registerVm(registration: VmRegistration): Promise<Vm>;
  /** Removes a powered-off VM from the inventory; its disks are the caller's to delete. */
  unregisterVm(vmId: string): Promise<void>;
  powerOn(vmId: string): Promise<PowerEvent>;
  /** Guest shutdown; `force` pulls the plug. Already off: resolves at once. */
  powerOff(vmId: string, options?: { readonly force?: boolean }): Promise<PowerEvent>;
}
