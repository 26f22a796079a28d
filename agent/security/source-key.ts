import { isIPv6 } from 'node:net';

/**
 * The unit that connection and login limits count by: an IPv4 address, or an IPv6 /64 (one
 * subscriber's network: counting single v6 addresses would give each host 2^64 fresh tries).
 * IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const host = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (!isIPv6(host)) return host;
  const groups = expandIPv6(host);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The 8 groups of an IPv6 address, each without leading zeros. */
function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? [''];
  const parse = (part: string | undefined): string[] =>
    part === undefined || part === '' ? [] : part.split(':');
  const left = parse(head);
  const right = parse(tail);
  const zeros =
    tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) =>
    g.includes('.') ? g : Number.parseInt(g, 16).toString(16),
  );
}
