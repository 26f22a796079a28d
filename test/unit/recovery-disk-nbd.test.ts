import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';
import { Prng } from '../../agent/hypervisor/sim/prng';
import { CompositeExports } from '../../agent/nbd/composite-exports';
import { DiskExports } from '../../agent/nbd/exports';
import { NbdServer } from '../../agent/nbd/nbd-server';
import { RecoveryDiskService } from '../../agent/recovery/recovery-disks';
import { DiskTap } from '../../agent/tap/disk-tap';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import {
  appendAll,
  assertSameBytes,
  diskSpecs,
  openJournal,
  tempDir,
  VPG,
  Workload,
} from './journal-fixture';

const run = promisify(execFile);
const MiB = 1024 * 1024;

test('a recovered disk is served over NBD under its disk id: nbdcopy reads the view at C and writes into the overlay', async () => {
  const root = await tempDir();
  const specs = diskSpecs(root, [6 * MiB]);
  const workload = new Workload({ disks: specs, records: 250, checkpointEvery: 25 }, 'nbd');
  const journal = await openJournal(root, specs, { segmentBytes: MiB });
  await appendAll(journal, workload, workload.next());
  await journal.applyUpTo(50);
  const checkpoint = journal.checkpoints().at(-2)?.seq as number;
  const oraclePath = join(root, 'oracle.raw');
  await journal.exportDisk('disk-0', checkpoint, oraclePath);

  // The inventory's own disk is still served beside the recovered one.
  const inventoryDisk = join(root, 'inv.raw');
  await createSparseFile(inventoryDisk, MiB);
  const tap = new DiskTap();
  const inventory = new DiskExports({
    listVms: () =>
      Promise.resolve([
        {
          vmId: 'vm-1',
          name: 'app',
          hostId: 'h',
          powerState: 'running',
          cpus: 1,
          memoryMiB: 512,
          guestOs: 'Linux',
          nics: [],
          disks: [
            {
              diskId: 'inv-1',
              name: 'd0',
              sizeBytes: MiB,
              datastore: 'ds',
              location: inventoryDisk,
            },
          ],
        },
      ]),
    tap,
  });
  const socketPath = join(root, 'nbd.sock');
  const recovery = new RecoveryDiskService({
    dataDir: root,
    journalOf: (vpgId) => (vpgId === VPG ? journal : undefined),
    nbdSocketPath: socketPath,
    log: { warn: () => undefined, info: () => undefined },
  });
  const server = new NbdServer({
    exports: new CompositeExports(recovery.exports, inventory),
    socketPath,
    log: pino({ level: 'silent' }),
  });
  await server.start();
  try {
    const set = await recovery.open({
      failoverId: 'fo-nbd',
      vpgId: VPG,
      checkpointSeq: checkpoint,
      disks: [{ sourceDiskId: 'disk-0', diskId: 'vm9-disk0', sizeBytes: 6 * MiB }],
    });
    const uri = recovery.exportUri('vm9-disk0');
    assert.ok(uri !== undefined);
    const { stdout: list } = await run('nbdinfo', ['--list', `nbd+unix://?socket=${socketPath}`]);
    assert.match(list, /vm9-disk0/);
    assert.match(list, /inv-1/);

    const copied = join(root, 'copied.raw');
    await run('nbdcopy', [uri, copied]);
    assertSameBytes(
      await readFile(copied),
      await readFile(oraclePath),
      'nbdcopy of the recovered disk',
    );

    // A VM's writes through NBD land in the overlay; the journal's view is untouched.
    const image = Buffer.alloc(6 * MiB);
    const rng = new Prng('nbd-writes');
    for (let i = 0; i < image.length; i += 4) image.writeUInt32LE(rng.int(0, 2 ** 31), i);
    const source = join(root, 'new.raw');
    await writeFile(source, image);
    await run('nbdcopy', [source, uri]);
    const back = Buffer.alloc(6 * MiB);
    await set.disks[0]?.read(0, back.length, back);
    assertSameBytes(back, image, 'the disk after nbdcopy into it');
    assertSameBytes(
      await journal.readAt('disk-0', 0, 6 * MiB, checkpoint),
      await readFile(oraclePath),
      'the journal view at C after the VM wrote',
    );
    await set.discard();
    assert.equal(recovery.exportUri('vm9-disk0'), undefined);
    await assert.rejects(run('nbdinfo', [uri]), /vm9-disk0/);
  } finally {
    await server.stop();
    await recovery.stop();
    await tap.close();
    await journal.close();
  }
});
