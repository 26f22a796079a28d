import { stat } from 'node:fs/promises';
import { TidelineError } from '../../../app/errors';
import {
  NetworkNameSchema,
  type Host,
  type Network,
  type PowerState,
  type Vm,
} from '../../../app/protocol';
import { errnoMessage } from '../../store/json-file';
import { domainToVm, protectableCandidates } from './domain-vm';
import { parseDomainXml, type DomainInfo } from './domain-xml';
import { parseNetworkXml, parsePoolXml, type NetworkInfo, type PoolInfo } from './network-xml';
import type { LibvirtSettings } from './libvirt-settings';
import type { VirshSession } from './virsh-session';
import { attr, child, children, parseXml } from './xml';

/** What libvirt said about the host when the adapter started (it does not change while up). */
export interface HostFacts {
  readonly name: string;
  readonly version: string;
  readonly cpuCores: number;
  readonly memoryMiB: number;
  /** Domain types (kvm, qemu) and machine types this host's QEMU offers, by architecture. */
  readonly guests: ReadonlyMap<string, { domainTypes: Set<string>; machines: Set<string> }>;
}

/** One full read of the host: every domain (the prefix filter applies to `vms` only). */
export interface Snapshot {
  readonly domains: readonly DomainInfo[];
  readonly vms: readonly Vm[];
  readonly networks: readonly NetworkInfo[];
  readonly pools: readonly PoolInfo[];
}

export async function readHostFacts(session: VirshSession): Promise<HostFacts> {
  const [hostname, version, nodeinfo, capabilities] = await Promise.all([
    session.run(['hostname']),
    session.run(['version']),
    session.run(['nodeinfo']),
    session.run(['capabilities']),
  ]);
  const field = (text: string, label: string): string | undefined =>
    text
      .split('\n')
      .find((line) => line.startsWith(label))
      ?.slice(label.length)
      .trim();
  const hypervisor = field(version, 'Running hypervisor:') ?? 'unknown hypervisor';
  const library = field(version, 'Using library:') ?? 'libvirt';
  const memoryKiB = Number(field(nodeinfo, 'Memory size:')?.split(/\s+/)[0]);
  const cpus = Number(field(nodeinfo, 'CPU(s):'));
  const guests = new Map<string, { domainTypes: Set<string>; machines: Set<string> }>();
  for (const guest of children(
    child(parseXml(capabilities, 'the host capabilities'), 'capabilities'),
    'guest',
  )) {
    const arch = child(guest, 'arch');
    const name = attr(arch, 'name');
    if (name === undefined) continue;
    const entry = guests.get(name) ?? {
      domainTypes: new Set<string>(),
      machines: new Set<string>(),
    };
    for (const domain of children(arch, 'domain')) {
      const type = attr(domain, 'type');
      if (type !== undefined) entry.domainTypes.add(type);
    }
    for (const machine of children(arch, 'machine')) {
      const text = typeof machine['#text'] === 'string' ? machine['#text'] : undefined;
      if (text !== undefined) entry.machines.add(text);
    }
    guests.set(name, entry);
  }
  return {
    name: hostname.trim() || 'libvirt host',
    version: `${hypervisor}, ${library}`.slice(0, 80),
    cpuCores: Number.isInteger(cpus) && cpus > 0 ? cpus : 1,
    memoryMiB: Number.isFinite(memoryKiB) && memoryKiB > 0 ? Math.round(memoryKiB / 1024) : 1,
    guests,
  };
}

export function hostOf(
  settings: LibvirtSettings,
  facts: HostFacts,
  pools: readonly PoolInfo[],
): Host {
  return {
    hostId: settings.hostId,
    name: facts.name.slice(0, 253),
    hypervisor: 'libvirt',
    hypervisorVersion: facts.version,
    agentState: 'installed',
    cpuCores: facts.cpuCores,
    memoryMiB: facts.memoryMiB,
    datastores: pools.map((p) => ({
      name: p.name,
      capacityBytes: Math.max(0, Math.round(p.capacityBytes)),
      freeBytes: Math.max(0, Math.round(p.freeBytes)),
    })),
  };
}

/**
 * Reads domains, networks and pools through the session. A domain undefined between the list
 * and its dumpxml is skipped; anything else failing fails the read (the caller keeps the last
 * good snapshot).
 */
