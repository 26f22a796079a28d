import assert from 'node:assert/strict';
import { copyFile, mkdir, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  InconsistentCheckpointError,
  JournalCorruptError,
  JournalGapError,
  JournalLockedError,
  JournalRangeError,
  JournalRecordError,
  UnknownCheckpointError,
  UnknownDiskError,
} from '../../agent/journal/errors';
import { STATE_FILE } from '../../agent/journal/layout';
import { encodedSize, encodeRecord, type StreamRecord } from '../../agent/replication/record';
import {
  appendAll,
  assertSameBytes,
  DiskModel,
  diskSpecs,
  openJournal,
  T0,
  tempDir,
  verifyCheckpoints,
  VPG,
  Workload,
} from './journal-fixture';

const MiB = 1024 * 1024;

function flipBit(buf: Buffer, at: number): void {
  buf.writeUInt8(buf.readUInt8(at) ^ 0x40, at);
}

async function segmentFiles(root: string): Promise<string[]> {
  const dir = join(root, 'journal', VPG);
  return (await readdir(dir))
    .filter((n) => n.startsWith('seg-'))
    .sort()
    .map((n) => join(dir, n));
}

/** A journal of `n` records (checkpoint every 10) over two small disks, closed again. */
async function written(n: number, segmentBytes = 64 * MiB) {
  const root = await tempDir();
  const specs = diskSpecs(root, [MiB, 512 * 1024]);
  const workload = new Workload(
    { disks: specs, records: n, checkpointEvery: 10, maxWrite: 16 * 1024 },
    `recovery-${n}`,
  );
  const journal = await openJournal(root, specs, { segmentBytes });
  await appendAll(journal, workload, workload.next());
  await journal.close();
  return { root, specs, workload, reopen: () => openJournal(root, specs, { segmentBytes }) };
}

