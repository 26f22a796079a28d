import type {
  Disk,
  Host,
  HypervisorKind,
  InventoryKind,
  Network,
  Nic,
  Vm,
  VmHardware,
} from '../../app/protocol';

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
  /** The hardware the VM had at the protected site (machine type, firmware, boot order). */
  readonly hardware?: VmHardware;
}

/** Where a mirror sends a disk's writes: an export of the agent's NBD server. */
export interface MirrorTarget {
  readonly socketPath: string;
  readonly exportName: string;
}

/**
 * A disk's mirror into the tap: `ready` (every write reaches the target before the guest
 * sees it complete), `copying` (the bulk copy still runs), `none`, or `off` (the VM is not
 * running: nothing writes the disk, and nothing can be attached).
 */
export type MirrorState = 'off' | 'none' | 'copying' | 'ready';

/**
 * Hypervisors whose VMs keep writing their own disk files and mirror every write into the
 * tap's NBD export once attached (libvirt: QEMU's active block copy, never pivoted). The
 * agent stays out of the guest's data path: if it dies, the mirror ends and the guest goes
 * on; what was written meanwhile is found again by a hash-compared resync.
 */
export interface TapMirroring {
  /**
   * Starts mirroring the disk into `target` (a mirror left by an earlier agent process is
   * ended first) and resolves once it is `ready`. CONFLICT if the VM is not running or the
   * disk has a block job of someone else's.
   */
  attach(
    vmId: string,
    diskId: string,
    target: MirrorTarget,
    options?: {
      readonly signal?: AbortSignal;
      readonly onProgress?: (done: number, total: number) => void;
    },
  ): Promise<void>;
  /** Ends the mirror without switching the disk: the VM keeps running on its own file. */
  detach(vmId: string, diskId: string): Promise<void>;
  /** The disk's mirror into `target`, asked of the hypervisor now. */
  state(vmId: string, diskId: string, target: MirrorTarget): Promise<MirrorState>;
  /** Something happened to a VM (power, block jobs): its mirrors should be looked at. */
  onVmEvent(listener: (vmId: string) => void): () => void;
  /** The group the hypervisor's processes run as: the NBD socket must be reachable by it. */
  readonly socketGroup: string | undefined;
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
  /**
   * The directory behind a datastore, where replica disks of received VPGs go so recovered
   * VMs can run on them (libvirt: a directory pool's target). Absent: the agent's data dir.
   */
  datastoreDir?(name: string): Promise<string>;
  /** Absent: VMs write through the tap itself (the sim's workloads). See TapMirroring. */
  readonly mirroring?: TapMirroring;
  /** Changes the hypervisor noticed by itself (a VM started, a network created elsewhere). */
  onInventoryChanged?(listener: (kinds: InventoryKind[]) => void): () => void;
}
