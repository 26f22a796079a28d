import { join } from 'node:path';
import { TidelineError } from '../../../app/errors';
import type { VmRegistration } from '../adapter';
import { checkRegistration } from '../registration-checks';
import type { DomainSpec } from './domain-xml';
import type { HostFacts, Snapshot } from './libvirt-inventory';
import type { LibvirtSettings } from './libvirt-settings';

/** The serial console log of a domain Tideline defined (virtlogd writes it). */
export function consoleLogPath(settings: LibvirtSettings, uuid: string): string {
  return join(settings.consoleLogDir, `tideline-${uuid}-console.log`);
}

/**
 * A recovered VM as a libvirt domain: the hardware of the metadata package (machine type,
 * firmware, disk buses and targets, NIC models and MACs, boot order) on this host's QEMU,
 * named so an admin recognises it ("web-01 (test)" for a test failover), with the disk ids
 * the failover gave its disks kept in the domain's metadata.
 */
export function domainSpec(input: {
  readonly registration: VmRegistration;
  readonly settings: LibvirtSettings;
  readonly facts: HostFacts;
  readonly snapshot: Snapshot;
  readonly uuid: string;
}): DomainSpec {
  const { registration, settings, facts, snapshot, uuid } = input;
  checkRegistration(registration, {
    hostIds: [settings.hostId],
    networks: snapshot.networks,
    vms: snapshot.vms,
  });
  const hardware = registration.hardware ?? {};
  const arch = hardware.arch ?? 'x86_64';
  const guest = facts.guests.get(arch);
  if (guest === undefined) {
    throw new TidelineError(
      'UNAVAILABLE',
      `This host's QEMU cannot run ${arch} guests (VM "${registration.name}"): install its system emulator`,
    );
  }
  const usedTargets = new Set<string>();
  const disks = registration.disks.map((disk, i) => {
    const target = disk.target ?? nextTarget(usedTargets, i);
    usedTargets.add(target);
    return {
      diskId: disk.diskId,
      target,
      bus: disk.bus ?? 'virtio',
      location: disk.location,
      ...(disk.bootOrder !== undefined && { bootOrder: disk.bootOrder }),
    };
  });
  return {
    uuid,
    name: uniqueName(domainName(registration, settings), snapshot),
    domainType: domainType(hardware.domainType, guest.domainTypes),
    vcpus: registration.cpus,
    memoryMiB: registration.memoryMiB,
    arch,
    machine: machineType(hardware.machine, guest.machines),
    firmware: hardware.firmware ?? 'bios',
    bootDevices: hardware.bootDevices ?? ['hd'],
    disks,
    nics: registration.nics.map((nic) => ({
      mac: nic.mac,
      network: nic.network,
      model: nic.model ?? 'virtio',
      ...(nic.bootOrder !== undefined && { bootOrder: nic.bootOrder }),
    })),
    consoleLog: consoleLogPath(settings, uuid),
    metadata: {
      diskIds: new Map(disks.map((d) => [d.target, d.diskId])),
      guestOs: registration.guestOs,
      ...(registration.recoveredFrom !== undefined && {
        recoveredFrom: registration.recoveredFrom,
      }),
    },
  };
}

function domainName(registration: VmRegistration, settings: LibvirtSettings): string {
  const prefix = settings.domainPrefix;
  const base = registration.name.startsWith(prefix)
    ? registration.name
    : `${prefix}${registration.name}`;
  return registration.recoveredFrom?.mode === 'test' ? `${base} (test)` : base;
}

/** libvirt names are unique per host: a taken name gets " (2)", " (3)"… */
function uniqueName(name: string, snapshot: Snapshot): string {
  const taken = new Set(snapshot.domains.map((d) => d.name));
  if (!taken.has(name)) return name;
  for (let n = 2; ; n += 1) {
    const candidate = `${name} (${n})`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** The protected VM's type where this host has it; else KVM when offered, else emulation. */
function domainType(wanted: string | undefined, offered: ReadonlySet<string>): string {
  if (wanted !== undefined && offered.has(wanted)) return wanted;
  for (const type of ['kvm', 'qemu']) if (offered.has(type)) return type;
  return [...offered][0] ?? 'qemu';
}

/** The exact machine type if this QEMU has it, else its family's alias (pc, q35). */
function machineType(wanted: string | undefined, offered: ReadonlySet<string>): string {
  if (wanted !== undefined && offered.has(wanted)) return wanted;
  if (wanted?.startsWith('pc-q35') === true || wanted === 'q35') return 'q35';
  return 'pc';
}

function nextTarget(used: ReadonlySet<string>, index: number): string {
  for (let i = index; ; i += 1) {
    const target = `vd${String.fromCharCode(97 + (i % 26))}${i >= 26 ? Math.floor(i / 26) : ''}`;
    if (!used.has(target)) return target;
  }
}
