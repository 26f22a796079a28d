import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  appendFile,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TidelineError } from '../../app/errors';
import { decodeRecord, encodeRecord, type StreamRecord } from '../../agent/replication/record';
import { Outbox, type OutboxOptions } from '../../agent/source/outbox';
import { segmentFileName } from '../../agent/source/outbox-segment';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-outbox-'));
  dirs.push(dir);
  return join(dir, 'outbox', 'vpg-1');
}

function outbox(dir: string, options: Partial<OutboxOptions> = {}): Outbox {
  return new Outbox({
    dir,
    vpgId: 'vpg-1',
    limitBytes: 1 << 30,
    segmentBytes: 32 * 1024,
    ...options,
  });
}

function makeRecord(seq: number): StreamRecord {
  const base = { vpgId: 'vpg-1', seq, sourceTime: 1_700_000_000_000 + seq };
  switch (seq % 4) {
    case 0:
      return { ...base, kind: 'checkpoint', ...(seq % 8 === 0 && { name: `cp ${seq}` }) };
    case 1:
      return { ...base, kind: 'zero', diskId: 'd0', offset: seq * 512, length: 4096 };
    default:
      return {
        ...base,
        kind: 'write',
        diskId: `d${seq % 2}`,
        offset: seq * 4096,
        data: randomBytes(512 + (seq % 7) * 1000),
      };
  }
}

/** A write of `data` to disk d0 at block `seq`. */
function writeRecord(seq: number, data: Buffer): StreamRecord {
  return {
    vpgId: 'vpg-1',
    seq,
    sourceTime: 1_700_000_000_000 + seq,
    kind: 'write',
    diskId: 'd0',
    offset: seq * 4096,
    data,
  };
}

function decodeAll(bufs: readonly Buffer[]): StreamRecord[] {
  return bufs.map((b) => {
    const d = decodeRecord(b);
    assert.equal(d.status, 'ok');
    assert.equal((d as { bytes: number }).bytes, b.length, 'one buffer per record');
    return (d as { record: StreamRecord }).record;
  });
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
}

