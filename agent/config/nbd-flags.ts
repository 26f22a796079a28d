import { resolve } from 'node:path';
import { UsageError } from '../commands/usage';
import type { ListenAddress } from '../control/control-server';
import { parseListen } from './listen';

/** The daemon's NBD settings from `run`'s flags; false: --no-nbd. */
export type NbdFlags =
  | {
      readonly socketPath?: string;
      readonly tcp?: ListenAddress;
      /** TLS-PSK keys (psktool format): STARTTLS offered, and required on TCP. */
      readonly tlsPskFile?: string;
    }
  | false;

/** Loopback hosts: TCP there reaches only this host's processes. */
export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
}

/**
 * `run`'s NBD flags: --nbd-socket PATH (default DIR/nbd.sock), --nbd-listen [HOST:]PORT (also
 * serve on TCP; host 127.0.0.1 unless given, port 0 = any free port), --no-nbd (no server).
 */
export function parseNbdFlags(values: {
  readonly 'nbd-socket'?: string | undefined;
  readonly 'nbd-listen'?: string | undefined;
  readonly 'nbd-tls-psk'?: string | undefined;
  readonly 'nbd-allow-insecure'?: boolean | undefined;
  readonly 'no-nbd'?: boolean | undefined;
}): NbdFlags {
  const socket = values['nbd-socket'];
  const listen = values['nbd-listen'];
  const psk = values['nbd-tls-psk'];
  const insecure = values['nbd-allow-insecure'] === true;
  if (values['no-nbd'] === true) {
    if (socket !== undefined || listen !== undefined || psk !== undefined || insecure) {
      throw new UsageError('--no-nbd cannot be combined with other --nbd-* options');
    }
    return false;
  }
  if (psk !== undefined && psk.trim() === '') {
    throw new UsageError('--nbd-tls-psk must be a file of "identity:hexkey" lines (psktool)');
  }
  if (socket !== undefined && socket.trim() === '') {
    throw new UsageError('--nbd-socket must be a path (the unix socket VMs attach through)');
  }
  let tcp: ListenAddress | undefined;
  if (listen !== undefined) {
    const text = listen.trim();
    tcp = /^\d{1,5}$/.test(text) ? parseListen(`127.0.0.1:${text}`) : parseListen(text);
    if (tcp === undefined) {
      throw new UsageError(
        `--nbd-listen must be [HOST:]PORT (e.g. 10809 or 127.0.0.1:10809), not "${listen}"`,
      );
    }
  }
  if (tcp !== undefined && !isLoopback(tcp.host) && psk === undefined && !insecure) {
    throw new UsageError(
      `--nbd-listen ${listen ?? ''} would let anyone who reaches this host read and write every VM disk it serves: add --nbd-tls-psk FILE (TLS with pre-shared keys, as qemu-nbd's tls-creds-psk), or --nbd-allow-insecure on a network where that is acceptable`,
    );
  }
  if (insecure && (tcp === undefined || isLoopback(tcp.host))) {
    throw new UsageError(
      '--nbd-allow-insecure only applies to --nbd-listen on a non-loopback host',
    );
  }
  return {
    ...(socket !== undefined && { socketPath: resolve(socket) }),
    ...(tcp !== undefined && { tcp }),
    ...(psk !== undefined && { tlsPskFile: resolve(psk) }),
  };
}
