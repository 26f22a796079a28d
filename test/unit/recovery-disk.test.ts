import assert from 'node:assert/strict';
import { access, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Journal } from '../../agent/journal/journal';
import type { ReplicaDiskSpec } from '../../agent/journal/replica';
import type { LayeredDiskSet } from '../../agent/recovery/recovery-disk-set';
import { RecoveryDiskService } from '../../agent/recovery/recovery-disks';
import type { RecoveryDiskSet } from '../../agent/recovery/recovery-types';
import { Prng } from '../../agent/hypervisor/sim/prng';
import {
  appendAll,
  assertSameBytes,
  diskSpecs,
  openJournal,
  tempDir,
  VPG,
  Workload,
} from './journal-fixture';

const KiB = 1024;
const MiB = 1024 * KiB;
const quiet = { warn: () => undefined, info: () => undefined };

interface Rig {
  readonly root: string;
  readonly specs: ReplicaDiskSpec[];
  readonly journal: Journal;
  readonly workload: Workload;
  readonly checkpoint: number;
}

/** A journal with history over two disks (one not a whole number of blocks), pinned later. */
async function rig(seed: string): Promise<Rig> {
  const root = await tempDir();
  const specs = diskSpecs(root, [4 * MiB, 3 * MiB + 5 * KiB]);
  const workload = new Workload({ disks: specs, records: 300, checkpointEvery: 20 }, seed);
  const journal = await openJournal(root, specs, { segmentBytes: 512 * KiB });
  await appendAll(journal, workload, workload.next());
  await journal.applyUpTo(60);
  const checkpoint = journal.checkpoints().at(-3)?.seq;
  assert.ok(checkpoint !== undefined);
  return { root, specs, journal, workload, checkpoint };
}

function service(r: Rig): RecoveryDiskService {
  return new RecoveryDiskService({
    dataDir: r.root,
    journalOf: (vpgId) => (vpgId === VPG ? r.journal : undefined),
    nbdSocketPath: join(r.root, 'nbd.sock'),
    log: quiet,
  });
}

function openSet(s: RecoveryDiskService, r: Rig, failoverId = 'fo-1'): Promise<RecoveryDiskSet> {
  return s.open({
    failoverId,
    vpgId: VPG,
    checkpointSeq: r.checkpoint,
    disks: r.specs.map((d) => ({
      sourceDiskId: d.diskId,
      diskId: `rec-${d.diskId}`,
      sizeBytes: d.sizeBytes,
    })),
  });
}

/** The disks at the checkpoint, by the journal's own export (the oracle). */
async function oracle(r: Rig): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const d of r.specs) {
    const path = join(r.root, `oracle-${d.diskId}.raw`);
    await r.journal.exportDisk(d.diskId, r.checkpoint, path);
    out.set(`rec-${d.diskId}`, await readFile(path));
  }
  return out;
}

async function assertDisks(
  set: RecoveryDiskSet,
  model: Map<string, Buffer>,
  what: string,
): Promise<void> {
  for (const disk of set.disks) {
    const expected = model.get(disk.diskId) as Buffer;
    const got = Buffer.alloc(disk.size);
    await disk.read(0, disk.size, got);
    assertSameBytes(got, expected, `${what}: ${disk.diskId}`);
  }
}

/** Random I/O of a VM: unaligned writes across blocks, whole-block and partial zero/trim. */
async function vmIo(
  set: RecoveryDiskSet,
  model: Map<string, Buffer>,
  rng: Prng,
  ops: number,
): Promise<void> {
  for (let i = 0; i < ops; i += 1) {
    const disk = rng.pick(set.disks);
    const image = model.get(disk.diskId) as Buffer;
    const roll = rng.next();
    const length = rng.int(1, roll < 0.1 ? 600 * KiB : 150 * KiB);
    const aligned = rng.next() < 0.3;
    let offset = rng.int(0, disk.size - length);
    if (aligned) offset -= offset % (64 * KiB);
    if (roll < 0.15) {
      await (roll < 0.08 ? disk.zero(offset, length, undefined) : disk.trim(offset, length));
      image.fill(0, offset, offset + length);
    } else {
      const data = Buffer.alloc(length, rng.int(1, 255));
      data.writeUInt32LE(i, 0);
      await disk.write(offset, data, rng.next() < 0.1 ? { fua: true } : undefined);
      data.copy(image, offset);
    }
  }
}

