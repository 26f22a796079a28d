import { TidelineError } from '../../../app/errors';
import {
  attr,
  buildXml,
  child,
  childText,
  children,
  parseXml,
  scaledBytes,
  text,
  type XmlNode,
} from './xml';

/** The namespace of the product's own element in a domain's `<metadata>`. */
export const TIDELINE_XMLNS = 'https://tideline.invalid/xmlns/libvirt-domain/1';
const PREFIX = 'tideline';

export interface DomainDisk {
  /** file, block, network, volume, dir… */
  readonly type: string;
  /** disk, cdrom, floppy, lun */
  readonly device: string;
  /** The driver's image format (raw, qcow2…), when declared. */
  readonly format: string | undefined;
  /** file: the image path; block: the device path. */
  readonly path: string | undefined;
  readonly network: { readonly protocol: string; readonly name?: string } | undefined;
  /** The guest device name (vda, sda…): the disk's stable key within the domain. */
  readonly target: string;
  readonly bus: string | undefined;
  readonly bootOrder: number | undefined;
  readonly readonly: boolean;
  readonly shareable: boolean;
  /** The image has a backing chain (a snapshot overlay): its writes are not the whole disk. */
  readonly hasBacking: boolean;
  /** A block copy job in progress on the disk. */
  readonly mirror: DomainMirror | undefined;
}

export interface DomainMirror {
  /** copy (blockcopy) or active-commit. */
  readonly job: string | undefined;
  /** 'yes' once the copy is synchronised. */
  readonly ready: string | undefined;
  /** The copy's target when it is an NBD export on a unix socket. */
  readonly socket: string | undefined;
  readonly exportName: string | undefined;
}

export interface DomainNic {
  /** network, bridge, direct, user… */
  readonly type: string;
  readonly mac: string | undefined;
  /** The libvirt network, or the host bridge/device, it is attached to. */
  readonly source: string | undefined;
  readonly model: string | undefined;
  readonly bootOrder: number | undefined;
}

/** What Tideline wrote into a domain it defined (a recovered VM). */
export interface TidelineDomainMetadata {
  readonly recoveredFrom?: {
    readonly vpgId: string;
    readonly failoverId: string;
    readonly mode: 'live' | 'test' | 'move';
    readonly sourceVmId: string;
  };
  /** Disk ids by guest device name: a recovered disk keeps the id the failover gave it. */
  readonly diskIds: ReadonlyMap<string, string>;
  readonly guestOs?: string;
}

export interface DomainInfo {
  readonly uuid: string;
  readonly name: string;
  /** qemu, kvm, test… */
  readonly domainType: string;
  /** Has an id: the domain runs (or is paused). */
  readonly active: boolean;
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly arch: string | undefined;
  readonly machine: string | undefined;
  readonly firmware: 'bios' | 'efi';
  /** `<os><boot dev=…/>` in order (used when no device has its own boot order). */
  readonly bootDevices: string[];
  readonly disks: DomainDisk[];
  readonly nics: DomainNic[];
  /** libosinfo's OS id, when the domain was created with one. */
  readonly osId: string | undefined;
  readonly tideline: TidelineDomainMetadata | undefined;
}

export function parseDomainXml(xml: string): DomainInfo {
  const domain = child(parseXml(xml, 'a domain description'), 'domain');
  const uuid = childText(domain, 'uuid');
  const name = childText(domain, 'name');
  if (domain === undefined || uuid === undefined || name === undefined) {
    throw new TidelineError('INTERNAL_ERROR', 'libvirt returned a domain without a name or uuid');
  }
  const os = child(domain, 'os');
  const type = child(os, 'type');
  const devices = child(domain, 'devices');
  const memory =
    scaledBytes(child(domain, 'currentMemory'), 'KiB') ??
    scaledBytes(child(domain, 'memory'), 'KiB');
  const vcpus = Number(childText(domain, 'vcpu') ?? '1');
  return {
    uuid: uuid.toLowerCase(),
    name,
    domainType: attr(domain, 'type') ?? 'qemu',
    active: attr(domain, 'id') !== undefined && attr(domain, 'id') !== '-1',
    vcpus: Number.isInteger(vcpus) && vcpus > 0 ? vcpus : 1,
    memoryBytes: memory ?? 0,
    arch: attr(type, 'arch'),
    machine: attr(type, 'machine'),
    firmware: attr(os, 'firmware') === 'efi' || child(os, 'loader') !== undefined ? 'efi' : 'bios',
    bootDevices: children(os, 'boot').flatMap((b) => attr(b, 'dev') ?? []),
    disks: children(devices, 'disk').map(parseDisk),
    nics: children(devices, 'interface').map(parseNic),
    osId: osInfoId(child(domain, 'metadata')),
    tideline: parseTidelineMetadata(child(domain, 'metadata')),
  };
}

