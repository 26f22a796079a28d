import { once } from 'node:events';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { decodeRecord, type StreamRecord } from '../../agent/replication/record';
import { hashBlocks, isZeroBlock } from '../../agent/source/block-hasher';
import { DirtyBitmap } from '../../agent/source/dirty-bitmap';
import type { SourceMode } from '../../agent/source/source-state';
import { VpgSource, outboxDir, type VpgSourceOptions } from '../../agent/source/vpg-source';
import { DiskFile } from '../../agent/tap/disk-file';
import { DiskTap } from '../../agent/tap/disk-tap';

const KiB = 1024;
const MiB = 1024 * KiB;
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-bitmap-'));
  dirs.push(dir);
  return dir;
}

test('dirty bitmap: mark, iterate, clear, and it survives a reopen', async () => {
  const dir = await tempDir();
  const path = join(dir, 'd0.bitmap');
  const diskSize = 10 * MiB + 4096; // a short last region
  const bitmap = await DirtyBitmap.open({ path, diskSize, regionBytes: 64 * KiB });
  assert.equal(bitmap.openState, 'created');
  assert.equal(bitmap.regionCount, 161);
  await bitmap.mark(0, 1); // region 0
  await bitmap.mark(64 * KiB - 1, 2); // regions 0 and 1
  await bitmap.mark(5 * MiB, 200 * KiB); // regions 80..83
  await bitmap.mark(diskSize - 10, 10); // the last region
  assert.equal(bitmap.count, 7);
  assert.deepEqual(
    [...bitmap.dirtyRegions()].map((r) => r.index),
    [0, 1, 80, 81, 82, 83, 160],
  );
  const lastRegion = [...bitmap.dirtyRegions()].pop();
  assert.deepEqual(lastRegion, { index: 160, offset: 10 * MiB, length: 4096 });
  assert.equal(bitmap.dirtyBytes, 6 * 64 * KiB + 4096);
  await bitmap.clear(81);
  assert.equal(bitmap.count, 6);
  await bitmap.close();

  const again = await DirtyBitmap.open({ path, diskSize, regionBytes: 64 * KiB });
  assert.equal(again.openState, 'loaded');
  assert.deepEqual(
    [...again.dirtyRegions()].map((r) => r.index),
    [0, 1, 80, 82, 83, 160],
  );
  await again.close();

  // Another geometry, or a damaged header: every region is dirty (a full compare is safe).
  const resized = await DirtyBitmap.open({ path, diskSize: 20 * MiB, regionBytes: 64 * KiB });
  assert.equal(resized.openState, 'geometry-changed');
  assert.equal(resized.count, resized.regionCount);
  await resized.close();
  const bytes = await readFile(path);
  bytes[9] = (bytes[9] as number) ^ 1;
  await writeFile(path, bytes);
  const damaged = await DirtyBitmap.open({ path, diskSize: 20 * MiB, regionBytes: 64 * KiB });
  assert.equal(damaged.openState, 'damaged');
  assert.equal(damaged.count, damaged.regionCount);
  await damaged.close();
});

test('concurrent marks share one write-back and are all durable when they resolve', async () => {
  const dir = await tempDir();
  const path = join(dir, 'd.bitmap');
  const bitmap = await DirtyBitmap.open({ path, diskSize: 64 * MiB });
  const marks = Array.from({ length: 200 }, (_, i) => bitmap.mark(i * 320 * KiB, 4096));
  await Promise.all(marks);
  // What is on disk (not in memory) counts: read the file as a new process would.
  const reread = await DirtyBitmap.open({ path, diskSize: 64 * MiB });
  assert.equal(reread.count, 200);
  await reread.close();
  await bitmap.close();
});

interface Rig {
  readonly tap: DiskTap;
  readonly source: VpgSource;
  readonly modes: SourceMode[];
}

async function openRig(dir: string, options: Partial<VpgSourceOptions> = {}): Promise<Rig> {
  const tap = new DiskTap();
  const disks = [];
  for (const id of ['d0', 'd1']) disks.push(await tap.attach(id, join(dir, `${id}.raw`)));
  const source = new VpgSource({
    vpgId: 'vpg-1',
    dir: outboxDir(dir, 'vpg-1'),
    disks,
    limitBytes: 256 * KiB,
    segmentBytes: 64 * KiB,
    checkpointIntervalMs: 0,
    ...options,
  });
  const modes: SourceMode[] = [];
  source.on('mode', (mode) => modes.push(mode));
  await source.open();
  for (const id of ['d0', 'd1']) await tap.protect(id, source);
  return { tap, source, modes };
}