describe('recovery disks', () => {
  it('read the view at C, keep the VM writes in the overlay, survive a reopen and retention', async () => {
    const r = await rig('layered');
    const model = await oracle(r);
    const s1 = service(r);
    const set = await openSet(s1, r);
    assert.equal(r.journal.pins().get('recovery:fo-1'), r.checkpoint);
    assert.match(s1.exportUri('rec-disk-0') ?? '', /^nbd\+unix:\/\/\/rec-disk-0\?socket=/);
    await assertDisks(set, model, 'at open');
    const rng = new Prng('io');
    await vmIo(set, model, rng, 120);
    await assertDisks(set, model, 'after VM writes');

    // Protection goes on: appends, retention and an apply run up to the pin only.
    await appendAll(r.journal, r.workload, r.workload.next(100));
    await r.journal.applyUpTo(r.journal.lastSeq);
    assert.equal(r.journal.appliedSeq, r.checkpoint);
    await assertDisks(set, model, 'after appends and an apply up to the pin');

    // Flushed writes are in the files without a close: a second service (a restarted agent)
    // opens the same failover and sees them.
    await vmIo(set, model, rng, 40);
    await Promise.all(set.disks.map((d) => d.flush()));
    const s2 = service(r);
    const reopened = await openSet(s2, r);
    await assertDisks(reopened, model, 'reopened after flush, no close');
    await set.close();
    await reopened.close();

    // A clean close and a reopen reuse the overlays too.
    const s3 = service(r);
    const again = await openSet(s3, r);
    await assertDisks(again, model, 'reopened after close');
    assert.equal(await openSet(s3, r), again, 'the open set is returned again');
    await assert.rejects(
      s3.open({
        failoverId: 'fo-2',
        vpgId: VPG,
        checkpointSeq: r.checkpoint,
        disks: [{ sourceDiskId: 'disk-0', diskId: 'rec-disk-0', sizeBytes: 4 * MiB }],
      }),
      { code: 'CONFLICT' },
    );

    // Discard: files and pin gone, idempotent; the disk is no longer served.
    await again.discard();
    await again.discard();
    assert.equal(r.journal.pins().size, 0);
    assert.deepEqual(await readdir(join(r.root, 'recovery')), []);
    assert.equal(s3.exportUri('rec-disk-0'), undefined);
    await r.journal.enforceRetention();
    await r.journal.close();
  });

  it('promote writes view and overlay into the replicas while writes go on; the disk then is the replica', async () => {
    const r = await rig('promote');
    const model = await oracle(r);
    const s1 = service(r);
    const set = await openSet(s1, r);
    const rng = new Prng('promote-io');
    // Few enough that most blocks still come from the view: both stages have work.
    await vmIo(set, model, rng, 12);
    let stop = false;
    let during = 0;
    const writer = (async () => {
      while (!stop) {
        await vmIo(set, model, rng, 1);
        during += 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const progress: number[] = [];
    await set.promote((p) => progress.push(p.doneBytes / p.totalBytes));
    stop = true;
    await writer;
    assert.ok(during > 0, 'writes ran during promotion');
    assert.ok(progress.length > 10);
    assert.equal(progress.at(-1), 1);
    await vmIo(set, model, rng, 30);
    await assertDisks(set, model, 'after promote');
    for (const d of r.specs) {
      await set.disks.find((x) => x.sourceDiskId === d.diskId)?.flush();
      assertSameBytes(
        await readFile(d.replicaPath),
        model.get(`rec-${d.diskId}`) as Buffer,
        `replica ${d.diskId}`,
      );
    }
    assert.deepEqual((await readdir(join(r.root, 'recovery', 'fo-1'))).sort(), ['set.json']);
    // The journal stays frozen: its records must not reach the replicas now holding the VM's data.
    await r.journal.applyUpTo(r.journal.lastSeq);
    for (const d of r.specs) {
      assertSameBytes(
        await readFile(d.replicaPath),
        model.get(`rec-${d.diskId}`) as Buffer,
        `replica ${d.diskId} after an apply`,
      );
    }
    await assert.rejects(set.discard(), { code: 'CONFLICT' });
    await set.close();
    const again = await openSet(service(r), r);
    await assertDisks(again, model, 'promoted, reopened');
    await again.close();
    await r.journal.close();
  });

  it('a promotion interrupted in either stage is finished after a reopen', async () => {
    for (const stopAt of [0.2, 0.9]) {
      const r = await rig(`interrupt-${stopAt}`);
      const model = await oracle(r);
      const set = await openSet(service(r), r);
      await vmIo(set, model, new Prng(`io-${stopAt}`), 12);
      await Promise.all(set.disks.map((d) => d.flush()));
      await assert.rejects(
        set.promote((p) => {
          if (p.doneBytes / p.totalBytes >= stopAt) throw new Error('power cut');
        }),
        /power cut/,
      );
      // No close: the next agent finds the files as the interrupted one left them.
      const phase = (set as LayeredDiskSet).phase;
      assert.equal(
        phase,
        stopAt < 0.5 ? 'promoting-view' : 'promoting-overlay',
        `stopped in ${phase}`,
      );
      const reopened = await openSet(service(r), r);
      await assertDisks(reopened, model, `reopened in ${phase}`);
      await reopened.promote();
      await assertDisks(reopened, model, `promoted after ${phase}`);
      for (const d of r.specs) {
        assertSameBytes(
          await readFile(d.replicaPath),
          model.get(`rec-${d.diskId}`) as Buffer,
          `replica ${d.diskId}`,
        );
      }
      await reopened.close();
      await r.journal.close();
      await assert.rejects(access(join(r.root, 'recovery', 'fo-1', 'rec-disk-0.overlay')));
    }
  });
});