describe('journal recovery on open', () => {
  it('cuts a segment truncated in the middle of its last record, then appends on', async () => {
    const { root, specs, workload, reopen } = await written(60);
    const [segment] = await segmentFiles(root);
    const last = workload.all[59] as StreamRecord;
    const { size } = await stat(segment as string);
    const cutAt = size - Math.floor(encodedSize(last) / 2);
    await writeFile(segment as string, (await readFile(segment as string)).subarray(0, cutAt));

    const journal = await reopen();
    assert.equal(journal.lastSeq, 59);
    assert.equal(
      journal.recovery.tailCut?.bytesCut,
      encodedSize(last) - Math.floor(encodedSize(last) / 2),
    );
    assert.equal(
      (await stat(segment as string)).size,
      size - encodedSize(last),
      'ftruncated to the last good record',
    );
    assert.deepEqual(await journal.append([last]), { lastSeq: 60 });
    await appendAll(journal, workload, workload.next(20));
    assert.equal(journal.lastSeq, 80);
    assert.equal(await verifyCheckpoints(journal, workload.all, specs, workload.random()), 8);
    await journal.close();
  });

  it('writes new segments over released ones; after a crash their old bytes are cut, never read as records', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [MiB, 512 * 1024]);
    const workload = new Workload(
      { disks: specs, records: 200, checkpointEvery: 10, maxWrite: 16 * 1024 },
      'reuse',
    );
    const dir = join(root, 'journal', VPG);
    const options = { segmentBytes: 32 * 1024 };
    const journal = await openJournal(root, specs, options);
    await appendAll(journal, workload, workload.next());
    const inode = async (name: string): Promise<number> => (await stat(join(dir, name))).ino;
    const spares = async (): Promise<string[]> =>
      (await readdir(dir)).filter((n) => n.startsWith('spare-'));
    await journal.applyUpTo(journal.checkpoints()[10]?.seq as number);
    const kept = await spares();
    assert.equal(kept.length, 2, 'two released files kept, the others deleted');
    const spareInodes = await Promise.all(kept.map(inode));
    // One record at a time until the rolls took both: the last segment is a reused file.
    while ((await spares()).length > 0) await appendAll(journal, workload, workload.next(1));
    const segments = (await segmentFiles(root)).map((p) => p.split('/').at(-1) as string);
    assert.ok(spareInodes.includes(await inode(segments.at(-1) as string)), 'reused last');
    assert.ok(spareInodes.includes(await inode(segments.at(-2) as string)), 'reused before it');

    // A crash: the files as they are now, before close() cuts the last one to its records.
    const backup = join(root, 'crash');
    await mkdir(backup);
    for (const name of await readdir(dir)) {
      if (name !== 'journal.lock') await copyFile(join(dir, name), join(backup, name));
    }
    await journal.close();
    for (const name of await readdir(backup)) await copyFile(join(backup, name), join(dir, name));
    const reopened = await openJournal(root, specs, options);
    assert.ok((reopened.recovery.tailCut?.bytesCut ?? 0) > 0, 'the old bytes were cut');
    assert.equal(reopened.lastSeq, workload.lastSeq);
    assert.deepEqual(await spares(), [], 'spares of the run before are deleted');
    assert.ok((await verifyCheckpoints(reopened, workload.all, specs, workload.random())) > 5);
    await reopened.close();

    // Old bytes past a segment whose successor starts right after its last record belong to
    // no record (a crash before the cut at its roll): cut, not damage.
    const middle = (await segmentFiles(root))[0] as string;
    const exact = (await stat(middle)).size;
    await writeFile(middle, encodeRecord(workload.all[0] as StreamRecord), { flag: 'a' });
    const third = await openJournal(root, specs, options);
    assert.equal(third.recovery.tailCut, undefined);
    assert.equal((await stat(middle)).size, exact);
    await third.close();
  });

  it('cuts a last record whose byte was flipped (checksum mismatch)', async () => {
    const { root, specs, workload, reopen } = await written(45);
    const [segment] = await segmentFiles(root);
    const bytes = await readFile(segment as string);
    const lastSize = encodedSize(workload.all[44] as StreamRecord);
    flipBit(bytes, bytes.length - Math.floor(lastSize / 2));
    await writeFile(segment as string, bytes);

    const journal = await reopen();
    assert.equal(journal.lastSeq, 44);
    assert.match(journal.recovery.tailCut?.reason ?? '', /checksum/);
    assert.equal(journal.recovery.tailCut?.bytesCut, lastSize);
    await journal.append(workload.all.slice(44));
    assert.equal(await verifyCheckpoints(journal, workload.all, specs, workload.random()), 4);
    await journal.close();
  });

  it('drops a last segment that holds nothing valid, and starts it again', async () => {
    const { root, workload, reopen } = await written(30, 16 * 1024);
    const segments = await segmentFiles(root);
    const last = segments.at(-1) as string;
    const handle = await open(last, 'r+');
    await handle.truncate(20); // shorter than one record header
    await handle.close();
    const journal = await reopen();
    const firstLost = Number(/seg-(\d+)/.exec(last)?.[1]);
    assert.equal(journal.lastSeq, firstLost - 1);
    assert.equal((await segmentFiles(root)).includes(last), false);
    await journal.append(workload.all.slice(firstLost - 1));
    assert.equal(journal.lastSeq, 30);
    assert.equal((await segmentFiles(root)).includes(last), true);
    await journal.close();
  });

  it('refuses a journal damaged in an earlier segment (JournalCorruptError) and releases its lock', async () => {
    const { root, reopen } = await written(80, 64 * 1024);
    const segments = await segmentFiles(root);
    assert.ok(segments.length >= 3, `${segments.length} segments`);
    const victim = segments[1] as string;
    const bytes = await readFile(victim);
    flipBit(bytes, Math.floor(bytes.length / 2));
    await writeFile(victim, bytes);
    await assert.rejects(reopen(), (err: unknown) => {
      assert.ok(err instanceof JournalCorruptError);
      assert.equal(err.file, victim.split('/').at(-1));
      assert.equal(err.code, 'INTERNAL_ERROR');
      return true;
    });
    await assert.rejects(
      reopen(),
      JournalCorruptError,
      'the lock was released: the same error again',
    );
  });

  it('refuses a missing segment in the middle of the sequence', async () => {
    const { root, reopen } = await written(80, 64 * 1024);
    await rm((await segmentFiles(root))[1] as string);
    await assert.rejects(reopen(), /previous one ends/);
  });
});

