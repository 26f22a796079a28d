/**
 * The Tideline test guest, built at test time and cached: a Debian kernel, an initramfs of
 * busybox-static, the virtio disk modules, /init (guest-init.sh) and tl-guest (tl-guest.c),
 * and a raw disk template that boots through SeaBIOS -> MBR -> syslinux like a real VM's disk
 * (recovered VMs boot from their recovered disk, so no direct kernel boot).
 *
 * Host packages: busybox-static, gcc + libc6-dev (static libc.a), syslinux + syslinux-common
 * (which bring mtools), fdisk (sfdisk), apt and dpkg (always there), and current apt lists.
 * See README.md for the disk layout and the guest's console protocol.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  access,
  chmod,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './guest-exec';
import {
  GUEST_LAYOUT,
  encodeGuestConfig,
  type GuestConfig,
  type GuestLayout,
} from './guest-layout';
import {
  type CpioEntry,
  gzipCpio,
  indexModules,
  isStaticElf,
  moduleName,
  resolveModules,
} from './guest-initramfs';

export { GUEST_LAYOUT, type GuestConfig, type GuestLayout } from './guest-layout';

/** Bump when the build steps change in a way the hashed inputs below do not show. */
const BUILD_SCRIPT_VERSION = 1;

/** The meta-package whose dependency names the kernel to use. */
const KERNEL_META_PACKAGE = 'linux-image-amd64';

/** virtio_pci + virtio_blk for the disk (virtio, virtio_ring & co. come as dependencies);
 * button + evdev so that busybox acpid sees the ACPI power button of `virsh shutdown`. */
const MODULES = ['virtio_pci', 'virtio_blk', 'button', 'evdev'] as const;

/** loglevel=4: the kernel's error messages (I/O errors) reach the serial console. */
export const GUEST_KERNEL_COMMAND_LINE = 'console=ttyS0,115200 loglevel=4';

/** No prompt, no timeout: straight to the kernel. (No SERIAL line: SeaBIOS's serial
 * console, `<bios useserial>`, already copies syslinux's screen to ttyS0.) */
const SYSLINUX_CFG = [
  'PROMPT 0',
  'TIMEOUT 0',
  'DEFAULT tideline',
  'LABEL tideline',
  '  KERNEL vmlinuz',
  '  INITRD initrd.gz',
  `  APPEND ${GUEST_KERNEL_COMMAND_LINE}`,
  '',
].join('\n');

/**
 * Run by busybox acpid on the power button (its default action for PWRF). The writer stops
 * first: a forced power-off tears the disk down under a write in flight, and the guest's own
 * kernel then reports an I/O error that nothing on the host caused (seen on `virsh reboot`
 * of an unprotected guest writing flat out).
 */
const POWER_BUTTON_SCRIPT = [
  '#!/bin/sh',
  'echo "TL-POWEROFF" > /dev/console',
  'killall -KILL tl-guest 2>/dev/null',
  'while pidof tl-guest >/dev/null; do sleep 0.1; done',
  'sync',
  'poweroff -f',
  '',
].join('\n');

const SFDISK_SCRIPT = (() => {
  const sector = GUEST_LAYOUT.sectorSize;
  const bootStart = GUEST_LAYOUT.bootPartitionOffset / sector;
  const bootSize = GUEST_LAYOUT.bootPartitionBytes / sector;
  const recordsStart = GUEST_LAYOUT.recordsPartitionOffset / sector;
  return [
    'label: dos',
    'label-id: 0x544c4731',
    'unit: sectors',
    '',
    // 0x0e: FAT16 (LBA); 0xda: non-filesystem data, so nothing on a host mounts or probes it.
    `start=${bootStart}, size=${bootSize}, type=e, bootable`,
    `start=${recordsStart}, type=da`,
    '',
  ].join('\n');
})();

const here = dirname(fileURLToPath(import.meta.url));
const INIT_SCRIPT = join(here, 'guest-init.sh');
const WRITER_SOURCE = join(here, 'tl-guest.c');

