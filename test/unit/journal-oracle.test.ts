import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointAppliedError } from '../../agent/journal/errors';
import type { StreamRecord } from '../../agent/replication/record';
import {
  appendAll,
  assertSameBytes,
  DiskModel,
  diskSpecs,
  openJournal,
  T0,
  tempDir,
  verifyCheckpoints,
  Workload,
} from './journal-fixture';

const MiB = 1024 * 1024;

test('every retained checkpoint equals the oracle through appends, rolls, apply, retention and reopen', async () => {
  const root = await tempDir();
  const specs = diskSpecs(root, [3 * MiB, 2 * MiB, MiB + 517]);
  const workload = new Workload({ disks: specs, records: 900, checkpointEvery: 25 });
  const rng = workload.random();
  let journal = await openJournal(root, specs); // segments of 256 KiB: ~100 rolls below

  // 1. The link delivers batches, with resends of already persisted records now and then.
  const first = workload.next();
  for (const batch of workload.batches(first)) {
    const resend = first.slice(
      Math.max(0, (batch[0] as StreamRecord).seq - 4),
      (batch[0] as StreamRecord).seq - 1,
    );
    const { lastSeq } = await journal.append([...resend, ...batch]);
    assert.equal(lastSeq, (batch.at(-1) as StreamRecord).seq);
  }
  assert.equal(journal.lastSeq, 900);
  assert.ok(journal.usage().segments > 50, `${journal.usage().segments} segments`);
  assert.equal(journal.checkpoints().length, 900 / 25);
  assert.equal(await verifyCheckpoints(journal, workload.all, specs, rng), 36);

  // 2. Apply to a checkpoint: it stays recoverable (it is the replica), older ones are refused.
  const cps = journal.checkpoints();
  const tenth = cps[9]?.seq as number;
  await journal.applyUpTo(tenth);
  assert.equal(journal.appliedSeq, tenth);
  assert.equal(journal.checkpoints()[0]?.seq, tenth);
  await assert.rejects(
    journal.readAt('disk-0', 0, 10, cps[8]?.seq as number),
    CheckpointAppliedError,
  );
  assert.equal(await verifyCheckpoints(journal, workload.all, specs, rng), 27);
  await assertReplicaIs(specs, workload.all, tenth);

  // 3. Apply to a seq between checkpoints: the later checkpoints still resolve.
  const between = (cps[14]?.seq as number) + 7;
  await journal.applyUpTo(between);
  assert.equal(journal.checkpoints()[0]?.seq, cps[15]?.seq);
  assert.equal(await verifyCheckpoints(journal, workload.all, specs, rng), 21);

  // 4. History window: what is older than the window goes to the replica, up to a checkpoint.
  const now = T0 + 900 * 100;
  const result = await journal.enforceRetention(now);
  assert.equal(result.appliedSeq, between, 'a year of history: nothing leaves the window');
  await journal.close();
  journal = await openJournal(root, specs, { historyMs: 300 * 100 });
  const cutoff = now - 300 * 100;
  const expectedOldest = cps.filter((c) => c.sourceTime < cutoff).at(-1)?.seq as number;
  const retention = await journal.enforceRetention(now);
  assert.equal(retention.appliedSeq, expectedOldest);
  assert.equal(retention.historyReduced, undefined);
  assert.equal(journal.checkpoints()[0]?.seq, expectedOldest);
  assert.equal(
    journal.usage().oldestSourceTime,
    cps.find((c) => c.seq === expectedOldest)?.sourceTime,
  );
  assert.equal(expectedOldest, 575);
  assert.equal(await verifyCheckpoints(journal, workload.all, specs, rng), 14);

  // 5. Reopen, keep appending into the same journal, and check again (exports included).
  await journal.close();
  journal = await openJournal(root, specs);
  assert.equal(journal.lastSeq, 900);
  assert.equal(journal.appliedSeq, expectedOldest);
  await appendAll(journal, workload, workload.next(400));
  assert.equal(journal.lastSeq, 1300);
  assert.equal(await verifyCheckpoints(journal, workload.all, specs, rng), 14 + 16);
  const model = new DiskModel(specs);
  const picks = journal
    .checkpoints()
    .filter((_c, i, all) => i === 0 || i === all.length - 1 || i % 7 === 3);
  for (const c of picks) {
    model.advance(workload.all, c.seq - 1);
    for (const spec of specs) {
      const out = join(root, `export-${spec.diskId}-${c.seq}.raw`);
      const progress: number[] = [];
      const image = await journal.exportDisk(spec.diskId, c.seq, out, {
        sha256: true,
        onProgress: (p) => progress.push(p.done),
      });
      const expected = model.disk(spec.diskId);
      assertSameBytes(await readFile(out), expected, `export of ${spec.diskId} at ${c.seq}`);
      assert.equal(image.sha256, createHash('sha256').update(expected).digest('hex'));
      assert.equal(image.bytes, spec.sizeBytes);
      assert.equal(progress.at(-1), spec.sizeBytes);
      assert.ok(progress.every((v, i) => i === 0 || v > (progress[i - 1] as number)));
    }
  }

  // 6. Apply everything: no segment is left, the replica is the final disk.
  await journal.applyUpTo(journal.lastSeq);
  assert.equal(journal.usage().segments, 0);
  assert.deepEqual(
    (await readdir(join(root, 'journal', 'vpg-1'))).filter((n) => n.startsWith('seg-')),
    [],
  );
  await assertReplicaIs(specs, workload.all, 1300);
  assert.equal(
    journal.checkpoints().at(-1)?.seq,
    1300,
    'the last record is a checkpoint: still offered',
  );
  await journal.close();
  journal = await openJournal(root, specs);
  assert.equal(journal.lastSeq, 1300);
  assert.deepEqual(
    journal.checkpoints().map((c) => c.seq),
    [1300],
  );
  assert.equal(await verifyCheckpoints(journal, workload.all, specs, rng), 1);
  await journal.close();
});

