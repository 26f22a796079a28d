/**
 * libvirt domains for the test guest: the domain XML (built with fast-xml-parser, never by
 * concatenating strings) and a small virsh runner for tests.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { XMLBuilder } from 'fast-xml-parser';
import { run } from './guest-exec';

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/**
 * `none` (default): QEMU opens the disk with O_DIRECT, so writes bypass the host page cache
 * and another reader of the file sees them at once, and the guest sees a volatile write cache:
 * its fdatasync becomes a virtio FLUSH, which QEMU turns into fdatasync on the file. That is
 * the ordering path a replicated VM relies on. `directsync` makes every write synchronous and
 * the flush a no-op. Both need a host filesystem with O_DIRECT (not tmpfs); `writethrough`
 * works there.
 */
export type GuestDiskCache = 'none' | 'directsync' | 'writethrough' | 'writeback';

/** `none` where files in `dir` can be opened with O_DIRECT, else `writethrough` (tmpfs). */
export async function diskCacheFor(dir: string): Promise<GuestDiskCache> {
  const probe = join(dir, `.o-direct-probe-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(probe, constants.O_CREAT | constants.O_RDWR | constants.O_DIRECT);
    await handle.close();
    return 'none';
  } catch {
    return 'writethrough';
  } finally {
    await rm(probe, { force: true });
  }
}

export interface GuestDomainOptions {
  readonly name: string;
  /** Also the guest's SMBIOS UUID, which tl-guest records as writer/owner. */
  readonly uuid?: string;
  /** A raw disk from createGuestDisk; every parent directory must be o+x for libvirt-qemu. */
  readonly diskPath: string;
  /** Serial console log, written by virtlogd (as root): its directory must exist. */
  readonly consoleLog: string;
  readonly memoryMiB?: number;
  readonly vcpus?: number;
  /** A libvirt network for a virtio NIC; none when absent. */
  readonly network?: string;
  readonly cache?: GuestDiskCache;
  /** The disk's image format (default raw; the guest boots from raw images only). */
  readonly format?: 'raw' | 'qcow2';
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  suppressEmptyNode: true,
});

/** The domain XML of a test guest that boots from its disk (SeaBIOS -> syslinux). */
export function guestDomainXml(options: GuestDomainOptions): string {
  const { name, uuid, diskPath, consoleLog, memoryMiB = 256, vcpus = 1, network } = options;
  const devices: Record<string, unknown> = {
    disk: {
      '@_type': 'file',
      '@_device': 'disk',
      driver: {
        '@_name': 'qemu',
        '@_type': options.format ?? 'raw',
        '@_cache': options.cache ?? 'none',
      },
      source: { '@_file': diskPath },
      target: { '@_dev': 'vda', '@_bus': 'virtio' },
    },
    ...(network === undefined
      ? {}
      : {
          interface: {
            '@_type': 'network',
            source: { '@_network': network },
            model: { '@_type': 'virtio' },
          },
        }),
    serial: {
      '@_type': 'pty',
      log: { '@_file': consoleLog, '@_append': 'on' },
      target: { '@_port': '0' },
    },
    console: { '@_type': 'pty', target: { '@_type': 'serial', '@_port': '0' } },
    // No balloon and no graphics: less to emulate under TCG.
    memballoon: { '@_model': 'none' },
  };
  const domain = {
    domain: {
      '@_type': 'qemu',
      name,
      ...(uuid === undefined ? {} : { uuid }),
      memory: { '@_unit': 'MiB', '#text': memoryMiB },
      vcpu: vcpus,
      os: {
        type: { '@_arch': 'x86_64', '@_machine': 'pc', '#text': 'hvm' },
        boot: { '@_dev': 'hd' },
        // SeaBIOS on the serial console too: a guest that does not boot shows why.
        bios: { '@_useserial': 'yes' },
      },
      // acpi: the power button of `virsh shutdown`.
      features: { acpi: '', apic: '' },
      clock: { '@_offset': 'utc' },
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_crash: 'destroy',
      devices,
    },
  };
  return builder.build(domain) as string;
}

export interface VirshOptions {
  readonly uri?: string;
  readonly timeoutMs?: number;
}

/** Runs `virsh -c <uri> <args>` and returns its stdout; fails with the command and stderr. */
export async function virsh(args: readonly string[], options: VirshOptions = {}): Promise<string> {
  const { uri = DEFAULT_LIBVIRT_URI, timeoutMs = 180_000 } = options;
  const { stdout } = await run('virsh', ['-c', uri, ...args], { timeoutMs });
  return stdout;
}

/** Whether libvirtd answers at `uri` (tests skip otherwise). */
export async function libvirtAvailable(uri: string = DEFAULT_LIBVIRT_URI): Promise<boolean> {
  try {
    await virsh(['version'], { uri, timeoutMs: 15_000 });
    return true;
  } catch {
    return false;
  }
}