export interface GuestBuild extends GuestLayout {
  /** The cache directory of this build. */
  readonly dir: string;
  readonly hash: string;
  /** Raw bootable disk of GUEST_LAYOUT.templateBytes; copy it with createGuestDisk. */
  readonly bootDiskTemplate: string;
  /** For tests that boot the kernel directly (copy them next to the disk: the cache may be
   * under a home directory that libvirt-qemu cannot traverse). */
  readonly kernel: string;
  readonly initrd: string;
  readonly kernelCommandLine: string;
  /** e.g. linux-image-6.1.0-57-amd64 6.1.192-3. */
  readonly kernelPackage: string;
  readonly kernelPackageVersion: string;
}

type Log = (line: string) => void;

const builds = new Map<string, Promise<GuestBuild>>();

function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'tideline', 'guest');
}

/** The host commands of the build, with the Debian package of each. */
const HOST_TOOLS = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  busybox: 'busybox-static',
  gcc: 'gcc libc6-dev',
  sfdisk: 'fdisk',
  mformat: 'mtools',
  mcopy: 'mtools',
  syslinux: 'syslinux syslinux-common',
} as const;

async function which(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const path = join(dir, command);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The path of each host tool; fails naming the packages to install if any is missing. */
async function hostTools(): Promise<Record<keyof typeof HOST_TOOLS, string>> {
  const names = Object.keys(HOST_TOOLS) as (keyof typeof HOST_TOOLS)[];
  const paths = await Promise.all(names.map(which));
  const missing = names.filter((_, i) => paths[i] === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((m) => HOST_TOOLS[m]))].join(' ');
    throw new Error(
      `test guest build: ${missing.join(', ')} not found; install them: apt-get install ${packages}`,
    );
  }
  return Object.fromEntries(names.map((n, i) => [n, paths[i]])) as Record<
    keyof typeof HOST_TOOLS,
    string
  >;
}

async function firstExisting(paths: readonly string[], what: string): Promise<string> {
  for (const path of paths) {
    try {
      await access(path, constants.R_OK);
      return path;
    } catch {
      // try the next one
    }
  }
  throw new Error(`${what} not found (looked at ${paths.join(', ')})`);
}

/** The kernel package linux-image-amd64 depends on now, and its version. */
async function kernelPackage(): Promise<{ name: string; version: string }> {
  const hint = 'the apt lists may be missing: run apt-get update';
  const meta = await run('apt-cache', ['show', '--no-all-versions', KERNEL_META_PACKAGE]);
  // Debian pins it: "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)".
  const depends = /^Depends:.*?\b(linux-image-[^\s,(]+)(?:\s*\(=\s*([^)\s]+)\))?/m.exec(
    meta.stdout,
  );
  const name = depends?.[1];
  if (!name) {
    throw new Error(`apt-cache show ${KERNEL_META_PACKAGE}: no linux-image dependency (${hint})`);
  }
  if (depends[2]) return { name, version: depends[2] };
  const show = await run('apt-cache', ['show', '--no-all-versions', name]);
  const version = /^Version:\s*(\S+)/m.exec(show.stdout)?.[1];
  if (!version) throw new Error(`apt-cache show ${name}: no Version (${hint})`);
  return { name, version };
}

interface Inputs {
  readonly kernel: { name: string; version: string };
  readonly busybox: string;
  readonly syslinux: string;
  readonly mbr: string;
  readonly hash: string;
}

let inputsOnce: Promise<Inputs> | undefined;

/** The inputs, looked up once per process (they do not change while tests run). */
function inputs(): Promise<Inputs> {
  inputsOnce ??= findInputs();
  inputsOnce.catch(() => (inputsOnce = undefined));
  return inputsOnce;
}

