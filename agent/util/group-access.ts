import { execFile } from 'node:child_process';
import { chmod, chown, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { TidelineError } from '../../app/errors';
import type { Logger } from '../log';

const run = promisify(execFile);

/** A group's id by name (NSS, so LDAP groups work too); NOT_FOUND when there is none. */
export async function groupId(name: string): Promise<number> {
  let out: string;
  try {
    ({ stdout: out } = await run('getent', ['group', name], { timeout: 10_000 }));
  } catch {
    throw new TidelineError(
      'NOT_FOUND',
      `There is no group "${name}" on this host: give the group QEMU runs as (qemu.conf "group")`,
    );
  }
  const gid = Number(out.trim().split(':')[2]);
  if (!Number.isInteger(gid) || gid < 0) {
    throw new TidelineError('INTERNAL_ERROR', `getent gave no id for group "${name}"`);
  }
  return gid;
}

/**
 * Lets the group search `dir` (reach a known name in it, not list it), unless everyone may
 * already: the directory is given that group, with search only for it.
 */
export async function grantGroupSearch(dir: string, gid: number, log: Logger): Promise<void> {
  const info = await stat(dir);
  const mode = info.mode & 0o7777;
  if ((mode & 0o001) !== 0 || (info.gid === gid && (mode & 0o010) !== 0)) return;
  if (info.gid !== gid) await chown(dir, -1, gid);
  await chmod(dir, (mode & ~0o070) | 0o010);
  log.info({ dir, gid }, "directory made searchable by QEMU's group");
}

/**
 * Lets one group (QEMU's) reach the agent's NBD socket, and nobody else: the socket becomes
 * 0660 of that group, and its directory searchable by the group. Directories further up are
 * the admin's: agent/hypervisor/libvirt/README.md says what QEMU needs.
 */
export async function grantSocketAccess(
  socketPath: string,
  group: string,
  log: Logger,
): Promise<void> {
  const gid = await groupId(group);
  await chown(socketPath, -1, gid);
  await chmod(socketPath, 0o660);
  await grantGroupSearch(dirname(socketPath), gid, log);
}