function parseDisk(disk: XmlNode): DomainDisk {
  const source = child(disk, 'source');
  const type = attr(disk, 'type') ?? 'file';
  const backing = child(disk, 'backingStore');
  const mirror = child(disk, 'mirror');
  const order = Number(attr(child(disk, 'boot'), 'order'));
  return {
    type,
    device: attr(disk, 'device') ?? 'disk',
    format: attr(child(disk, 'driver'), 'type'),
    path: type === 'block' ? attr(source, 'dev') : attr(source, 'file'),
    network:
      type === 'network'
        ? {
            protocol: attr(source, 'protocol') ?? 'unknown',
            ...(attr(source, 'name') !== undefined && { name: attr(source, 'name') }),
          }
        : undefined,
    target: attr(child(disk, 'target'), 'dev') ?? '',
    bus: attr(child(disk, 'target'), 'bus'),
    bootOrder: Number.isInteger(order) && order > 0 ? order : undefined,
    readonly: child(disk, 'readonly') !== undefined,
    shareable: child(disk, 'shareable') !== undefined,
    hasBacking: child(backing, 'source') !== undefined,
    mirror:
      mirror === undefined
        ? undefined
        : {
            job: attr(mirror, 'job'),
            ready: attr(mirror, 'ready'),
            socket: attr(child(child(mirror, 'source'), 'host'), 'socket'),
            exportName: attr(child(mirror, 'source'), 'name'),
          },
  };
}

function parseNic(nic: XmlNode): DomainNic {
  const type = attr(nic, 'type') ?? 'network';
  const source = child(nic, 'source');
  const order = Number(attr(child(nic, 'boot'), 'order'));
  return {
    type,
    mac: attr(child(nic, 'mac'), 'address')?.toLowerCase(),
    source: attr(source, 'network') ?? attr(source, 'bridge') ?? attr(source, 'dev'),
    model: attr(child(nic, 'model'), 'type'),
    bootOrder: Number.isInteger(order) && order > 0 ? order : undefined,
  };
}

/** The element of namespace `xmlns` under `<metadata>`, whatever prefix it was given. */
function metadataElement(metadata: XmlNode | undefined, xmlns: string): XmlNode | undefined {
  if (metadata === undefined) return undefined;
  for (const key of Object.keys(metadata)) {
    if (key.startsWith('@_') || key === '#text') continue;
    const element = child(metadata, key);
    const declared = Object.entries(element ?? {}).find(
      ([k, v]) => k.startsWith('@_xmlns') && v === xmlns,
    );
    if (declared !== undefined) return element;
  }
  return undefined;
}

function osInfoId(metadata: XmlNode | undefined): string | undefined {
  const libosinfo = metadataElement(metadata, 'http://libosinfo.org/xmlns/libvirt/domain/1.0');
  if (libosinfo === undefined) return undefined;
  for (const [key, value] of Object.entries(libosinfo)) {
    if (key.endsWith(':os') && typeof value === 'object' && !Array.isArray(value)) {
      return attr(value as XmlNode, 'id');
    }
  }
  return undefined;
}

function parseTidelineMetadata(metadata: XmlNode | undefined): TidelineDomainMetadata | undefined {
  const element = metadataElement(metadata, TIDELINE_XMLNS);
  if (element === undefined) return undefined;
  const prefixOf = Object.keys(element).find(
    (k) => k.endsWith(':recovered') || k.endsWith(':disk'),
  );
  const prefix = prefixOf === undefined ? PREFIX : prefixOf.slice(0, prefixOf.indexOf(':'));
  const diskIds = new Map<string, string>();
  for (const disk of children(element, `${prefix}:disk`)) {
    const target = attr(disk, 'target');
    const id = attr(disk, 'id');
    if (target !== undefined && id !== undefined) diskIds.set(target, id);
  }
  const recovered = child(element, `${prefix}:recovered`);
  const mode = attr(recovered, 'mode');
  const vpgId = attr(recovered, 'vpg');
  const failoverId = attr(recovered, 'failover');
  const sourceVmId = attr(recovered, 'source-vm');
  const guestOs = text(child(element, `${prefix}:guest-os`));
  return {
    diskIds,
    ...(guestOs !== undefined && { guestOs }),
    ...(vpgId !== undefined &&
      failoverId !== undefined &&
      sourceVmId !== undefined &&
      (mode === 'live' || mode === 'test' || mode === 'move') && {
        recoveredFrom: { vpgId, failoverId, mode, sourceVmId },
      }),
  };
}

// ───────────────────────── building a domain (registration) ─────────────────────────

export interface DomainDiskSpec {
  readonly diskId: string;
  readonly target: string;
  readonly bus: string;
  /** A file or block device path, or an NBD export as `nbd+unix:///<name>?socket=<path>`. */
  readonly location: string;
  readonly bootOrder?: number;
}

export interface DomainNicSpec {
  readonly mac: string;
  readonly network: string;
  readonly model: string;
  readonly bootOrder?: number;
}