async function findInputs(): Promise<Inputs> {
  const { busybox, syslinux } = await hostTools();
  const kernel = await kernelPackage();
  const mbr = await firstExisting(
    ['/usr/lib/syslinux/mbr/mbr.bin', '/usr/share/syslinux/mbr.bin', '/usr/lib/syslinux/mbr.bin'],
    'syslinux mbr.bin (Debian package syslinux-common)',
  );
  const hash = createHash('sha256');
  const add = (label: string, data: string | Buffer) => {
    hash.update(`${label}\0${data.length}\0`);
    hash.update(data);
  };
  add('script', String(BUILD_SCRIPT_VERSION));
  add('kernel', `${kernel.name}=${kernel.version}`);
  add('modules', MODULES.join(','));
  add('init', await readFile(INIT_SCRIPT));
  add('tl-guest.c', await readFile(WRITER_SOURCE));
  add('busybox', await readFile(busybox));
  add('syslinux', await readFile(syslinux));
  add('mbr', await readFile(mbr));
  add('syslinux.cfg', SYSLINUX_CFG);
  add('acpi', POWER_BUTTON_SCRIPT);
  add('sfdisk', SFDISK_SCRIPT);
  add('layout', JSON.stringify(GUEST_LAYOUT));
  return { kernel, busybox, syslinux, mbr, hash: hash.digest('hex').slice(0, 16) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function buildOf(dir: string, hash: string, kernel: Inputs['kernel']): GuestBuild {
  return {
    ...GUEST_LAYOUT,
    dir,
    hash,
    bootDiskTemplate: join(dir, 'boot-disk.img'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.gz'),
    kernelCommandLine: GUEST_KERNEL_COMMAND_LINE,
    kernelPackage: kernel.name,
    kernelPackageVersion: kernel.version,
  };
}

/**
 * The cached guest build for the current inputs, built first if missing. Two processes may
 * build at once: each builds in its own temp directory and renames it into place; the loser
 * drops its copy. Rename is atomic, so a build directory that exists is complete.
 */
export async function ensureGuestBuild(log: Log = () => undefined): Promise<GuestBuild> {
  const found = await inputs();
  let build = builds.get(found.hash);
  if (!build) {
    build = buildOnce(found, log);
    builds.set(found.hash, build);
    build.catch(() => builds.delete(found.hash));
  }
  return build;
}

async function buildOnce(found: Inputs, log: Log): Promise<GuestBuild> {
  const root = cacheRoot();
  const dir = join(root, found.hash);
  if (await exists(join(dir, 'manifest.json'))) return buildOf(dir, found.hash, found.kernel);
  await mkdir(root, { recursive: true });
  await removeStaleTemps(root);
  const temp = join(root, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(temp, { mode: 0o755 });
  const started = Date.now();
  try {
    await buildInto(temp, found, log);
    await writeFile(
      join(temp, 'manifest.json'),
      `${JSON.stringify({ hash: found.hash, kernel: found.kernel, layout: GUEST_LAYOUT, builtAt: new Date().toISOString() }, null, 2)}\n`,
    );
    await chmod(temp, 0o755);
    try {
      await rename(temp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      log(`guest build ${found.hash}: another process finished first; using its copy`);
    }
    log(`guest build ${found.hash}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return buildOf(dir, found.hash, found.kernel);
}

/** Temp build directories left by killed processes (a build takes seconds, not an hour). */
async function removeStaleTemps(root: string): Promise<void> {
  const hourAgo = Date.now() - 3600_000;
  for (const name of await readdir(root)) {
    if (!name.startsWith('.build-')) continue;
    const info = await stat(join(root, name)).catch(() => undefined);
    if (info && info.mtimeMs < hourAgo)
      await rm(join(root, name), { recursive: true, force: true });
  }
}

async function buildInto(out: string, found: Inputs, log: Log): Promise<void> {
  const work = join(out, 'work');
  await mkdir(work);
  const step = async <T>(what: string, body: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await body();
    log(`guest build: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return result;
  };

  const { name, version } = found.kernel;
  const modules = await step(`kernel ${name} ${version}`, async () => {
    const download = join(work, 'download');
    await mkdir(download);
    // As root, apt's _apt sandbox user cannot write a private temp dir; run unsandboxed.
    const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    await run('apt-get', [...sandbox, 'download', `${name}=${version}`], { cwd: download });
    const deb = (await readdir(download)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${name}=${version}: no .deb in ${download}`);
    const tree = join(work, 'kernel');
    await run('dpkg-deb', ['-x', join(download, deb), tree]);
    await rm(download, { recursive: true });
    const vmlinuz = (await readdir(join(tree, 'boot'))).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${name}: no boot/vmlinuz-* in the package`);
    const release = vmlinuz.slice('vmlinuz-'.length);
    await rename(join(tree, 'boot', vmlinuz), join(out, 'vmlinuz'));
    const moduleDir = join(tree, 'lib', 'modules', release);
    return collectModules(moduleDir);
  });
  await rm(join(work, 'kernel'), { recursive: true, force: true });
  log(`guest build: modules ${modules.map((m) => m.name).join(' ')}`);

  await step('tl-guest (gcc -static)', () =>
    run('gcc', ['-static', '-O2', '-s', '-Wall', '-o', join(out, 'tl-guest'), WRITER_SOURCE]),
  );

  await step('initramfs', async () => {
    const busybox = await readFile(found.busybox);
    if (!isStaticElf(found.busybox, busybox)) {
      throw new Error(`${found.busybox} is dynamically linked: install busybox-static`);
    }
    const entries = initramfsEntries({
      busybox,
      applets: (await run(found.busybox, ['--list-full'])).stdout.split('\n'),
      init: await readFile(INIT_SCRIPT),
      writer: await readFile(join(out, 'tl-guest')),
      modules,
    });
    await writeFile(join(out, 'initrd.gz'), gzipCpio(entries));
  });

  await step('boot disk template', () => bootDisk(out, found));
  await rm(work, { recursive: true, force: true });
}

async function collectModules(dir: string): Promise<{ name: string; data: Buffer }[]> {
  const index = await indexModules(dir);
  const builtin = new Set(
    (await readFile(join(dir, 'modules.builtin'), 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line !== '')
      .map(moduleName),
  );
  return resolveModules(MODULES, async (name) => {
    if (builtin.has(name)) return undefined;
    const file = index.get(name);
    if (!file) throw new Error(`kernel module ${name} not found under ${dir}`);
    const path = join(dir, file);
    if (file.endsWith('.ko')) return { file: path, data: await readFile(path) };
    if (file.endsWith('.ko.xz')) {
      // busybox insmod may lack xz support: ship modules uncompressed.
      const plain = path.slice(0, -'.xz'.length);
      await run('sh', ['-c', 'busybox xz -dc "$1" > "$2"', 'sh', path, plain]);
      return { file: plain, data: await readFile(plain) };
    }
    throw new Error(`kernel module ${file}: unsupported compression`);
  });
}

function initramfsEntries(parts: {
  busybox: Buffer;
  applets: readonly string[];
  init: Buffer;
  writer: Buffer;
  modules: readonly { name: string; data: Buffer }[];
}): CpioEntry[] {
  const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp'];
  dirs.push('etc', 'etc/acpi', 'etc/acpi/PWRF', 'lib', 'lib/modules', 'var', 'var/run', 'root');
  const entries: CpioEntry[] = dirs.map((path) => ({ type: 'dir', path }));
  // The kernel opens /dev/console for /init's stdio before /init can mount devtmpfs.
  entries.push({ type: 'char', path: 'dev/console', major: 5, minor: 1 });
  entries.push({ type: 'file', path: 'init', data: parts.init, mode: 0o755 });
  entries.push({ type: 'file', path: 'bin/busybox', data: parts.busybox, mode: 0o755 });
  for (const applet of parts.applets) {
    const path = applet.trim().replace(/^\/+/, '');
    if (path === '' || path === 'bin/busybox' || !dirs.includes(dirname(path))) continue;
    entries.push({ type: 'symlink', path, target: '/bin/busybox' });
  }
  entries.push({ type: 'file', path: 'bin/tl-guest', data: parts.writer, mode: 0o755 });
  for (const module of parts.modules) {
    entries.push({ type: 'file', path: `lib/modules/${module.name}.ko`, data: module.data });
  }
  const order = parts.modules.map((m) => `${m.name}.ko\n`).join('');
  entries.push({ type: 'file', path: 'etc/modules.order', data: Buffer.from(order) });
  entries.push({
    type: 'file',
    path: 'etc/acpi/PWRF/00000080',
    data: Buffer.from(POWER_BUTTON_SCRIPT),
    mode: 0o755,
  });
  return entries;
}

/** Writes `data` at `offset` of `file` without truncating it. */
async function writeAt(file: string, offset: number, data: Buffer): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
  } finally {
    await handle.close();
  }
}

async function bootDisk(out: string, found: Inputs): Promise<void> {
  const image = join(out, 'boot-disk.img');
  await writeFile(image, '');
  await truncate(image, GUEST_LAYOUT.templateBytes);
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', image], { input: SFDISK_SCRIPT });
  // After sfdisk, which writes a fresh table: only the 440 bytes of boot code, keeping the
  // disk signature and the partition table that follow.
  const mbr = await readFile(found.mbr);
  await writeAt(image, 0, mbr.subarray(0, 440));

  const offset = GUEST_LAYOUT.bootPartitionOffset;
  const fat = `${image}@@${offset}`;
  // mtools refuses geometries that do not divide the size evenly unless told not to check.
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  const sectors = GUEST_LAYOUT.bootPartitionBytes / GUEST_LAYOUT.sectorSize;
  const hidden = offset / GUEST_LAYOUT.sectorSize;
  const geometry = ['-T', `${sectors}`, '-H', `${hidden}`, '-h', '64', '-s', '32'];
  await run('mformat', ['-i', fat, ...geometry, '-v', 'TLBOOT', '-N', '544c4731', '::'], { env });
  await writeFile(join(out, 'work', 'syslinux.cfg'), SYSLINUX_CFG);
  for (const [from, to] of [
    [join(out, 'vmlinuz'), 'vmlinuz'],
    [join(out, 'initrd.gz'), 'initrd.gz'],
    [join(out, 'work', 'syslinux.cfg'), 'syslinux.cfg'],
  ] as const) {
    await run('mcopy', ['-i', fat, from, `::${to}`], { env });
  }
  await run(found.syslinux, ['--install', '--offset', `${offset}`, image], { env });
}

/**
 * A guest disk at `path`: a sparse copy of the template, grown to `sizeBytes` with partition
 * 2 grown to the end, and `config` in the config sector. Mode 0644; parent dirs untouched.
 */
export async function createGuestDisk(
  path: string,
  config: GuestConfig,
  sizeBytes: number = GUEST_LAYOUT.templateBytes,
): Promise<void> {
  const MiB = 1024 * 1024;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < GUEST_LAYOUT.templateBytes) {
    throw new Error(`guest disk ${path}: size ${sizeBytes} below ${GUEST_LAYOUT.templateBytes}`);
  }
  if (sizeBytes % MiB !== 0) throw new Error(`guest disk ${path}: size not a multiple of 1 MiB`);
  const sector = encodeGuestConfig(config);
  const build = await ensureGuestBuild();
  await run('cp', ['--sparse=always', build.bootDiskTemplate, path]);
  await chmod(path, 0o644);
  if (sizeBytes > GUEST_LAYOUT.templateBytes) {
    await truncate(path, sizeBytes);
    // ", +": keep partition 2's start, size to the end of the disk.
    await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', '-N', '2', path], {
      input: ', +\n',
    });
  }
  await writeAt(path, GUEST_LAYOUT.recordsPartitionOffset + GUEST_LAYOUT.configOffset, sector);
}
