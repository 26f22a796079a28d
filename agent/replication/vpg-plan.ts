import { stat } from 'node:fs/promises';
import { TidelineError } from '../../app/errors';
import { checkRecoverySettings, type RecoveryVmInfo } from '../../app/recovery/validate-recovery';
import type { Peer, Vm, VpgDisk, VpgSettings } from '../../app/protocol';
import { checkSafeId } from '../source/source-state';
import { errnoMessage } from '../store/json-file';
import type { StoredVpg } from './vpg-store';

export interface VpgPlanInput {
  readonly settings: VpgSettings;
  readonly siteId: string;
  /** This agent's VMs (the hypervisor's inventory). */
  readonly vms: readonly Vm[];
  readonly peers: readonly Peer[];
  /** Every VPG this agent has, either role. */
  readonly existing: readonly StoredVpg[];
}

export interface VpgPlan {
  readonly peer: Peer;
  readonly disks: VpgDisk[];
  /** diskId → the disk's file. */
  readonly diskPaths: Map<string, string>;
}

/**
 * Checks a vpg.create request against this site (VMs, their disks, VPGs that exist) and the
 * paired sites, and resolves the recovery site's agent and the disk list. Every refusal says
 * what to do.
 */
export function planVpg(input: VpgPlanInput): VpgPlan {
  const { settings } = input;
  const clash = input.existing.find((v) => v.name === settings.name);
  if (clash !== undefined) {
    throw new TidelineError(
      'ALREADY_EXISTS',
      `A VPG named "${settings.name}" already exists on this agent (${clash.vpgId}); choose another name`,
      { vpgId: clash.vpgId },
    );
  }
  if (new Set(settings.vmIds).size !== settings.vmIds.length) {
    throw new TidelineError('INVALID_PARAMS', 'A VM is listed twice in the VPG');
  }
  const disks: VpgDisk[] = [];
  const diskPaths = new Map<string, string>();
  for (const vmId of settings.vmIds) {
    const vm = input.vms.find((v) => v.vmId === vmId);
    if (vm === undefined) {
      throw new TidelineError(
        'NOT_FOUND',
        `VM ${vmId} is not on this agent's hosts: create the VPG on the agent of the VM's site`,
        { vmId },
      );
    }
    const owner = input.existing.find((v) => v.role === 'source' && v.vmIds.includes(vmId));
    if (owner !== undefined) {
      throw new TidelineError(
        'CONFLICT',
        `VM ${vm.name} is already protected by VPG "${owner.name}": remove it from there first`,
        { vmId, vpgId: owner.vpgId },
      );
    }
    checkProtectable(vm);
    for (const disk of vm.disks) {
      checkSafeId(disk.diskId, 'Disk id');
      if (diskPaths.has(disk.diskId)) {
        throw new TidelineError('CONFLICT', `Disk ${disk.diskId} belongs to two VMs of the VPG`);
      }
      disks.push({ vmId, diskId: disk.diskId, sizeBytes: disk.sizeBytes });
      diskPaths.set(disk.diskId, disk.location);
    }
  }
  checkRecoverySettings(settings.recovery, recoveryVms(settings.vmIds, input.vms));
  if (settings.recoverySiteId === input.siteId) {
    throw new TidelineError(
      'INVALID_PARAMS',
      'The recovery site must be another site, paired with this one, not this site itself',
    );
  }
  const peer = input.peers.find((p) => p.siteId === settings.recoverySiteId);
  if (peer === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `Site ${settings.recoverySiteId} is not paired with this site: pair the sites first (site.pairingToken, then site.pair)`,
      { siteId: settings.recoverySiteId },
    );
  }
  if (peer.link !== 'connected') {
    throw new TidelineError(
      'UNAVAILABLE',
      `The link to site "${peer.siteName}" is ${peer.link}${peer.lastError === undefined ? '' : ` (${peer.lastError})`}: the recovery site must be reachable to create a VPG`,
      { agentId: peer.agentId },
    );
  }
  return { peer, disks, diskPaths };
}

/** Refuses a VM the hypervisor cannot protect (Vm.cannotProtect says why) or without disks. */
export function checkProtectable(vm: Vm): void {
  if (vm.cannotProtect !== undefined) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `VM ${vm.name} cannot be protected: ${vm.cannotProtect}`,
      {
        vmId: vm.vmId,
      },
    );
  }
  if (vm.disks.length === 0) {
    throw new TidelineError('INVALID_PARAMS', `VM ${vm.name} has no disk to protect`, {
      vmId: vm.vmId,
    });
  }
}

/** The VPG's VMs as the recovery settings check needs them (app/recovery/validate-recovery). */
export function recoveryVms(vmIds: readonly string[], vms: readonly Vm[]): RecoveryVmInfo[] {
  return vmIds.flatMap((vmId) => {
    const vm = vms.find((v) => v.vmId === vmId);
    return vm === undefined ? [] : [{ vmId, name: vm.name, nicNames: vm.nics.map((n) => n.name) }];
  });
}

/**
 * Whether any disk file has blocks allocated (then initial sync must read it; a fresh sparse
 * disk has none and needs no copy at all).
 */
export async function anyAllocated(paths: Iterable<string>): Promise<boolean> {
  for (const path of paths) {
    let blocks: number;
    try {
      blocks = (await stat(path)).blocks;
    } catch (err) {
      throw new TidelineError('NOT_FOUND', `Cannot read disk ${path}: ${errnoMessage(err)}`);
    }
    if (blocks > 0) return true;
  }
  return false;
}
