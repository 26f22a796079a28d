import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { access, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt/libvirt-adapter';
import { LibvirtSettingsSchema } from '../../agent/hypervisor/libvirt/libvirt-settings';
import { grantSocketAccess } from '../../agent/util/group-access';
import { guestDomainXml, virsh } from '../helpers/guest/guest-domain';
import { QEMU_URI, reachableDir, removeLab, virshSkipReason } from '../helpers/libvirt-lab';
import { hypervisorContract } from './hypervisor-contract';

const MiB = 1024 * 1024;

/**
 * A real libvirtd running QEMU (TCG). The mirror rig: a registered domain with a blank raw
 * disk (no OS needed: SeaBIOS waits, QEMU runs), mirrored into an export of qemu-nbd.
 */
hypervisorContract('libvirt qemu:///system', async () => {
  const skip = await virshSkipReason(QEMU_URI);
  if (skip !== undefined) return skip;
  const prefix = `tlc-${randomBytes(3).toString('hex')}-`;
  const dir = await reachableDir('tideline-contract-qemu-');
  const log = pino({ level: 'silent' });
  const adapter = new LibvirtHypervisor({
    settings: LibvirtSettingsSchema.parse({
      version: 1,
      uri: QEMU_URI,
      hostId: 'host-contract',
      domainPrefix: prefix,
      // No guest OS answers the power button: the forced power-off follows soon.
      shutdownTimeoutSeconds: 2,
    }),
    log,
  });
  const diskLocation = async (name: string, sizeBytes: number) => {
    const path = join(dir, `${name}.raw`);
    await createSparseFile(path, sizeBytes);
    return path;
  };
  let server: ChildProcess | undefined;
  return {
    adapter,
    diskLocation,
    defineElsewhere: async (name) => {
      const uuid = randomUUID();
      const xml = join(dir, `${name}.xml`);
      await writeFile(
        xml,
        guestDomainXml({
          name: `${prefix}${name}`,
          uuid,
          diskPath: await diskLocation(name, 16 * MiB),
          consoleLog: join(dir, `${name}.log`),
        }),
      );
      await virsh(['define', xml]);
      return uuid;
    },
    mirrorRig: async () => {
      const hostId = (await adapter.listHosts())[0]?.hostId ?? '';
      const diskId = `rig-disk-${randomBytes(3).toString('hex')}`;
      const vm = await adapter.registerVm({
        name: 'rig',
        hostId,
        cpus: 1,
        memoryMiB: 64,
        guestOs: 'none',
        nics: [],
        disks: [
          {
            diskId,
            name: 'vda',
            sizeBytes: 32 * MiB,
            datastore: 'unmanaged',
            location: await diskLocation('rig', 32 * MiB),
            format: 'raw',
          },
        ],
        hardware: { domainType: 'qemu', arch: 'x86_64', machine: 'pc' },
      });
      await adapter.powerOn(vm.vmId);
      const socketPath = join(dir, 'nbd.sock');
      const target = await diskLocation('target', 32 * MiB);
      server = spawn('qemu-nbd', ['-k', socketPath, '-x', 'rig', '-f', 'raw', '-t', target], {
        stdio: 'ignore',
      });
      for (let i = 0; ; i += 1) {
        try {
          await access(socketPath);
          break;
        } catch {
          if (i > 100) throw new Error('qemu-nbd did not create its socket');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await grantSocketAccess(socketPath, 'libvirt-qemu', log);
      return { vmId: vm.vmId, diskId, target: { socketPath, exportName: 'rig' } };
    },
    cleanup: async () => {
      server?.kill();
      await removeLab(prefix);
      await rm(dir, { recursive: true, force: true });
    },
  };
});