describe('journal append', () => {
  it('skips resent records, refuses gaps and bad records without writing any of the batch', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [MiB]);
    const workload = new Workload({ disks: specs, records: 12, checkpointEvery: 4 }, 'append');
    const records = workload.next();
    const journal = await openJournal(root, specs);
    assert.deepEqual(await journal.append(records.slice(0, 5)), { lastSeq: 5 });
    await assert.rejects(journal.append(records.slice(6, 8)), (err: unknown) => {
      assert.ok(err instanceof JournalGapError);
      assert.equal(err.expected, 6);
      assert.equal(err.got, 7);
      return true;
    });
    await assert.rejects(
      journal.append([records[5] as StreamRecord, records[7] as StreamRecord]),
      JournalGapError,
    );
    assert.equal(journal.lastSeq, 5, 'nothing of a refused batch is written');
    assert.deepEqual(await journal.append(records.slice(2, 9)), { lastSeq: 9 }, 'resends skipped');
    assert.deepEqual(
      await journal.append(records.slice(0, 9)),
      { lastSeq: 9 },
      'all resends: no-op',
    );
    assert.deepEqual(await journal.append([]), { lastSeq: 9 });

    const base = { vpgId: VPG, seq: 10, sourceTime: T0 };
    const bad: StreamRecord[] = [
      { ...base, kind: 'write', diskId: 'nope', offset: 0, data: Buffer.alloc(1) },
      { ...base, kind: 'write', diskId: 'disk-0', offset: MiB - 1, data: Buffer.alloc(2) },
      { ...base, kind: 'trim', diskId: 'disk-0', offset: -1, length: 1 },
      { ...base, vpgId: 'other', kind: 'checkpoint' },
    ];
    for (const record of bad) await assert.rejects(journal.append([record]), JournalRecordError);
    await journal.append(records.slice(9));
    assert.equal(journal.lastSeq, 12);
    await journal.close();
    const again = await openJournal(root, specs);
    assert.equal(again.lastSeq, 12);
    assert.equal(await verifyCheckpoints(again, workload.all, specs, workload.random()), 3);
    await again.close();
  });
});

describe('journal appendEncoded', () => {
  it('writes received encodings as they are, after verifying them', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [MiB]);
    const workload = new Workload({ disks: specs, records: 40, checkpointEvery: 8 }, 'encoded');
    const frames = workload.next().map(encodeRecord);
    const journal = await openJournal(root, specs);
    assert.deepEqual(await journal.appendEncoded(frames.slice(0, 25)), { lastSeq: 25 });
    const damaged = Buffer.from(frames[25] as Buffer);
    flipBit(damaged, damaged.length - 10);
    await assert.rejects(journal.appendEncoded([damaged]), JournalRecordError);
    await assert.rejects(
      journal.appendEncoded([Buffer.concat(frames.slice(25, 27))]),
      JournalRecordError,
    );
    await assert.rejects(
      journal.appendEncoded([(frames[25] as Buffer).subarray(0, 30)]),
      JournalRecordError,
    );
    assert.deepEqual(await journal.appendEncoded(frames.slice(20)), { lastSeq: 40 });
    assert.equal(await verifyCheckpoints(journal, workload.all, specs, workload.random()), 5);
    await journal.close();
    const files = await segmentFiles(root);
    const stored = Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
    assert.ok(stored.equals(Buffer.concat(frames)), 'the segments hold the frames byte for byte');
  });
});