test('append, read up to the applied watermark, release, reopen', async () => {
  const dir = await tempDir();
  const box = outbox(dir);
  const report = await box.open();
  assert.equal(report.lastSeq, 0);
  const records = Array.from({ length: 300 }, (_, i) => makeRecord(i + 1));
  // All appended concurrently: group commit puts them in few writes.
  await Promise.all(records.map((r) => box.append(r)));
  const segments = (await segmentFiles(dir)).length;
  assert.ok(segments > 3, 'segments rolled');
  // Group commit: appends made together share one write per segment, not one per record.
  assert.ok(box.commitCount <= segments + 1, `${box.commitCount} commits, ${segments} segments`);
  assert.equal(box.writtenSeq, 300);

  // Nothing is readable before its disk write is applied.
  assert.deepEqual(await box.read(1, 1 << 20), []);
  for (let s = 1; s <= 200; s += 1) if (s !== 150) box.markApplied(s);
  assert.equal(box.appliedSeq, 149);
  box.markApplied(150);
  assert.equal(box.appliedSeq, 200);

  // Paged reads return whole records in order, and stop at the watermark.
  const got: StreamRecord[] = [];
  let next = 1;
  for (;;) {
    const page = decodeAll(await box.read(next, 20_000));
    if (page.length === 0) break;
    got.push(...page);
    next = (page[page.length - 1] as StreamRecord).seq + 1;
  }
  assert.equal(got.length, 200);
  assert.deepEqual(
    got.map((r) => encodeRecord(r)),
    records.slice(0, 200).map((r) => encodeRecord(r)),
  );
  for (let s = 201; s <= 300; s += 1) box.markApplied(s);

  const backlogBefore = box.backlogBytes;
  const segmentsBefore = (await segmentFiles(dir)).length;
  await box.release(250);
  assert.ok((await segmentFiles(dir)).length < segmentsBefore, 'acknowledged segments deleted');
  const expectedBacklog = records.slice(250).reduce((n, r) => n + encodeRecord(r).length, 0);
  assert.equal(box.backlogBytes, expectedBacklog);
  assert.ok(box.backlogBytes < backlogBefore);
  await assert.rejects(
    box.read(1, 1000),
    (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
  );
  assert.deepEqual(
    decodeAll(await box.read(251, 1 << 20)).map((r) => r.seq),
    Array.from({ length: 50 }, (_, i) => 251 + i),
  );
  await assert.rejects(box.release(301), /never sent/);
  await box.close();

  // Reopen: the held records are verified and indexed; the sequence continues after 300.
  const again = outbox(dir);
  const reopened = await again.open();
  assert.equal(reopened.lastSeq, 300);
  assert.equal(reopened.cutBytes, 0);
  assert.equal(reopened.uncleanShutdown, false);
  assert.ok(reopened.firstSeq <= 251);
  assert.equal(again.ackedSeq, 250);
  // Nobody told this bare outbox that the disks were synced: every held record is redone, in
  // seq order.
  const redone: number[] = [];
  await again.redo(async (r) => {
    redone.push(r.seq);
  });
  assert.deepEqual(
    redone,
    Array.from({ length: 301 - reopened.firstSeq }, (_, i) => reopened.firstSeq + i),
  );
  await again.append(makeRecord(301));
  again.markApplied(301);
  assert.equal(decodeAll(await again.read(301, 1)).length, 1);
  await again.release(301);
  await again.close();

  // Once every segment is gone, the persisted acknowledged seq is the high-water mark.
  for (const name of await segmentFiles(dir)) await unlink(join(dir, name));
  const empty = outbox(dir);
  const emptyReport = await empty.open();
  assert.equal(emptyReport.records, 0);
  assert.equal(emptyReport.lastSeq, 301, 'a seq is never reused');
  await assert.rejects(empty.append(makeRecord(1)), RangeError);
  await empty.append(makeRecord(302));
  await empty.close();
});

test('a torn tail of the last segment is cut on reopen; corruption elsewhere is refused', async () => {
  const dir = await tempDir();
  const box = outbox(dir, { segmentBytes: 1 << 20 });
  await box.open();
  for (let s = 1; s <= 10; s += 1) await box.append(makeRecord(s));
  await box.close();
  const [name] = await segmentFiles(dir);
  const path = join(dir, name as string);
  const sizeBefore = (await stat(path)).size;
  // Half of record 11: a group commit that never completed.
  const torn = encodeRecord(makeRecord(11));
  await appendFile(path, torn.subarray(0, Math.floor(torn.length / 2)));

  const again = outbox(dir, { segmentBytes: 1 << 20 });
  const report = await again.open();
  assert.equal(report.lastSeq, 10);
  assert.equal(report.cutBytes, Math.floor(torn.length / 2));
  assert.match(report.cutReason ?? '', /torn/);
  assert.equal((await stat(path)).size, sizeBefore, 'the torn bytes are gone from the file');
  assert.equal(await again.redo(async () => undefined), 10, 'unclean close: everything is redone');
  await again.append(makeRecord(11));
  again.markApplied(11);
  assert.deepEqual(
    decodeAll(await again.read(1, 1 << 20)).map((r) => r.seq),
    Array.from({ length: 11 }, (_, i) => i + 1),
  );
  await again.close();

  // Less than a block of zeros past the end is an O_DIRECT append's padding: cut, not
  // reported; a block or more of them is garbage a crash left, a tail to cut and report.
  const exact = (await stat(path)).size;
  await appendFile(path, Buffer.alloc(300));
  const third = outbox(dir, { segmentBytes: 1 << 20 });
  assert.equal((await third.open()).cutBytes, 0);
  await third.close();
  assert.equal((await stat(path)).size, exact, 'the padding is gone from the file');
  await appendFile(path, Buffer.alloc(5000));
  const fourth = outbox(dir, { segmentBytes: 1 << 20 });
  assert.equal((await fourth.open()).cutBytes, 5000);
  await fourth.close();

  // A flipped byte in a segment that is not the last one is corruption, not a torn tail.
  const multi = await tempDir();
  const m = outbox(multi, { segmentBytes: 4096 });
  await m.open();
  for (let s = 1; s <= 40; s += 1) await m.append(makeRecord(s));
  await m.close();
  const [first] = await segmentFiles(multi);
  const firstPath = join(multi, first as string);
  const bytes = await readFile(firstPath);
  bytes[60] = (bytes[60] as number) ^ 0xff;
  await writeFile(firstPath, bytes);
  await assert.rejects(
    outbox(multi, { segmentBytes: 4096 }).open(),
    (err: unknown) =>
      err instanceof TidelineError && err.code === 'INTERNAL_ERROR' && /damaged/.test(err.message),
  );
});

test('an empty last segment (a crash between a roll and its first write) is removed, and appends go on in the one before', async () => {
  const dir = await tempDir();
  const first = outbox(dir, { segmentBytes: 1 << 20 });
  await first.open();
  for (let s = 1; s <= 5; s += 1) await first.append(makeRecord(s));
  await first.close();
  // What roll() leaves when the process dies before the commit's write.
  await writeFile(join(dir, segmentFileName(6)), Buffer.alloc(0));
  const again = outbox(dir, { segmentBytes: 1 << 20 });
  assert.equal((await again.open()).lastSeq, 5);
  assert.equal(await again.redo(async () => undefined), 5);
  await again.append(makeRecord(6));
  again.markApplied(6);
  assert.deepEqual(
    decodeAll(await again.read(1, 1 << 20)).map((r) => r.seq),
    [1, 2, 3, 4, 5, 6],
  );
  await again.close();
});

test('released segment files are written over by the next ones; after a crash their old bytes are cut, never read as records', async () => {
  const dir = await tempDir();
  const box = outbox(dir);
  await box.open();
  const records = Array.from({ length: 400 }, (_, i) => makeRecord(i + 1));
  for (const r of records.slice(0, 200)) await box.append(r);
  for (let s = 1; s <= 200; s += 1) box.markApplied(s);
  const inodes = async (): Promise<Map<number, string>> => {
    const byInode = new Map<number, string>();
    for (const name of await readdir(dir)) byInode.set((await stat(join(dir, name))).ino, name);
    return byInode;
  };
  const before = await inodes();
  await box.release(150);
  const spares = (await readdir(dir)).filter((n) => n.startsWith('spare-'));
  assert.equal(spares.length, 2, 'two released files kept, the others deleted');
  const spareInodes = await Promise.all(spares.map(async (n) => (await stat(join(dir, n))).ino));
  for (const ino of spareInodes)
    assert.match(before.get(ino) ?? '', /\.seg$/, 'a released segment');

  // The next two rolls take the spares: same files, new names, no spare left.
  let appended = 200;
  while ((await readdir(dir)).some((n) => n.startsWith('spare-'))) {
    appended += 1;
    await box.append(records[appended - 1] as StreamRecord);
  }
  const after = await inodes();
  const reused = spareInodes.map((ino) => after.get(ino));
  assert.ok(
    reused.every((name) => name?.endsWith('.seg')),
    `reused as ${reused.join(', ')}`,
  );
  const lastName = (await segmentFiles(dir)).at(-1) as string;
  const lastPath = join(dir, lastName);
  assert.ok(spareInodes.includes((await stat(lastPath)).ino), 'the last segment is a reused file');
  const oldBytes = (await stat(lastPath)).size;

  // A crash: no close. The reused last segment still holds the old records past the new ones.
  const again = outbox(dir);
  const report = await again.open();
  assert.equal(report.lastSeq, appended);
  assert.ok(report.cutBytes > 0, 'the old bytes past the last record are cut');
  assert.ok((await stat(lastPath)).size < oldBytes);
  for (let s = 151; s <= appended; s += 1) again.markApplied(s);
  const read: StreamRecord[] = [];
  for (let next = 151; next <= appended;) {
    const page = decodeAll(await again.read(next, 1 << 20));
    read.push(...page);
    next = (page.at(-1) as StreamRecord).seq + 1;
  }
  assert.deepEqual(
    read.map((r) => encodeRecord(r)),
    records.slice(150, appended).map((r) => encodeRecord(r)),
  );
  await again.close();

  // A crash between a roll and the cut of the segment before it: old bytes past a segment
  // whose successor starts right after its last record belong to no record, and are cut.
  const names = await segmentFiles(dir);
  const middle = join(dir, names[0] as string);
  const exact = (await stat(middle)).size;
  await appendFile(middle, encodeRecord(makeRecord(3)));
  const third = outbox(dir);
  assert.equal((await third.open()).cutBytes, 0);
  await third.close();
  assert.equal((await stat(middle)).size, exact);
  // The same bytes in place of the segment's last record are damage: refused.
  const held = await readFile(middle);
  let lastStart = 0;
  for (let at = 0; at < held.length;) {
    const decoded = decodeRecord(held, at);
    assert.equal(decoded.status, 'ok');
    lastStart = at;
    at += (decoded as { bytes: number }).bytes;
  }
  await writeFile(
    middle,
    Buffer.concat([held.subarray(0, lastStart), encodeRecord(makeRecord(3))]),
  );
  await assert.rejects(
    outbox(dir).open(),
    (err: unknown) =>
      err instanceof TidelineError && err.code === 'INTERNAL_ERROR' && /damaged/.test(err.message),
  );
  await box.close().catch(() => undefined); // the crashed one's handles
});

test('the limit: hasRoom turns false once the backlog would exceed it', async () => {
  const dir = await tempDir();
  const box = outbox(dir, { limitBytes: 64 * 1024 });
  await box.open();
  let seq = 0;
  const one = encodeRecord(makeRecord(2)).length;
  while (box.hasRoom(one)) {
    seq += 1;
    await box.append({ ...makeRecord(2), seq } as StreamRecord);
  }
  assert.ok(box.backlogBytes <= 64 * 1024);
  assert.ok(box.backlogBytes + one > 64 * 1024);
  for (let s = 1; s <= seq; s += 1) box.markApplied(s);
  await box.release(seq);
  assert.ok(box.hasRoom(one), 'acknowledged records free room');
  await box.close();
});

test('an ACK shrinks the backlog at once, even while an earlier release waits for its disk sync', async () => {
  const dir = await tempDir();
  let syncing: (() => void) | undefined;
  const slowSync = (): Promise<number> =>
    new Promise((resolve) => {
      syncing = () => resolve(0);
    });
  const box = new Outbox({ dir, vpgId: 'vpg-1', limitBytes: 4 * 1024 * 1024, syncData: slowSync });
  await box.open();
  const data = randomBytes(60 * 1024);
  let seq = 0;
  for (let i = 0; i < 60; i += 1) {
    seq += 1;
    await box.append(writeRecord(seq, data));
    box.markApplied(seq);
  }
  assert.ok((await segmentFiles(dir)).length >= 3);
  const first = box.release(30); // whole segments to delete: waits for the disks' sync
  await new Promise((r) => setImmediate(r));
  const after30 = box.backlogBytes;
  const second = box.release(seq); // the next ACK, while that sync still runs
  assert.equal(box.backlogBytes, 0, `the second ACK counted at once (was ${after30})`);
  assert.equal(box.ackedSeq, seq);
  syncing?.();
  await first;
  syncing?.();
  await second;
  assert.equal(box.backlogBytes, 0);
  await box.close();
});

test('acknowledged records free room at once, and after a crash at most a segment of them counts', async () => {
  const dir = await tempDir();
  const limitBytes = 4 * 1024 * 1024;
  let syncing: (() => void) | undefined;
  const slowSync = (): Promise<number> =>
    new Promise((resolve) => {
      syncing = () => resolve(0);
    });
  // The default segment size (no segmentBytes): an eighth of a small limit.
  const box = new Outbox({ dir, vpgId: 'vpg-1', limitBytes, syncData: slowSync });
  await box.open();
  const data = randomBytes(60 * 1024);
  const write = (seq: number): StreamRecord => writeRecord(seq, data);
  let seq = 0;
  const one = encodeRecord(write(1)).length;
  while (box.hasRoom(one)) {
    seq += 1;
    await box.append(write(seq));
    box.markApplied(seq);
  }
  assert.ok((await segmentFiles(dir)).length >= 8, 'segments of about limit / 8');
  // The release waits for the disk sync before deleting segments; the room is there before.
  const released = box.release(seq);
  await new Promise((r) => setImmediate(r));
  assert.ok(box.hasRoom(one), 'room while the disks are being synced');
  assert.equal(box.backlogBytes, 0);
  syncing?.();
  await released;
  // More writes, acknowledged, then a crash (no close): the saved acknowledged seq lags
  // behind, so those records count as backlog on reopen, but no more than one segment's.
  const base = seq;
  for (let i = 0; i < 30; i += 1) {
    seq += 1;
    await box.append(write(seq));
    box.markApplied(seq);
  }
  const again = box.release(seq);
  await new Promise((r) => setImmediate(r));
  syncing?.();
  await again;
  assert.ok(seq - base > 0);
  const reopened = new Outbox({ dir, vpgId: 'vpg-1', limitBytes });
  const report = await reopened.open();
  assert.equal(report.uncleanShutdown, true);
  assert.ok(
    reopened.backlogBytes <= limitBytes / 8 + one,
    `${reopened.backlogBytes} bytes of acknowledged records count after the crash`,
  );
  await reopened.close();
});

test("'write' commit mode: records reach the sender only once synced", async () => {
  const dir = await tempDir();
  const box = outbox(dir, { commit: 'write', syncIntervalMs: 60_000 });
  await box.open();
  const commitsBefore = box.commitCount;
  await Promise.all([1, 2, 3].map((s) => box.append(makeRecord(s))));
  assert.ok(box.commitCount > commitsBefore);
  for (const s of [1, 2, 3]) box.markApplied(s);
  assert.equal(box.durableSeq, 0);
  assert.deepEqual(await box.read(1, 1 << 20), []);
  await box.sync();
  assert.equal(box.durableSeq, 3);
  assert.equal((await box.read(1, 1 << 20)).length, 3);
  await box.close();
});

test("'background' commit mode: appends wait for the write only; an fdatasync follows unasked", async () => {
  const dir = await tempDir();
  const box = outbox(dir, { commit: 'background' });
  await box.open();
  const readable = new Promise<number>((resolve) => box.once('readable', resolve));
  await Promise.all([1, 2, 3].map((s) => box.append(makeRecord(s))));
  for (const s of [1, 2, 3]) box.markApplied(s);
  assert.equal(box.writtenSeq, 3);
  assert.equal(box.durableSeq, 0, 'the append did not wait for the fdatasync');
  assert.equal(await readable, 3);
  assert.equal(box.durableSeq, 3);
  assert.equal((await box.read(1, 1 << 20)).length, 3);
  await box.close();
});

test('a large group commit is written as parallel parts and reads back in order', async () => {
  const dir = await tempDir();
  const box = outbox(dir, { segmentBytes: 16 * 1024 * 1024 });
  await box.open();
  const records: StreamRecord[] = Array.from({ length: 120 }, (_, i) => ({
    vpgId: 'vpg-1',
    seq: i + 1,
    sourceTime: 1,
    kind: 'write',
    diskId: 'd0',
    offset: i * 65536,
    data: randomBytes(60_000 + i),
  }));
  await Promise.all(records.map((r) => box.append(r)));
  assert.ok(box.commitCount <= 2, `${box.commitCount} commits`);
  for (const r of records) box.markApplied(r.seq);
  const back = decodeAll(await box.read(1, 1 << 30));
  assert.deepEqual(
    back.map((r) => encodeRecord(r)),
    records.map((r) => encodeRecord(r)),
  );
  await box.close();
  const again = outbox(dir, { segmentBytes: 16 * 1024 * 1024 });
  assert.equal((await again.open()).records, 120);
  await again.close();
});
