import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt/libvirt-adapter';
import { LibvirtSettingsSchema } from '../../agent/hypervisor/libvirt/libvirt-settings';
import { hypervisorContract } from './hypervisor-contract';
import { virshSkipReason } from '../helpers/libvirt-lab';

/** libvirt's test driver: a fake host inside the adapter's own virsh session (fast). */
hypervisorContract('libvirt test:///default', async () => {
  const skip = await virshSkipReason('test:///default');
  if (skip !== undefined) return skip;
  const dir = await mkdtemp(join(tmpdir(), 'tideline-contract-libvirt-test-'));
  return {
    adapter: new LibvirtHypervisor({
      settings: LibvirtSettingsSchema.parse({
        version: 1,
        uri: 'test:///default',
        hostId: 'host-contract',
        shutdownTimeoutSeconds: 5,
      }),
      log: pino({ level: process.env['TL_LOG'] ?? 'silent' }),
    }),
    diskLocation: async (name, sizeBytes) => {
      const path = join(dir, `${name}.raw`);
      await createSparseFile(path, sizeBytes);
      return path;
    },
    // The test driver emulates an i686 host only.
    hardware: { domainType: 'test', arch: 'i686' },
    mirrorSkip: 'libvirt’s test driver has no block jobs (the qemu:///system subject mirrors)',
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
