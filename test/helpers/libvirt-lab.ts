/**
 * A libvirt lab for tests: agents initialized with --hypervisor libvirt against the machine's
 * libvirtd (qemu:///system), each owning the domains of its name prefix, data directories QEMU
 * can reach (its user must search every directory above the agent's NBD socket), a storage
 * pool for replicas, and cleanup of everything a test defined.
 *
 *   const skip = await virshSkipReason(); if (skip) return t.skip(skip);
 *   const lab = await openLab('tll');               // prefix tll-<random>-
 *   const hq = await lab.launchSite('HQ', 'hq-');   const dr = await lab.launchSite('DR', 'dr-');
 *   after(() => lab.close());
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildNetworkXml } from '../../agent/hypervisor/libvirt/network-xml';
import { makeTempDir } from './agents';
import { run } from './guest/guest-exec';
import { diskCacheFor, guestDomainXml, libvirtAvailable, virsh } from './guest/guest-domain';
import { launchSite, type Site } from './replication-sites';

export const QEMU_URI = 'qemu:///system';

/** Why libvirt tests cannot run here (no virsh, no libvirtd at `uri`), or undefined. */
export async function virshSkipReason(uri = QEMU_URI): Promise<string | undefined> {
  if (await libvirtAvailable(uri)) return undefined;
  return `libvirt does not answer at ${uri} (virsh version failed): .ci/run starts virtlogd -d and libvirtd -d`;
}

/** A temp directory QEMU's user can traverse (mkdtemp makes 0700 ones). */
export async function reachableDir(prefix: string): Promise<string> {
  const dir = await makeTempDir(prefix);
  await chmod(dir, 0o755);
  return dir;
}

export interface Lab {
  /** Every domain, network and pool of the lab starts with this (e.g. tll-3fa2c1-). */
  readonly prefix: string;
  readonly dir: string;
  /** A directory storage pool for the recovery site's replicas. */
  readonly pool: string;
  /** An agent owning the domains named `${prefix}${sitePrefix}…`. */
  launchSite(name: string, sitePrefix: string, runArgs?: readonly string[]): Promise<Site>;
  /** Destroys and undefines the lab's domains, networks and pool (agents: cleanupAgents). */
  close(): Promise<void>;
}

export async function openLab(name: string): Promise<Lab> {
  const prefix = `${name}-${randomBytes(3).toString('hex')}-`;
  const dir = await reachableDir(`tideline-${name}-`);
  const pool = `${prefix}pool`;
  const poolDir = join(dir, 'pool');
  await mkdir(poolDir, { mode: 0o755 });
  await virsh(['pool-define-as', pool, 'dir', '--target', poolDir]);
  await virsh(['pool-start', pool]);
  return {
    prefix,
    dir,
    pool,
    launchSite: (site, sitePrefix, runArgs = []) =>
      launchSite(site, {
        dataDir: join(dir, `${sitePrefix}agent`),
        initArgs: ['--hypervisor', 'libvirt', '--libvirt-prefix', `${prefix}${sitePrefix}`],
        runArgs,
      }),
    close: () => removeLab(prefix),
  };
}

/** Removes every domain, network and pool whose name starts with `prefix`. */
export async function removeLab(prefix: string): Promise<void> {
  const names = async (args: string[]) =>
    (await virsh(args).catch(() => ''))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith(prefix));
  for (const domain of await names(['list', '--all', '--name'])) {
    await virsh(['destroy', domain]).catch(() => undefined);
    await virsh(['undefine', domain, '--nvram']).catch(() =>
      virsh(['undefine', domain]).catch(() => undefined),
    );
  }
  for (const network of await names(['net-list', '--all', '--name'])) {
    await virsh(['net-destroy', network]).catch(() => undefined);
    await virsh(['net-undefine', network]).catch(() => undefined);
  }
  for (const pool of await names(['pool-list', '--all', '--name'])) {
    await virsh(['pool-destroy', pool]).catch(() => undefined);
    await virsh(['pool-undefine', pool]).catch(() => undefined);
  }
}

export interface LabGuest {
  readonly name: string;
  /** The libvirt UUID: the VM id at the protected site, and the guest's SMBIOS UUID. */
  readonly uuid: string;
  readonly disk: string;
  /** Its serial console (virtlogd's log file). */
  readonly console: string;
}

/**
 * Defines and starts the test guest (test/helpers/guest) on `disk` as domain `name`, with a
 * NIC on `network` when given.
 */
export async function startGuest(
  lab: Lab,
  name: string,
  disk: string,
  options: { network?: string; memoryMiB?: number } = {},
): Promise<LabGuest> {
  const uuid = randomUUID();
  const consoleLog = join(lab.dir, `${name}.console.log`);
  const xml = join(lab.dir, `${name}.xml`);
  await writeFile(
    xml,
    guestDomainXml({
      name,
      uuid,
      diskPath: disk,
      consoleLog,
      cache: await diskCacheFor(lab.dir),
      ...(options.network !== undefined && { network: options.network }),
      ...(options.memoryMiB !== undefined && { memoryMiB: options.memoryMiB }),
    }),
  );
  await virsh(['define', xml]);
  await virsh(['start', name]);
  return { name, uuid, disk, console: consoleLog };
}

/** An isolated libvirt network (a bridge with no route out) named `name`. */
export async function createIsolatedNetwork(lab: Lab, name: string): Promise<void> {
  const xml = join(lab.dir, `${name}.net.xml`);
  await writeFile(xml, buildNetworkXml({ name, isolated: true }));
  await virsh(['net-define', xml]);
  await virsh(['net-start', name]);
}

/** Restarts libvirtd (systemd's, or the one .ci/run started with libvirtd -d). */
export async function restartLibvirtd(): Promise<void> {
  if (existsSync('/run/systemd/system')) {
    await run('systemctl', ['restart', 'libvirtd']);
    return;
  }
  await run('pkill', ['-x', 'libvirtd']).catch(() => undefined);
  for (let i = 0; i < 100; i += 1) {
    if (
      !(await run('pgrep', ['-x', 'libvirtd']).then(
        () => true,
        () => false,
      ))
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await run('libvirtd', ['-d']);
  for (let i = 0; i < 100; i += 1) {
    if (await libvirtAvailable()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('libvirtd did not come back');
}
