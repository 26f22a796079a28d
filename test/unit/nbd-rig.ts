/**
 * An NBD server of agent/nbd on a real unix socket in a temp dir, over a real DiskTap and real
 * sparse files: a raw disk `raw-1` (4 MiB), a second raw disk `raw-2`, and `qcow-1`, a file
 * whose header is a qcow2 header (refused). The inventory is a fixed list of VMs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Vm } from '../../app/protocol';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { DiskExports } from '../../agent/nbd/exports';
import { NbdServer } from '../../agent/nbd/nbd-server';
import type { TransmissionLimits } from '../../agent/nbd/transmission';
import { DiskTap } from '../../agent/tap/disk-tap';

export const DISK_BYTES = 4 * 1024 * 1024;

export interface NbdRig {
  readonly dir: string;
  readonly socketPath: string;
  readonly tap: DiskTap;
  readonly exports: DiskExports;
  readonly server: NbdServer;
  readonly vms: Vm[];
  path(diskId: string): string;
  close(): Promise<void>;
}

export async function nbdRig(limits?: TransmissionLimits): Promise<NbdRig> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-nbd-'));
  const path = (diskId: string): string => join(dir, `${diskId}.img`);
  await createSparseFile(path('raw-1'), DISK_BYTES);
  await createSparseFile(path('raw-2'), DISK_BYTES);
  const qcow = Buffer.alloc(512);
  Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]).copy(qcow);
  await writeFile(path('qcow-1'), qcow);
  const disk = (diskId: string, name: string) => ({
    diskId,
    name,
    sizeBytes: DISK_BYTES,
    datastore: 'ds-1',
    location: path(diskId),
  });
  const vms: Vm[] = [
    {
      vmId: 'vm-1',
      name: 'app-01',
      hostId: 'host-1',
      powerState: 'running',
      cpus: 2,
      memoryMiB: 2048,
      guestOs: 'Linux',
      nics: [],
      disks: [disk('raw-1', 'app-01-disk0'), disk('raw-2', 'app-01-disk1')],
    },
    {
      vmId: 'vm-2',
      name: 'legacy',
      hostId: 'host-1',
      powerState: 'running',
      cpus: 1,
      memoryMiB: 1024,
      guestOs: 'Linux',
      nics: [],
      disks: [disk('qcow-1', 'legacy-disk0')],
    },
  ];
  const tap = new DiskTap();
  const exports = new DiskExports({ listVms: () => Promise.resolve(structuredClone(vms)), tap });
  const socketPath = join(dir, 'nbd.sock');
  const server = new NbdServer({
    exports,
    socketPath,
    log: pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' }),
    ...(limits !== undefined && { limits }),
  });
  await server.start();
  return {
    dir,
    socketPath,
    tap,
    exports,
    server,
    vms,
    path,
    close: async () => {
      await server.stop();
      await tap.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
