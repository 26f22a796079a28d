import { resolve } from 'node:path';
import { UsageError } from '../commands/usage';
import type { ListenAddress } from '../control/control-server';
import { parseListen } from './listen';

/** The daemon's NBD settings from `run`'s flags; false: --no-nbd. */
export type NbdFlags = { readonly socketPath?: string; readonly tcp?: ListenAddress } | false;

/**
 * `run`'s NBD flags: --nbd-socket PATH (default DIR/nbd.sock), --nbd-listen [HOST:]PORT (also
 * serve on TCP; host 127.0.0.1 unless given, port 0 = any free port), --no-nbd (no server).
 */
export function parseNbdFlags(values: {
  readonly 'nbd-socket'?: string | undefined;
  readonly 'nbd-listen'?: string | undefined;
  readonly 'no-nbd'?: boolean | undefined;
}): NbdFlags {
  const socket = values['nbd-socket'];
  const listen = values['nbd-listen'];
  if (values['no-nbd'] === true) {
    if (socket !== undefined || listen !== undefined) {
      throw new UsageError('--no-nbd cannot be combined with --nbd-socket or --nbd-listen');
    }
    return false;
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
  return {
    ...(socket !== undefined && { socketPath: resolve(socket) }),
    ...(tcp !== undefined && { tcp }),
  };
}
