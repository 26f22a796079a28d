import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Disk, VpgState } from '../../app/protocol';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import { parseFio, randomFile, readAt, requireTools, runTool } from '../helpers/nbd-tools';
import {
  MiB,
  createVpg,
  exportDisk,
  fillDisk,
  insertCheckpoint,
  isStatus,
  launchSite,
  pairSites,
  pickVms,
  setWorkload,
  sha256File,
  stopSite,
  untilVpg,
  vms,
  vpgState,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';

/**
 * Writes made through the agent's NBD export of a protected disk are replicated (issue 4):
 * fio (ioengine=nbd) writes a disk of a protected VM while its initial sync runs, then
 * nbdcopy and fio write its two disks and qemu-io zeroes and discards part of one
 * (WRITE_ZEROES and TRIM travel as records too). A checkpoint taken after the writes, exported
 * at the recovery site, equals each source disk file; one taken before them still shows the
 * disks as they were then.
 */

const DISK_MIB = 64;

let hq: Site;
let dr: Site;
let vpg: VpgState;
let disks: [Disk, Disk];
let work: string;
/** A checkpoint before the NBD writes, and the source files' hashes then. */
let beforeWrites: { seq: number; sha256: string[] };

const uriOf = (disk: Disk): string => {
  assert.ok(disk.exportUri, `${disk.diskId} is exported: ${disk.exportError}`);
  return disk.exportUri;
};

before(async () => {
  requireTools(['nbdcopy', 'fio', 'qemu-io']);
  [hq, dr] = await Promise.all([
    launchSite('Headquarters', { diskMiB: DISK_MIB }),
    launchSite('Recovery DC'),
  ]);
  await pairSites(hq, dr);
  work = await makeTempDir('tideline-nbd-replication-');
});
after(cleanupAgents);

describe('NBD writes reach the recovery site', { timeout: 180_000 }, () => {
  it('protects a VM with two disks holding data, fio writing one while it seeds', async (t) => {
    const [vm] = pickVms(await vms(hq), 1, 2);
    assert.ok(vm);
    disks = [vm.disks[0] as Disk, vm.disks[1] as Disk];
    for (const disk of disks) await fillDisk(disk.location);
    vpg = await createVpg(hq, dr, { name: 'nbd', vmIds: [vm.vmId] });
    // The files must change only through NBD: no simulated guest writes.
    const workload = await setWorkload(hq, vm.vmId, 0, { paused: true });
    assert.equal(workload.bytesPerSecond, 0);
    // Writes through NBD from the start, so (timing permitting) during the initial sync.
    const [fio] = parseFio(
      (
        await runTool('fio', [
          '--name=while-seeding',
          '--ioengine=nbd',
          `--uri=${uriOf(disks[1])}`,
          '--rw=randwrite',
          '--bsrange=4k-64k',
          `--size=${DISK_MIB}m`,
          '--io_size=16m',
          '--iodepth=8',
          '--output-format=json',
        ])
      ).stdout,
    );
    assert.equal(fio?.error, 0);
    t.diagnostic(`VPG ${(await vpgState(hq, vpg.vpgId)).status} when fio's writes were done`);
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting at the source', 60_000);
    await untilVpg(dr, vpg.vpgId, isStatus('Protecting'), 'Protecting at the target', 60_000);
    const checkpoint = await insertCheckpoint(hq, vpg.vpgId, 'before-nbd-writes');
    await waitForCheckpoint(hq, checkpoint, 60_000);
    beforeWrites = {
      seq: checkpoint.seq,
      sha256: await Promise.all(disks.map((d) => sha256File(d.location))),
    };
  });

  it('nbdcopy, fio and qemu-io write through the exports', async () => {
    const [a, b] = disks;
    const image = join(work, 'image.raw');
    await randomFile(image, 40 * MiB);
    await runTool('nbdcopy', ['--flush', image, uriOf(a)]);
    const job = [
      '--name=replicated',
      '--ioengine=nbd',
      `--uri=${uriOf(b)}`,
      '--rw=randwrite',
      '--bsrange=4k-128k',
      '--offset=8m',
      '--size=32m',
      '--iodepth=16',
      '--verify=crc32c',
      '--do_verify=1',
      '--output-format=json',
    ];
    const [fio] = parseFio((await runTool('fio', job)).stdout);
    assert.equal(fio?.error, 0);
    assert.ok((fio?.write.io_bytes ?? 0) >= 32 * MiB);
    await runTool('qemu-io', [
      '-d',
      'unmap',
      '-f',
      'raw',
      uriOf(a),
      '-c',
      `write -z ${4 * MiB} 256k`,
      '-c',
      `discard ${12 * MiB} 1M`,
      '-c',
      `write -f -P 0x5a ${40 * MiB - 2048} 4096`,
      '-c',
      'flush',
    ]);
    // The source file has the image, where nothing else wrote.
    const region = [16 * MiB, 20 * MiB] as const;
    assert.ok(
      (await readAt(a.location, ...region)).equals(await readAt(image, ...region)),
      'nbdcopy wrote the image into the source file',
    );
  });

  it('the image at a checkpoint taken after the writes equals each source file', async () => {
    const checkpoint = await insertCheckpoint(hq, vpg.vpgId, 'after-nbd-writes');
    const confirmed = await waitForCheckpoint(hq, checkpoint, 60_000);
    assert.equal(confirmed.confirmed, true);
    assert.notEqual(confirmed.inconsistent, true, 'the checkpoint is consistent');
    const sources = await Promise.all(disks.map((d) => sha256File(d.location)));
    await stopSite(dr);
    for (const [i, disk] of disks.entries()) {
      assert.notEqual(sources[i], beforeWrites.sha256[i], `the NBD writes changed ${disk.diskId}`);
      const image = await exportDisk(dr.creds.dataDir, vpg.vpgId, disk.diskId, checkpoint.seq);
      assert.equal(image.sha256, sources[i], `${disk.diskId} at the recovery site`);
      // The checkpoint before the writes still shows the disk as it was then.
      const earlier = await exportDisk(dr.creds.dataDir, vpg.vpgId, disk.diskId, beforeWrites.seq);
      assert.equal(earlier.sha256, beforeWrites.sha256[i], `${disk.diskId} before the NBD writes`);
    }
    // Still the same at the source: nothing else wrote the files meanwhile.
    assert.deepEqual(await Promise.all(disks.map((d) => sha256File(d.location))), sources);
  });
});
