import type { Disk, Nic, PowerState, Vm } from '../../../app/protocol';
import type { DomainDisk, DomainInfo } from './domain-xml';
import type { PoolInfo } from './network-xml';

/** What the inventory learned of a domain's disks and NICs beside its XML. */
export interface DomainFacts {
  readonly hostId: string;
  readonly powerState: PowerState;
  /** Guest-visible size of each disk by target, or why it could not be read. */
  readonly diskSizes: ReadonlyMap<string, number | { readonly error: string }>;
  /** Addresses libvirt knows (DHCP leases) by MAC. */
  readonly addresses: ReadonlyMap<string, string>;
  readonly pools: readonly PoolInfo[];
}

/** The disks a VM has in the product's sense: writable disks (no CD-ROM, floppy, read-only). */
export function protectableCandidates(domain: DomainInfo): DomainDisk[] {
  return domain.disks.filter((d) => (d.device === 'disk' || d.device === 'lun') && !d.readonly);
}

/** A libvirt domain's disk id: stable across restarts (a recovered domain keeps its own). */
export function domainDiskId(domain: DomainInfo, target: string): string {
  return domain.tideline?.diskIds.get(target) ?? `${domain.uuid}-${target}`;
}

/** A domain as the product's Vm: the libvirt UUID is the VM id. */
export function domainToVm(domain: DomainInfo, facts: DomainFacts): Vm {
  const reasons: string[] = [];
  const disks: Disk[] = [];
  for (const disk of protectableCandidates(domain)) {
    const size = facts.diskSizes.get(disk.target);
    const reason = protectRefusal(domain, disk, size);
    if (reason !== undefined) reasons.push(reason);
    disks.push({
      diskId: domainDiskId(domain, disk.target),
      name: disk.target,
      sizeBytes: typeof size === 'number' && size > 0 ? size : 1,
      datastore: datastoreOf(disk.path, facts.pools),
      location: disk.path ?? networkLocation(disk),
      ...(disk.format !== undefined && { format: disk.format }),
      target: disk.target,
      ...(disk.bus !== undefined && { bus: disk.bus }),
      ...(disk.bootOrder !== undefined && { bootOrder: disk.bootOrder }),
    });
  }
  if (disks.length === 0) reasons.push(`VM "${domain.name}" has no writable disk to protect`);
  const nics: Nic[] = domain.nics.flatMap((nic, i) => {
    if (nic.mac === undefined || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(nic.mac)) return [];
    const address = facts.addresses.get(nic.mac);
    return [
      {
        name: `net${i}`,
        mac: nic.mac,
        network: nic.source ?? nic.type,
        ...(address !== undefined && { ipAddress: address }),
        ...(nic.model !== undefined && { model: nic.model }),
        ...(nic.bootOrder !== undefined && { bootOrder: nic.bootOrder }),
      },
    ];
  });
  const recovered = domain.tideline?.recoveredFrom;
  return {
    vmId: domain.uuid,
    name: domain.name,
    hostId: facts.hostId,
    powerState: facts.powerState,
    cpus: domain.vcpus,
    memoryMiB: Math.max(1, Math.round(domain.memoryBytes / 1024 ** 2)),
    guestOs: guestOs(domain),
    nics,
    disks,
    hardware: {
      domainType: domain.domainType,
      ...(domain.arch !== undefined && { arch: domain.arch }),
      ...(domain.machine !== undefined && { machine: domain.machine }),
      firmware: domain.firmware,
      ...(domain.bootDevices.length > 0 && { bootDevices: domain.bootDevices }),
    },
    ...(reasons.length > 0 && { cannotProtect: reasons.join('; ') }),
    ...(recovered !== undefined && { recoveredFrom: { ...recovered } }),
  };
}

/**
 * Why a disk cannot be protected, in words an admin can act on; undefined when it can. The
 * agent reads the image file itself for syncs, so it must be a raw file or block device.
 */
function protectRefusal(
  domain: DomainInfo,
  disk: DomainDisk,
  size: number | { readonly error: string } | undefined,
): string | undefined {
  const what = `Disk ${disk.target} of VM "${domain.name}"`;
  if (disk.type !== 'file' && disk.type !== 'block') {
    return `${what} is a ${disk.type}${disk.network === undefined ? '' : ` (${disk.network.protocol})`} disk: Tideline protects file and block disks`;
  }
  if (disk.path === undefined) return `${what} has no source (an empty drive)`;
  if (disk.format !== undefined && disk.format !== 'raw') {
    return `${what} is a ${disk.format} image (${disk.path}): Tideline protects raw disks only; convert it with "qemu-img convert -O raw" while the VM is off and point the domain at the raw file`;
  }
  if (disk.hasBacking) {
    return `${what} has a backing chain (a snapshot overlay): merge it first (virsh blockcommit --pivot)`;
  }
  if (disk.shareable) return `${what} is shared by several VMs: Tideline cannot order their writes`;
  if (typeof size === 'object') return `${what} cannot be read by the agent: ${size.error}`;
  if (size === undefined || size <= 0) return `${what} has no size`;
  return undefined;
}

function networkLocation(disk: DomainDisk): string {
  const name = disk.network?.name;
  return `${disk.network?.protocol ?? disk.type}:${name ?? ''}`;
}

/** The storage pool holding the file, by its target directory; "unmanaged" outside any. */
function datastoreOf(path: string | undefined, pools: readonly PoolInfo[]): string {
  if (path !== undefined) {
    for (const pool of pools) {
      if (pool.path !== undefined && path.startsWith(`${pool.path.replace(/\/+$/, '')}/`)) {
        return pool.name;
      }
    }
  }
  return 'unmanaged';
}

function guestOs(domain: DomainInfo): string {
  const fromTideline = domain.tideline?.guestOs;
  if (fromTideline !== undefined) return fromTideline;
  if (domain.osId !== undefined) {
    try {
      const path = new URL(domain.osId).pathname.replace(/^\/+/, '');
      if (path !== '') return path;
    } catch {
      return domain.osId;
    }
  }
  return 'Unknown guest OS';
}