describe('journal apply after a crash', () => {
  /** A journal of 200 records in small segments; the state files and segments before apply. */
  async function beforeApply() {
    const w = await written(200, 32 * 1024);
    const dir = join(w.root, 'journal', VPG);
    const backup = join(w.root, 'backup');
    await mkdir(backup);
    const journal = await w.reopen();
    const target = journal.checkpoints()[12]?.seq as number;
    await journal.applyUpTo(journal.checkpoints()[3]?.seq as number);
    const applied = journal.appliedSeq;
    for (const name of await readdir(dir)) {
      // The lock is ours and alive; a crashed agent's lock is taken over (tested below).
      if (name !== 'journal.lock') await copyFile(join(dir, name), join(backup, name));
    }
    await journal.applyUpTo(target);
    assert.ok(
      (await segmentFiles(w.root)).length < (await readdir(backup)).length - 2,
      'segments released',
    );
    await journal.close();
    // "Crash": the replicas were written, but the journal directory is as it was before.
    for (const name of await readdir(backup)) await copyFile(join(backup, name), join(dir, name));
    return { ...w, dir, target, applied };
  }

  it('finishes an apply whose intent was recorded (replica written, appliedSeq not moved)', async () => {
    const { specs, workload, reopen, dir, target, applied } = await beforeApply();
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(
      join(dir, STATE_FILE),
      JSON.stringify({ ...state, appliedSeq: applied, applyingTo: target }),
    );
    const journal = await reopen();
    assert.equal(journal.recovery.finishedApplyTo, target);
    assert.equal(journal.appliedSeq, target);
    assert.ok(journal.recovery.releasedSegments > 0);
    await assertReplica(specs, workload.all, target);
    assert.equal(await verifyCheckpoints(journal, workload.all, specs, workload.random()), 8);
    await journal.close();
  });

  it('re-applying over a replica that already holds the records leaves it right', async () => {
    const { specs, workload, reopen, target, applied } = await beforeApply();
    const journal = await reopen();
    assert.equal(
      journal.appliedSeq,
      applied,
      'the old state: as if the crash came before it moved',
    );
    await journal.applyUpTo(target);
    await assertReplica(specs, workload.all, target);
    assert.equal(await verifyCheckpoints(journal, workload.all, specs, workload.random()), 8);
    await journal.applyUpTo(journal.lastSeq);
    await assertReplica(specs, workload.all, 200);
    await journal.close();
  });
});

describe('journal lock and point-in-time refusals', () => {
  it('holds a lock file: a second open is refused until the first closes; a dead holder is taken over', async () => {
    const { root, specs, reopen } = await written(20);
    const journal = await reopen();
    await assert.rejects(reopen(), (err: unknown) => {
      assert.ok(err instanceof JournalLockedError);
      assert.match(err.message, new RegExp(`process ${process.pid}`));
      return true;
    });
    await journal.close();
    await journal.close(); // idempotent
    const lockPath = join(root, 'journal', VPG, 'journal.lock');
    await writeFile(lockPath, `2147483646 ${hostname()}\n`);
    const taken = await openJournal(root, specs);
    assert.equal(taken.lastSeq, 20);
    await taken.close();
  });

  it('refuses unknown disks, unknown, applied and inconsistent checkpoints, and bad ranges', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [MiB]);
    const journal = await openJournal(root, specs);
    const base = { vpgId: VPG, sourceTime: T0 };
    await journal.append([
      { ...base, seq: 1, kind: 'write', diskId: 'disk-0', offset: 0, data: Buffer.alloc(10, 1) },
      { ...base, seq: 2, kind: 'checkpoint', inconsistent: true },
      { ...base, seq: 3, kind: 'write', diskId: 'disk-0', offset: 5, data: Buffer.alloc(10, 2) },
      { ...base, seq: 4, kind: 'checkpoint', name: 'after' },
      { ...base, seq: 5, kind: 'write', diskId: 'disk-0', offset: 0, data: Buffer.alloc(3, 3) },
      { ...base, seq: 6, kind: 'checkpoint' },
    ]);
    await assert.rejects(journal.readAt('disk-9', 0, 1, 4), UnknownDiskError);
    await assert.rejects(journal.readAt('disk-0', 0, 1, 3), UnknownCheckpointError);
    await assert.rejects(journal.readAt('disk-0', 0, 1, 2), InconsistentCheckpointError);
    await assert.rejects(journal.readAt('disk-0', MiB - 1, 2, 4), JournalRangeError);
    await assert.rejects(
      journal.exportDisk('disk-0', 2, join(root, 'x.raw')),
      InconsistentCheckpointError,
    );
    assert.deepEqual(
      [...(await journal.readAt('disk-0', 0, 16, 2, { allowInconsistent: true }))],
      [...Buffer.alloc(10, 1), ...Buffer.alloc(6)],
    );
    assert.deepEqual(journal.latestCheckpoint(), { seq: 6, sourceTime: T0 });
    await journal.applyUpTo(4);
    await assert.rejects(journal.readAt('disk-0', 0, 1, 2), (err: unknown) => {
      assert.equal((err as { reason?: string }).reason, 'checkpoint-applied');
      return true;
    });
    const expected = Buffer.concat([Buffer.alloc(5, 1), Buffer.alloc(10, 2), Buffer.alloc(1)]);
    assertSameBytes(
      await journal.readAt('disk-0', 0, 16, 4),
      expected,
      'the applied checkpoint is the replica',
    );
    expected.fill(3, 0, 3);
    assertSameBytes(await journal.readAt('disk-0', 0, 16, 6), expected, 'view at 6');
    assert.deepEqual(
      journal.checkpoints().map((c) => c.name ?? c.seq),
      ['after', 6],
    );
    await journal.close();
    const again = await openJournal(root, specs);
    assert.deepEqual(
      again.checkpoints().map((c) => c.name ?? c.seq),
      ['after', 6],
      'kept in replica-state.json',
    );
    await again.close();
  });
});

