import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import pino from 'pino';
import { z } from 'zod';
import { TidelineError } from '../../../app/errors';
import type { DataDirLayout } from '../../config/data-dir';
import { writeJsonAtomic } from '../../store/atomic-file';
import { readJsonFile } from '../../store/json-file';
import { VirshSession } from './virsh-session';
import type { Logger } from '../../log';

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/** state/libvirt.json: how this agent reaches its libvirt, written by init. */
export const LibvirtSettingsSchema = z.strictObject({
  version: z.literal(1),
  uri: z.string().min(1).max(512),
  /** The host's id in the product (libvirt's own host UUID may change at every start). */
  hostId: z.string().min(1).max(128),
  /**
   * Only domains whose name starts with this are this agent's, and recovered domains get it.
   * Empty: every domain of the host. Lets several agents share one libvirtd (a lab).
   */
  domainPrefix: z.string().max(64).default(''),
  /** The group QEMU runs as (qemu.conf `group`; Debian: libvirt-qemu). */
  qemuGroup: z.string().min(1).max(64).default('libvirt-qemu'),
  /** Where the serial console output of recovered VMs is kept. */
  consoleLogDir: z.string().min(1).max(1024).default('/var/log/libvirt/qemu'),
  /** A guest shutdown that takes longer is followed by a forced power-off. */
  shutdownTimeoutSeconds: z.number().int().min(1).max(3600).default(120),
});
export type LibvirtSettings = z.infer<typeof LibvirtSettingsSchema>;
export type LibvirtSettingsInput = z.input<typeof LibvirtSettingsSchema>;

export interface LibvirtProvisionOptions {
  readonly uri?: string;
  readonly domainPrefix?: string;
  readonly qemuGroup?: string;
  readonly log?: Logger;
}

/**
 * init --hypervisor libvirt: checks that libvirt answers at the URI (so a typo fails init,
 * not the first start), then saves the settings.
 */
export async function provisionLibvirt(
  layout: DataDirLayout,
  options: LibvirtProvisionOptions,
): Promise<void> {
  const settings = LibvirtSettingsSchema.parse({
    version: 1,
    uri: options.uri ?? DEFAULT_LIBVIRT_URI,
    hostId: `host-${randomUUID()}`,
    ...(options.domainPrefix !== undefined && { domainPrefix: options.domainPrefix }),
    ...(options.qemuGroup !== undefined && { qemuGroup: options.qemuGroup }),
  });
  await checkReachable(settings.uri, options.log);
  await mkdir(layout.stateDir, { recursive: true });
  await writeJsonAtomic(layout.libvirtFile, settings, { mode: 0o600 });
}

export function loadLibvirtSettings(layout: DataDirLayout): Promise<LibvirtSettings> {
  return readJsonFile(layout.libvirtFile, LibvirtSettingsSchema, 'libvirt settings');
}

async function checkReachable(uri: string, log: Logger | undefined): Promise<void> {
  const session = new VirshSession({
    uri,
    log: log ?? pino({ level: 'silent' }),
    timeoutMs: 15_000,
  });
  try {
    await session.run(['uri']);
  } catch (err) {
    throw new TidelineError(
      'UNAVAILABLE',
      `libvirt does not answer at ${uri}: ${err instanceof Error ? err.message : String(err)}. Is libvirtd running, and may this user use it (root, or the libvirt group)?`,
    );
  } finally {
    await session.close();
  }
}