export interface DomainSpec {
  readonly uuid: string;
  readonly name: string;
  readonly domainType: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly arch: string;
  readonly machine: string;
  readonly firmware: 'bios' | 'efi';
  readonly bootDevices: readonly string[];
  readonly disks: readonly DomainDiskSpec[];
  readonly nics: readonly DomainNicSpec[];
  /** Where the serial console's output is kept (virtlogd writes it). */
  readonly consoleLog: string;
  readonly metadata: TidelineDomainMetadata;
}

/** A domain for libvirt to define, built from the metadata package of the VM it recovers. */
export function buildDomainXml(spec: DomainSpec): string {
  const ordered =
    spec.disks.some((d) => d.bootOrder !== undefined) ||
    spec.nics.some((n) => n.bootOrder !== undefined);
  const meta = spec.metadata;
  return buildXml({
    domain: {
      '@_type': spec.domainType,
      name: spec.name,
      uuid: spec.uuid,
      metadata: {
        [`${PREFIX}:vm`]: {
          [`@_xmlns:${PREFIX}`]: TIDELINE_XMLNS,
          ...(meta.recoveredFrom !== undefined && {
            [`${PREFIX}:recovered`]: {
              '@_vpg': meta.recoveredFrom.vpgId,
              '@_failover': meta.recoveredFrom.failoverId,
              '@_mode': meta.recoveredFrom.mode,
              '@_source-vm': meta.recoveredFrom.sourceVmId,
            },
          }),
          ...(meta.guestOs !== undefined && { [`${PREFIX}:guest-os`]: meta.guestOs }),
          [`${PREFIX}:disk`]: [...meta.diskIds].map(([target, id]) => ({
            '@_target': target,
            '@_id': id,
          })),
        },
      },
      memory: { '@_unit': 'MiB', '#text': String(spec.memoryMiB) },
      vcpu: String(spec.vcpus),
      os: {
        ...(spec.firmware === 'efi' && { '@_firmware': 'efi' }),
        type: { '@_arch': spec.arch, '@_machine': spec.machine, '#text': 'hvm' },
        ...(!ordered && { boot: spec.bootDevices.map((dev) => ({ '@_dev': dev })) }),
      },
      features: { acpi: '', apic: '' },
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_crash: 'destroy',
      devices: {
        disk: spec.disks.map(diskElement),
        interface: spec.nics.map((nic) => ({
          '@_type': 'network',
          mac: { '@_address': nic.mac },
          source: { '@_network': nic.network },
          model: { '@_type': nic.model },
          ...(nic.bootOrder !== undefined && { boot: { '@_order': String(nic.bootOrder) } }),
        })),
        serial: { '@_type': 'pty', log: { '@_file': spec.consoleLog, '@_append': 'on' } },
        console: { '@_type': 'pty' },
      },
    },
  });
}

function diskElement(disk: DomainDiskSpec): Record<string, unknown> {
  const boot = disk.bootOrder === undefined ? {} : { boot: { '@_order': String(disk.bootOrder) } };
  const target = { '@_dev': disk.target, '@_bus': disk.bus };
  const nbd = parseNbdUri(disk.location);
  if (nbd !== undefined) {
    return {
      '@_type': 'network',
      '@_device': 'disk',
      driver: { '@_name': 'qemu', '@_type': 'raw' },
      source: {
        '@_protocol': 'nbd',
        '@_name': nbd.exportName,
        host: { '@_transport': 'unix', '@_socket': nbd.socket },
      },
      target,
      ...boot,
    };
  }
  const block = disk.location.startsWith('/dev/');
  return {
    '@_type': block ? 'block' : 'file',
    '@_device': 'disk',
    driver: { '@_name': 'qemu', '@_type': 'raw' },
    source: block ? { '@_dev': disk.location } : { '@_file': disk.location },
    target,
    ...boot,
  };
}

/** `nbd+unix:///<export>?socket=<path>` (the agent's export URIs), else undefined. */
export function parseNbdUri(location: string): { exportName: string; socket: string } | undefined {
  if (!location.startsWith('nbd+unix://')) return undefined;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new TidelineError('INVALID_PARAMS', `Not an NBD URI: ${location}`);
  }
  const socket = url.searchParams.get('socket');
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (socket === null || exportName === '') {
    throw new TidelineError(
      'INVALID_PARAMS',
      `An NBD disk URI needs an export and a socket: ${location}`,
    );
  }
  return { exportName, socket };
}

/** The destination of a block copy into an NBD export (virsh blockcopy --xml). */
export function nbdCopyTargetXml(socket: string, exportName: string): string {
  return buildXml({
    disk: {
      '@_type': 'network',
      driver: { '@_type': 'raw' },
      source: {
        '@_protocol': 'nbd',
        '@_name': exportName,
        host: { '@_transport': 'unix', '@_socket': socket },
      },
    },
  });
}
