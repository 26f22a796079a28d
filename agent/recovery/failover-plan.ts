import { TidelineError } from '../../app/errors';
import {
  TEST_NETWORK_SUFFIX,
  type CheckpointChoice,
  type CheckpointInfo,
  type IpSettings,
  type MetadataPackage,
  type Network,
  type Nic,
  type RecoveredVm,
  type Vm,
  type VpgRecoverySettings,
} from '../../app/protocol';

/**
 * The pure part of a failover: which checkpoint, which networks, which VMs with which NICs,
 * in which boot groups. No I/O: the manager carries the plan out.
 */

/** The checkpoint to recover at: consistent and persisted at this site only. */
export function chooseCheckpoint(
  checkpoints: readonly CheckpointInfo[],
  choice: CheckpointChoice,
  vpgName: string,
): CheckpointInfo {
  const usable = checkpoints.filter((c) => c.confirmed && c.inconsistent !== true);
  const newestFirst = [...usable].sort((a, b) => b.seq - a.seq);
  let found: CheckpointInfo | undefined;
  switch (choice.kind) {
    case 'latest':
      found = newestFirst[0];
      break;
    case 'latestNamed':
      found = newestFirst.find((c) => c.name !== undefined);
      break;
    case 'seq':
      found = usable.find((c) => c.seq === choice.seq);
      if (found === undefined && checkpoints.some((c) => c.seq === choice.seq)) {
        throw new TidelineError(
          'CONFLICT',
          `Checkpoint ${choice.seq} of VPG "${vpgName}" was taken during a sync and is not consistent: pick another`,
        );
      }
      break;
  }
  if (found === undefined) {
    const what =
      choice.kind === 'seq'
        ? `checkpoint ${choice.seq} (it may have left the journal's history)`
        : choice.kind === 'latestNamed'
          ? 'a named checkpoint'
          : 'consistent checkpoint yet';
    throw new TidelineError(
      'NOT_FOUND',
      `VPG "${vpgName}" has no ${what} at this site: choose one from checkpoint.list`,
    );
  }
  return found;
}

export interface PlannedNic {
  readonly nic: Nic;
  readonly ip: IpSettings;
}

export interface PlannedVm {
  readonly source: Vm;
  readonly bootGroup: number;
  readonly bootDelaySeconds: number;
  readonly nics: readonly PlannedNic[];
}

export interface FailoverPlan {
  readonly vms: readonly PlannedVm[];
  /** Every network the VMs' NICs use, once each, with what to create it as if missing. */
  readonly networks: readonly Network[];
}

/**
 * The VMs of the VPG as the metadata package describes them, with the NIC mappings of the
 * mode applied: a mapped NIC goes to its network with its IP settings; an unmapped one keeps
 * its network (live) or goes to an isolated `<network>-test` (test).
 */
export function planFailover(input: {
  readonly vmIds: readonly string[];
  readonly metadata: MetadataPackage;
  readonly recovery: VpgRecoverySettings | undefined;
  readonly test: boolean;
  readonly vpgName: string;
}): FailoverPlan {
  const { metadata, test } = input;
  const vms: PlannedVm[] = [];
  const networks = new Map<string, Network>();
  for (const vmId of input.vmIds) {
    const source = metadata.vms.find((v) => v.vmId === vmId);
    if (source === undefined) {
      throw new TidelineError(
        'CONFLICT',
        `The metadata package (version ${metadata.version}) of VPG "${input.vpgName}" does not describe VM ${vmId}: wait for the protected site's next capture`,
      );
    }
    const settings = input.recovery?.vms.find((v) => v.vmId === vmId);
    const mappings = (test ? settings?.test : settings?.live) ?? [];
    const nics = source.nics.map((nic): PlannedNic => {
      const mapping = mappings.find((m) => m.nicName === nic.name);
      const network =
        mapping?.network ?? (test ? `${nic.network}${TEST_NETWORK_SUFFIX}` : nic.network);
      const ip: IpSettings = mapping?.ip ?? { mode: 'keep' };
      const address =
        ip.mode === 'static' ? ip.address : ip.mode === 'keep' ? nic.ipAddress : undefined;
      if (!networks.has(network)) {
        const known = metadata.networks.find((n) => n.name === nic.network);
        networks.set(network, {
          name: network,
          isolated: test,
          ...(!test &&
            mapping === undefined &&
            known?.subnet !== undefined && {
              subnet: known.subnet,
            }),
        });
      }
      return {
        nic: {
          name: nic.name,
          mac: nic.mac,
          network,
          ...(address !== undefined && { ipAddress: address }),
          ...(nic.model !== undefined && { model: nic.model }),
          ...(nic.bootOrder !== undefined && { bootOrder: nic.bootOrder }),
        },
        ip,
      };
    });
    vms.push({
      source,
      bootGroup: settings?.bootGroup ?? 0,
      bootDelaySeconds: settings?.bootDelaySeconds ?? 0,
      nics,
    });
  }
  return { vms, networks: [...networks.values()] };
}

/** VMs by ascending boot group; each group's delay is the longest of its VMs'. */
export function bootGroups<T extends { readonly bootGroup: number }>(
  vms: readonly T[],
  delayOf: (vm: T) => number,
): { group: number; vms: T[]; delaySeconds: number }[] {
  const groups = new Map<number, T[]>();
  for (const vm of vms) groups.set(vm.bootGroup, [...(groups.get(vm.bootGroup) ?? []), vm]);
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([group, members]) => ({
      group,
      vms: members,
      delaySeconds: Math.max(0, ...members.map(delayOf)),
    }));
}

/** The recovered VMs as failover.status shows them before any is registered. */
export function recoveredVms(plan: FailoverPlan): RecoveredVm[] {
  return plan.vms.map((vm) => ({
    sourceVmId: vm.source.vmId,
    name: vm.source.name,
    bootGroup: vm.bootGroup,
    nics: vm.nics.map((n) => ({ name: n.nic.name, network: n.nic.network, ip: n.ip })),
  }));
}