export async function readSnapshot(
  session: VirshSession,
  settings: LibvirtSettings,
): Promise<Snapshot> {
  const names = (text: string): string[] =>
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  const [all, active, paused, poolNames, networkNames, activeNetworks] = await Promise.all([
    session.run(['list', '--all', '--uuid']),
    session.run(['list', '--uuid']),
    session.run(['list', '--uuid', '--state-paused']),
    session.run(['pool-list', '--all', '--name']),
    session.run(['net-list', '--all', '--name']),
    session.run(['net-list', '--name']),
  ]);
  const activeSet = new Set(names(active));
  const pausedSet = new Set(names(paused));
  const pools: PoolInfo[] = [];
  for (const name of names(poolNames)) {
    const xml = await ignoreGone(session.run(['pool-dumpxml', name]));
    if (xml !== undefined) pools.push(parsePoolXml(xml));
  }
  const activeNets = new Set(names(activeNetworks));
  const networks: NetworkInfo[] = [];
  for (const name of names(networkNames)) {
    const xml = await ignoreGone(session.run(['net-dumpxml', name]));
    if (xml !== undefined) networks.push(parseNetworkXml(xml, activeNets.has(name)));
  }
  const domains: DomainInfo[] = [];
  for (const uuid of names(all)) {
    const xml = await ignoreGone(session.run(['dumpxml', uuid]));
    if (xml !== undefined) domains.push(parseDomainXml(xml));
  }
  const vms: Vm[] = [];
  for (const domain of domains) {
    if (!domain.name.startsWith(settings.domainPrefix)) continue;
    const powerState: PowerState = pausedSet.has(domain.uuid)
      ? 'suspended'
      : activeSet.has(domain.uuid) || domain.active
        ? 'running'
        : 'stopped';
    vms.push(
      domainToVm(domain, {
        hostId: settings.hostId,
        powerState,
        diskSizes: await diskSizes(session, domain),
        addresses:
          powerState === 'running' ? await addresses(session, domain, networks) : new Map(),
        pools,
      }),
    );
  }
  return { domains, vms, networks, pools };
}

/** Networks as the product names them (libvirt allows names the product's schema does not). */
export function publicNetworks(networks: readonly NetworkInfo[]): Network[] {
  return networks
    .filter((n) => NetworkNameSchema.safeParse(n.name).success)
    .map((n) => ({
      name: n.name,
      isolated: n.isolated,
      ...(n.subnet !== undefined && { subnet: n.subnet }),
    }));
}

/** A raw file's size is its capacity; anything else asks libvirt (domblkinfo). */
async function diskSizes(
  session: VirshSession,
  domain: DomainInfo,
): Promise<Map<string, number | { error: string }>> {
  const sizes = new Map<string, number | { error: string }>();
  for (const disk of protectableCandidates(domain)) {
    if (disk.path === undefined) continue;
    if (disk.type === 'file' && (disk.format === undefined || disk.format === 'raw')) {
      try {
        const info = await stat(disk.path);
        sizes.set(disk.target, info.isFile() ? info.size : { error: `${disk.path} is not a file` });
      } catch (err) {
        sizes.set(disk.target, { error: `${disk.path}: ${errnoMessage(err)}` });
      }
      continue;
    }
    try {
      const info = await session.run(['domblkinfo', domain.uuid, disk.target]);
      const line = info.split('\n').find((l) => l.startsWith('Capacity:'));
      const capacity = Number(line?.slice('Capacity:'.length).trim());
      sizes.set(disk.target, Number.isFinite(capacity) ? capacity : { error: 'no capacity' });
    } catch (err) {
      sizes.set(disk.target, { error: err instanceof Error ? err.message : String(err) });
    }
  }
  return sizes;
}

/**
 * IPv4 addresses from libvirt's DHCP leases, by MAC: asked only when a NIC is on a libvirt
 * network with an address range (no leases elsewhere; the test driver even crashes then).
 */
async function addresses(
  session: VirshSession,
  domain: DomainInfo,
  networks: readonly NetworkInfo[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const leased = new Set(networks.filter((n) => n.subnet !== undefined).map((n) => n.name));
  if (!domain.nics.some((n) => n.type === 'network' && leased.has(n.source ?? ''))) return found;
  let table: string;
  try {
    table = await session.run(['domifaddr', domain.uuid, '--source', 'lease']);
  } catch {
    return found;
  }
  for (const line of table.split('\n')) {
    const [, mac, protocol, address] = line.trim().split(/\s+/);
    if (mac === undefined || protocol !== 'ipv4' || address === undefined) continue;
    const ip = address.split('/')[0];
    if (ip !== undefined) found.set(mac.toLowerCase(), ip);
  }
  return found;
}

async function ignoreGone(read: Promise<string>): Promise<string | undefined> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}
