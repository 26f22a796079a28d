import type { Datastore, Network } from '../../../app/protocol';
import { attr, buildXml, child, childText, children, parseXml, scaledBytes } from './xml';

export interface NetworkInfo extends Network {
  readonly active: boolean;
  /** The Linux bridge libvirt made for it. */
  readonly bridge: string | undefined;
}

/** A libvirt network: isolated when it has no `<forward>` (guests reach only each other). */
export function parseNetworkXml(xml: string, active: boolean): NetworkInfo {
  const network = child(parseXml(xml, 'a network description'), 'network');
  const ip = children(network, 'ip').find((i) => (attr(i, 'family') ?? 'ipv4') === 'ipv4');
  const subnet = ip === undefined ? undefined : cidr(ip);
  return {
    name: childText(network, 'name') ?? '',
    isolated: child(network, 'forward') === undefined,
    ...(subnet !== undefined && { subnet }),
    active,
    bridge: attr(child(network, 'bridge'), 'name'),
  };
}

/**
 * A network for a failover to create. Isolated (a test failover): a bridge with no
 * `<forward>` and no address, so nothing leaves it. Otherwise NAT through the host, with the
 * subnet's first address as gateway and DHCP when the subnet is known.
 */
export function buildNetworkXml(network: Network): string {
  const ip = network.isolated ? undefined : ipElement(network.subnet);
  return buildXml({
    network: {
      name: network.name,
      ...(!network.isolated && { forward: { '@_mode': 'nat' } }),
      bridge: { '@_stp': 'on', '@_delay': '0' },
      ...(ip !== undefined && { ip }),
    },
  });
}

export interface PoolInfo extends Datastore {
  readonly type: string;
  /** Where a dir/fs pool keeps its volumes. */
  readonly path: string | undefined;
}

export function parsePoolXml(xml: string): PoolInfo {
  const pool = child(parseXml(xml, 'a storage pool description'), 'pool');
  return {
    name: childText(pool, 'name') ?? '',
    type: attr(pool, 'type') ?? 'dir',
    capacityBytes: scaledBytes(child(pool, 'capacity'), 'bytes') ?? 0,
    freeBytes: scaledBytes(child(pool, 'available'), 'bytes') ?? 0,
    path: childText(child(pool, 'target'), 'path'),
  };
}

function cidr(ip: ReturnType<typeof child>): string | undefined {
  const address = attr(ip, 'address');
  if (address === undefined) return undefined;
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    return undefined;
  }
  let prefix = Number(attr(ip, 'prefix'));
  const netmask = attr(ip, 'netmask');
  if (netmask !== undefined) {
    prefix = netmask
      .split('.')
      .map(Number)
      .reduce((bits, o) => bits + ((o >>> 0).toString(2).match(/1/g)?.length ?? 0), 0);
  }
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const value = octets.reduce((n, o) => n * 256 + o, 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (value & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (base >>> s) & 255).join('.')}/${prefix}`;
}

function ipElement(subnet: string | undefined): Record<string, unknown> | undefined {
  if (subnet === undefined) return undefined;
  const [base, bits] = subnet.split('/');
  const prefix = Number(bits);
  const octets = (base ?? '').split('.').map(Number);
  if (octets.length !== 4 || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) {
    return undefined;
  }
  const value = octets.reduce((n, o) => n * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
  return {
    '@_address': dotted(value + 1),
    '@_prefix': String(prefix),
    dhcp: { range: { '@_start': dotted(value + 2), '@_end': dotted(value + size - 2) } },
  };
}
