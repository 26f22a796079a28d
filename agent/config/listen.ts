import { isIP } from 'node:net';
import type { ListenAddress } from '../control/control-server';

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** Parses `HOST:PORT` or `[IPv6]:PORT` (port 0 = any free port); undefined if malformed. */
export function parseListen(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (match === null) return undefined;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  if (match[1] !== undefined ? isIP(host) !== 6 : isIP(host) === 0 && !HOST_NAME.test(host))
    return undefined;
  return { host, port };
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatAddress(address: ListenAddress): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * The replication listener's default: the control listener's host, its port + 1 (port 0, any
 * free port, stays 0). Undefined when the control port is 65535.
 */
export function defaultReplicationListen(control: ListenAddress): ListenAddress | undefined {
  if (control.port === 0) return { host: control.host, port: 0 };
  if (control.port >= 65535) return undefined;
  return { host: control.host, port: control.port + 1 };
}