async function assertReplica(
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

describe('journal apply of large records', () => {
  it('applies records larger than its read chunk and aligned ones around the page cache, byte for byte, and refuses a segment damaged since open', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [48 * MiB]);
    const records: StreamRecord[] = [];
    let fill = 0;
    const write = (offset: number, length: number): StreamRecord => {
      const data = Buffer.alloc(length, (fill += 1) & 0xff);
      data.writeUInt32LE(fill, length >> 1);
      const seq = records.length + 1;
      return {
        vpgId: VPG,
        seq,
        sourceTime: T0 + seq,
        kind: 'write',
        diskId: 'disk-0',
        offset,
        data,
      };
    };
    for (let i = 0; i < 40; i += 1) {
      const seq = records.length + 1;
      if (i % 5 === 4) records.push({ vpgId: VPG, seq, sourceTime: T0 + seq, kind: 'checkpoint' });
      else if (i === 7)
        records.push(write(3 * MiB, 12 * MiB)); // more than a read chunk
      else if (i % 2 === 0)
        records.push(write((i % 40) * MiB, MiB)); // aligned: O_DIRECT
      else records.push(write(i * 1000 + 7, 300 * 1024)); // unaligned: buffered
    }
    records.push(write(47 * MiB, MiB));
    const journal = await openJournal(root, specs, { segmentBytes: 16 * MiB });
    for (let i = 0; i < records.length; i += 4) await journal.append(records.slice(i, i + 4));
    const middle = 25;
    await journal.applyUpTo(middle);
    await assertReplica(specs, records, middle);

    // Damage the last record's data behind the journal's back (past it: < 4 KiB of padding
    // and the trailer); apply reads it again.
    const [last] = (await segmentFiles(root)).slice(-1);
    const file = await open(last as string, 'r+');
    const { size } = await file.stat();
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, size - 8192);
    flipBit(byte, 0);
    await file.write(byte, 0, 1, size - 8192);
    await file.close();
    await assert.rejects(journal.applyUpTo(journal.lastSeq), JournalCorruptError);
    assert.equal(journal.appliedSeq, middle, 'appliedSeq did not move');
    await journal.applyUpTo(records.length - 1);
    await assertReplica(specs, records, records.length - 1);
    await journal.close();
  });
});