test('overflow: past the outbox limit writes mark the bitmap; mode and bitmap survive a restart', async () => {
  const dir = await tempDir();
  for (const id of ['d0', 'd1']) await createSparseFile(join(dir, `${id}.raw`), 8 * MiB);
  const rig = await openRig(dir);
  // Fill the outbox (nobody sends): 64 KiB writes to d0's first MiB.
  const early = randomBytes(64 * KiB);
  await rig.tap.write('d0', 0, early);
  let n = 1;
  while (rig.source.mode === 'queue') {
    await rig.tap.write('d0', (n % 16) * 64 * KiB, randomBytes(64 * KiB));
    n += 1;
    assert.ok(n < 100, 'the limit switched the VPG to bitmap mode');
  }
  assert.deepEqual(rig.modes, ['bitmap']);
  const lastSeq = rig.source.outbox.lastSeq;
  assert.ok(rig.source.outbox.backlogBytes <= 256 * KiB);
  assert.equal(rig.source.bitmap('d0').count, 1, 'the write that did not fit went to the bitmap');
  assert.equal(rig.source.bitmap('d1').count, 0);

  // From now on: no records, only dirty regions (which are durable before the ack).
  const late = randomBytes(100 * KiB);
  await rig.tap.write('d1', 3 * MiB + 1000, late);
  await rig.tap.zero('d0', 0, 4096); // overwrites a region an outbox record also wrote
  assert.equal(rig.source.outbox.lastSeq, lastSeq, 'nothing sequenced in bitmap mode');
  assert.deepEqual(
    [...rig.source.bitmap('d1').dirtyRegions()].map((r) => r.index),
    [48, 49],
  );
  assert.ok(rig.source.bitmap('d0').isDirty(0));
  assert.ok((await rig.tap.read('d1', 3 * MiB + 1000, late.length)).equals(late));
  // A named checkpoint is still sequenced, but it is not an image.
  const cp = rig.source.insertCheckpoint('during overflow');
  assert.equal(cp, lastSeq + 1);
  // insertCheckpoint returns at once; its append lands with the next group commit.
  while (rig.source.outbox.writtenSeq < cp) await sleep(1);

  // "Crash": abandon this instance without closing; a new one reopens the same files.
  const again = await openRig(dir);
  assert.equal(again.source.mode, 'bitmap');
  assert.ok(again.source.bitmap('d0').isDirty(0));
  assert.equal(again.source.bitmap('d1').count, 2);
  // Redo must not write the old outbox record over the newer bitmap-mode zeroing.
  const region0 = await again.tap.read('d0', 0, 64 * KiB);
  assert.ok(isZeroBlock(region0.subarray(0, 4096)), 'the bitmap-mode write survived the redo');
  assert.ok(region0.subarray(4096).equals(early.subarray(4096)));
  await again.tap.write('d1', 7 * MiB, Buffer.alloc(4096, 1));
  assert.equal(again.source.bitmap('d1').count, 3);
  const held = (await again.source.outbox.read(again.source.outbox.firstSeq, 1 << 30)).map(
    (b) => (decodeRecord(b) as { record: StreamRecord }).record,
  );
  const named = held.find((r) => r.kind === 'checkpoint' && r.name === 'during overflow');
  assert.deepEqual(
    named && { seq: named.seq, inconsistent: named.kind === 'checkpoint' && named.inconsistent },
    { seq: cp, inconsistent: true },
  );

  // The engine drains the backlog and resumes streaming: records again, checkpoints
  // inconsistent until it says the resync is complete.
  await again.source.release(again.source.outbox.readableSeq());
  await again.source.resumeStreaming();
  assert.equal(again.source.mode, 'queue');
  await again.tap.write('d1', 0, Buffer.alloc(512, 2));
  assert.equal(again.source.outbox.lastSeq, cp + 1);
  assert.equal(again.source.status().inconsistent, true);
  again.source.setInconsistent(false);
  assert.equal(again.source.status().inconsistent, false);
  await again.source.close();
  await again.tap.close();
  await rig.tap.close();
});

test("'write' commit mode after a host crash: the whole disk is dirty, in bitmap mode", async () => {
  const dir = await tempDir();
  for (const id of ['d0', 'd1']) await createSparseFile(join(dir, `${id}.raw`), 2 * MiB);
  const rig = await openRig(dir, { commit: 'write', limitBytes: 64 * MiB });
  await rig.tap.write('d0', 0, randomBytes(4096));
  await rig.tap.flush();
  // Abandon it (unclean) and pretend the kernel rebooted since.
  const statePath = join(outboxDir(dir, 'vpg-1'), 'outbox.json');
  const state = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>;
  await writeFile(statePath, JSON.stringify({ ...state, bootId: 'another-boot' }));
  const again = await openRig(dir, { commit: 'write', limitBytes: 64 * MiB });
  assert.equal(again.source.mode, 'bitmap');
  for (const id of ['d0', 'd1']) {
    const bitmap = again.source.bitmap(id);
    assert.equal(bitmap.count, bitmap.regionCount);
  }
  await again.source.close();
  await again.tap.close();
  await rig.tap.close();
});

