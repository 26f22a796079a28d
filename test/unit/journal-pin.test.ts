import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PinHoldEvent } from '../../agent/journal/journal';
import type { StreamRecord } from '../../agent/replication/record';
import {
  appendAll,
  assertSameBytes,
  DiskModel,
  diskSpecs,
  openJournal,
  T0,
  tempDir,
  Workload,
} from './journal-fixture';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('journal pins and checkpoint views', () => {
  it('a pin holds the history window and the hard limit at it, survives a reopen, and releases', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [2 * MiB, MiB]);
    const workload = new Workload(
      { disks: specs, records: 400, checkpointEvery: 10, maxWrite: 16 * KiB },
      'pin',
    );
    let now = T0;
    const warnings: string[] = [];
    const options = {
      segmentBytes: 64 * KiB,
      historyMs: 10_000,
      hardLimitBytes: 256 * KiB,
      warningBytes: 200 * KiB,
      now: () => now,
      log: { warn: (_: unknown, m: string) => warnings.push(m), info: () => undefined },
    };
    let journal = await openJournal(root, specs, options);
    await appendAll(journal, workload, workload.next(100));
    const pinned = journal.checkpoints()[2];
    assert.ok(pinned !== undefined);
    await journal.pin('recovery:f1', pinned.seq);
    await appendAll(journal, workload, workload.next(300));
    const held: PinHoldEvent[] = [];
    journal.on('pin-held', (e) => held.push(e));
    now = T0 + 400 * 100; // the window and the hard limit both want most of the history gone
    const result = await journal.enforceRetention();
    assert.equal(result.appliedSeq, pinned.seq, 'apply stopped exactly at the pin');
    assert.equal(result.historyReduced, undefined);
    assert.ok(result.heldByPin?.overHardLimit, 'the hold is reported as over the hard limit');
    assert.equal(held.length, 1);
    assert.ok(result.usage.bytes > 256 * KiB, 'the journal stays over its limit while pinned');
    assert.ok(warnings.some((m) => m.includes('pin holds apply')));
    assert.ok(journal.checkpoints().some((c) => c.seq === pinned.seq));

    // applyUpTo is held too; the pin outlives a reopen.
    await journal.applyUpTo(journal.lastSeq);
    assert.equal(journal.appliedSeq, pinned.seq);
    await journal.close();
    journal = await openJournal(root, specs, options);
    assert.deepEqual([...journal.pins()], [['recovery:f1', pinned.seq]]);
    await journal.enforceRetention();
    assert.equal(journal.appliedSeq, pinned.seq);

    // The view at the pinned checkpoint is still the oracle's.
    const model = new DiskModel(specs);
    model.advance(workload.all, pinned.seq - 1);
    for (const spec of specs) {
      const view = await journal.openView(spec.diskId, pinned.seq);
      const whole = Buffer.alloc(spec.sizeBytes);
      await view.read(0, whole);
      assertSameBytes(whole, model.disk(spec.diskId), `${spec.diskId} at the pinned checkpoint`);
    }

    // Pins below appliedSeq are refused; releasing lets retention go on.
    await assert.rejects(journal.pin('late', pinned.seq - 1), { code: 'CONFLICT' });
    await journal.unpin('recovery:f1');
    const after = await journal.enforceRetention();
    assert.ok(after.appliedSeq > pinned.seq);
    assert.ok(after.usage.bytes <= 256 * KiB);
    await journal.close();
  });

  it('a checkpoint view resolves once, reads like readAt, and follows an apply up to the pin', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [3 * MiB]);
    const workload = new Workload(
      { disks: specs, records: 600, checkpointEvery: 25, maxWrite: 48 * KiB },
      'view',
    );
    const journal = await openJournal(root, specs, { segmentBytes: 128 * KiB });
    await appendAll(journal, workload, workload.next());
    const checkpoints = journal.checkpoints();
    const target = checkpoints[checkpoints.length - 3];
    assert.ok(target !== undefined);
    await journal.pin('v', target.seq);
    const view = await journal.openView('disk-0', target.seq);
    const model = new DiskModel(specs);
    model.advance(workload.all, target.seq - 1);
    const expected = model.disk('disk-0');
    const rng = workload.random();
    const check = async (what: string): Promise<void> => {
      for (let i = 0; i < 40; i += 1) {
        const length = rng.int(1, 300 * KiB);
        const offset = rng.int(0, 3 * MiB - length);
        const got = Buffer.alloc(length);
        await view.read(offset, got);
        assertSameBytes(got, expected.subarray(offset, offset + length), `${what} @${offset}`);
      }
      const whole = Buffer.alloc(3 * MiB);
      await view.read(0, whole);
      assertSameBytes(whole, expected, `${what}: whole disk`);
    };
    await check('before apply');
    const extents = await view.writtenExtents();
    assert.ok(extents.length > 0);
    for (let i = 1; i < extents.length; i += 1) {
      assert.ok(
        (extents[i]?.start as number) > (extents[i - 1]?.end as number),
        'merged, in order',
      );
    }
    // Apply up to the pin: segments go, the replica changes, the view still reads C.
    const mid = checkpoints[checkpoints.length - 6];
    assert.ok(mid !== undefined);
    await journal.applyUpTo(mid.seq);
    await check('after an apply below the pin');
    await journal.applyUpTo(journal.lastSeq);
    assert.equal(journal.appliedSeq, target.seq);
    await check('after an apply up to the pin');
    await journal.close();
    await assert.rejects(view.read(0, Buffer.alloc(1)), { code: 'UNAVAILABLE' });
  });

  it("pin('applied') freezes apply; appends go on under any pin", async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [MiB]);
    const workload = new Workload({ disks: specs, records: 50, checkpointEvery: 5 }, 'freeze');
    const journal = await openJournal(root, specs);
    await appendAll(journal, workload, workload.next());
    await journal.applyUpTo(20);
    assert.equal(await journal.pin('frozen', 'applied'), 20);
    const more: StreamRecord[] = workload.next(30);
    await appendAll(journal, workload, more);
    assert.equal(journal.lastSeq, 80);
    await journal.applyUpTo(80);
    assert.equal(journal.appliedSeq, 20);
    await journal.close();
  });
});
