import type { Host, HypervisorKind, Vm } from '../../app/protocol';

/**
 * What the agent needs from a hypervisor. Every adapter (sim, libvirt) implements it and
 * passes the same contract tests. This issue covers inventory; power, disks, networks,
 * registration and configuration capture come with later issues.
 */
export interface HypervisorAdapter {
  readonly kind: HypervisorKind;
  /** Loads state and checks the hypervisor is reachable. */
  start(): Promise<void>;
  stop(): Promise<void>;
  listHosts(): Promise<Host[]>;
  /** All VMs, or those of one host (an unknown host gives an empty list). */
  listVms(filter?: { readonly hostId?: string }): Promise<Vm[]>;
}