test('block hasher: holes are zero blocks without reading, data blocks are SHA-256', async () => {
  const dir = await tempDir();
  const path = join(dir, 'h.raw');
  await createSparseFile(path, 8 * MiB + 4096);
  const fresh = await DiskFile.open('h', path);
  let reads = 0;
  const pread = fresh.pread.bind(fresh);
  fresh.pread = async (offset, length, into) => {
    reads += 1;
    return pread(offset, length, into);
  };
  const blocks = [];
  for await (const b of hashBlocks(fresh)) blocks.push(b);
  assert.equal(blocks.length, 129);
  assert.ok(blocks.every((b) => b.hash === undefined));
  assert.equal(reads, 0, 'a file with no allocated blocks is not read');
  assert.equal(blocks[128]?.length, 4096);

  const data = randomBytes(64 * KiB);
  await fresh.pwrite(data, 5 * 64 * KiB);
  await fresh.pwrite(Buffer.alloc(64 * KiB), 7 * 64 * KiB); // written zeros: still a zero block
  await fresh.datasync();
  const hashed = [];
  for await (const b of hashBlocks(fresh, { blockBytes: 64 * KiB })) hashed.push(b);
  const nonZero = hashed.filter((b) => b.hash !== undefined);
  assert.deepEqual(
    nonZero.map((b) => b.index),
    [5],
  );
  assert.ok(nonZero[0]?.hash?.equals(createHash('sha256').update(data).digest()));
  const partial = [];
  for await (const b of hashBlocks(fresh, { from: 4 * 64 * KiB, to: 6 * 64 * KiB })) {
    partial.push(b.index);
  }
  assert.deepEqual(partial, [4, 5]);
  await fresh.close();
});

/**
 * The next writev of any file (small group commits are written with writevSync) fails with
 * `err`, as a full or broken file system would. Returns the restore function.
 */
async function failNextWrite(dir: string, err: () => Error): Promise<() => void> {
  const probe = await open(join(dir, 'probe'), 'w');
  // write: the outbox's O_DIRECT appends; writev: its buffered ones (tmpfs).
  const proto = Object.getPrototypeOf(probe) as Record<'write' | 'writev', unknown>;
  await probe.close();
  const { write, writev } = proto;
  const writevSync = fs.writevSync;
  const restore = (): void => {
    proto.write = write;
    proto.writev = writev;
    fs.writevSync = writevSync;
    syncBuiltinESMExports();
  };
  const failOnce = (): never => {
    restore();
    throw err();
  };
  proto.write = failOnce;
  proto.writev = failOnce;
  fs.writevSync = failOnce;
  syncBuiltinESMExports();
  return restore;
}

const noSpace = (): Error =>
  Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });

test('an outbox write error does not fail the VM: the write lands, its region is dirty, bitmap mode', async () => {
  const dir = await tempDir();
  for (const id of ['d0', 'd1']) await createSparseFile(join(dir, `${id}.raw`), 4 * MiB);
  const rig = await openRig(dir, { limitBytes: 64 * MiB });
  await rig.tap.write('d0', 0, randomBytes(4096));
  const faults: string[] = [];
  rig.source.on('fault', (err) => faults.push(err.message));
  const restore = await failNextWrite(dir, noSpace);
  const data = randomBytes(8192);
  try {
    await rig.tap.write('d1', 64 * KiB, data);
  } finally {
    restore();
  }
  assert.equal(rig.source.mode, 'bitmap');
  assert.match(faults[0] ?? '', /ENOSPC/);
  assert.ok(rig.source.bitmap('d1').isDirty(1), 'the region of the lost record is dirty');
  assert.ok((await rig.tap.read('d1', 64 * KiB, 8192)).equals(data));
  await rig.tap.write('d1', 0, Buffer.alloc(512, 1));
  assert.ok(rig.source.bitmap('d1').isDirty(0));
  assert.throws(() => rig.source.insertCheckpoint(), /ENOSPC/);
  await rig.source.close();
  // Reopened, the outbox holds what was written before the error, and the mode persists.
  const again = await openRig(dir, { limitBytes: 64 * MiB });
  assert.equal(again.source.mode, 'bitmap');
  assert.equal(again.source.outbox.lastSeq, 1);
  await again.source.close();
  await again.tap.close();
  await rig.tap.close();
});

