import { isIP } from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Splits an address already validated by AddressSchema (`host:port` or `[v6]:port`). */
export function parseAddress(address: string): HostPort {
  const colon = address.lastIndexOf(':');
  let host = address.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(address.slice(colon + 1)) };
}

/** SNI must be a name, never an IP literal. */
export function serverName(host: string): string | undefined {
  return isIP(host) === 0 ? host : undefined;
}

export function wsUrl(address: string): string {
  return `wss://${address}/`;
}