test('exported images are sparse where the view is zero or an unwritten replica hole', async () => {
  const root = await tempDir();
  const specs = diskSpecs(root, [64 * MiB]);
  const journal = await openJournal(root, specs);
  const base = { vpgId: 'vpg-1', sourceTime: T0 };
  await journal.append([
    {
      ...base,
      seq: 1,
      kind: 'write',
      diskId: 'disk-0',
      offset: 10 * MiB,
      data: Buffer.alloc(MiB, 1),
    },
    { ...base, seq: 2, kind: 'checkpoint' },
  ]);
  const out = join(root, 'sparse.raw');
  const image = await journal.exportDisk('disk-0', 2, out);
  assert.equal(image.bytes, 64 * MiB);
  assert.equal(image.dataBytes, MiB, 'only the written MiB is data, the rest are holes');
  const info = await stat(out);
  assert.equal(info.size, 64 * MiB);
  assert.ok(info.blocks * 512 <= 2 * MiB, `${info.blocks * 512} bytes allocated`);
  await journal.close();
});

async function assertReplicaIs(
  specs: ReturnType<typeof diskSpecs>,
  records: readonly StreamRecord[],
  seq: number,
): Promise<void> {
  const model = new DiskModel(specs);
  model.advance(records, seq);
  for (const spec of specs) {
    assertSameBytes(
      await readFile(spec.replicaPath),
      model.disk(spec.diskId),
      `replica ${spec.diskId} at ${seq}`,
    );
  }
}

test('a large trim applied to the replica reads as zeros and frees its blocks', async () => {
  const root = await tempDir();
  const specs = diskSpecs(root, [32 * MiB]);
  const journal = await openJournal(root, specs);
  const base = { vpgId: 'vpg-1', sourceTime: T0, diskId: 'disk-0' };
  await journal.append([
    { ...base, seq: 1, kind: 'write', offset: 0, data: Buffer.alloc(16 * MiB, 7) },
    { ...base, seq: 2, kind: 'trim', offset: MiB, length: 12 * MiB },
    { vpgId: 'vpg-1', sourceTime: T0, seq: 3, kind: 'checkpoint' },
  ]);
  await journal.applyUpTo(3);
  const expected = Buffer.alloc(32 * MiB);
  expected.fill(7, 0, MiB).fill(7, 13 * MiB, 16 * MiB);
  assertSameBytes(await journal.readAt('disk-0', 0, 32 * MiB, 3), expected, 'view at 3');
  assertSameBytes(await readFile(specs[0]?.replicaPath as string), expected, 'replica');
  const allocated = (await stat(specs[0]?.replicaPath as string)).blocks * 512;
  // With hole punching (util-linux fallocate) only the 4 MiB of data stay allocated.
  if (existsSync('/usr/bin/fallocate')) {
    assert.ok(allocated <= 5 * MiB, `${allocated} bytes allocated`);
  }
  await journal.close();
});