test('a full outbox disk: the reserve is given up for the switch, and once there is room the outbox takes records again with the lost seqs', async () => {
  const dir = await tempDir();
  for (const id of ['d0', 'd1']) await createSparseFile(join(dir, `${id}.raw`), 4 * MiB);
  const rig = await openRig(dir, { limitBytes: 64 * MiB });
  const reserve = join(outboxDir(dir, 'vpg-1'), 'reserve');
  assert.equal((await stat(reserve)).size, MiB, 'a reserve is held while all is well');
  await rig.tap.write('d0', 0, randomBytes(4096)); // seq 1
  const restore = await failNextWrite(dir, noSpace);
  try {
    await rig.tap.write('d1', 64 * KiB, randomBytes(8192)); // seq 2: lost, its region dirty
  } finally {
    restore();
  }
  assert.equal(rig.source.mode, 'bitmap');
  assert.deepEqual(rig.source.status().outboxFailed?.noSpace, true);
  await assert.rejects(stat(reserve), /ENOENT/, 'the reserve made room for the state files');
  await rig.tap.write('d1', 0, Buffer.alloc(512, 1)); // bitmap mode: no seq

  assert.equal(await rig.source.recoverOutbox(), 1);
  assert.equal(rig.source.status().outboxFailed, undefined);
  assert.equal((await stat(reserve)).size, MiB, 'the reserve is back');
  assert.equal(rig.source.mode, 'bitmap', 'the regions written meanwhile still need a resync');
  await rig.source.resumeStreaming();
  const data = randomBytes(4096);
  await rig.tap.write('d0', 128 * KiB, data);
  assert.equal(rig.source.outbox.lastSeq, 2, 'the lost seq is handed out again');
  // The checkpoint is readable once its group commit is durable (no request waits for it).
  const readable = once(rig.source.outbox, 'readable');
  assert.equal(rig.source.insertCheckpoint('after'), 3);
  assert.deepEqual(await readable, [3]);
  const seqs = (await rig.source.outbox.read(1, MiB)).map(
    (b) => (decodeRecord(b) as { record: StreamRecord }).record.seq,
  );
  assert.deepEqual(seqs, [1, 2, 3], 'the outbox is gapless');
  await rig.source.close();
  await rig.tap.close();
});

test('a failed fdatasync is not undone in place: the outbox waits for a restart', async () => {
  const dir = await tempDir();
  for (const id of ['d0', 'd1']) await createSparseFile(join(dir, `${id}.raw`), 4 * MiB);
  // 'fdatasync' commits: the group commit's own fdatasync fails.
  const rig = await openRig(dir, { limitBytes: 64 * MiB, commit: 'fdatasync' });
  await rig.tap.write('d0', 0, randomBytes(4096));
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: (...args: unknown[]) => unknown };
  await probe.close();
  const datasync = proto.datasync;
  proto.datasync = () => {
    proto.datasync = datasync;
    return Promise.reject(noSpace());
  };
  try {
    await rig.tap.write('d1', 0, randomBytes(4096));
  } finally {
    proto.datasync = datasync;
  }
  assert.equal(rig.source.mode, 'bitmap');
  assert.equal(rig.source.status().outboxFailed?.noSpace, false);
  await assert.rejects(rig.source.recoverOutbox(), /restart the agent/);
  await rig.source.close();
  await rig.tap.close();
});

test('a write arriving while streaming resumes waits for the switch: it is sequenced, not a bitmap-mode write a resync could miss', async () => {
  const dir = await tempDir();
  for (const id of ['d0', 'd1']) await createSparseFile(join(dir, `${id}.raw`), 8 * MiB);
  const rig = await openRig(dir);
  for (let n = 0; rig.source.mode === 'queue'; n += 1) {
    await rig.tap.write('d0', (n % 16) * 64 * KiB, randomBytes(64 * KiB));
  }
  await rig.source.release(rig.source.outbox.readableSeq());
  const lastSeq = rig.source.outbox.lastSeq;
  // In the same tick as the resume: before, this write went to the bitmap (marked, written,
  // no record) while the mode file was being saved, so it could still be in flight when the
  // resync read its region; the resync then cleared the mark and the write was never sent.
  const resumed = rig.source.resumeStreaming();
  const data = randomBytes(4096);
  const written = rig.tap.write('d1', 5 * MiB, data);
  await Promise.all([resumed, written]);
  assert.equal(rig.source.mode, 'queue');
  assert.equal(rig.source.outbox.lastSeq, lastSeq + 1, 'the write is a record');
  assert.equal(rig.source.bitmap('d1').count, 0, 'and marked nothing');
  const [record] = (await rig.source.outbox.read(lastSeq + 1, MiB)).map(
    (b) => (decodeRecord(b) as { record: StreamRecord }).record,
  );
  assert.ok(record?.kind === 'write' && record.data.equals(data));
  // Checkpoints are taken again once the switch is over (still inconsistent: the resync).
  assert.equal(rig.source.insertCheckpoint('after'), lastSeq + 2);
  await rig.source.close();
  await rig.tap.close();
});
