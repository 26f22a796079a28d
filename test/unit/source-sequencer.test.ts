import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import {
  decodeRecord,
  type CheckpointRecord,
  type StreamRecord,
} from '../../agent/replication/record';
import { Sequencer } from '../../agent/source/sequencer';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import { DiskTap } from '../../agent/tap/disk-tap';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('sequencer: increasing seqs from firstSeq, injected clock, checkpoint records', () => {
  const seen: CheckpointRecord[] = [];
  let now = 1000;
  const seq = new Sequencer({
    vpgId: 'v',
    firstSeq: 42,
    clock: () => now,
    checkpointIntervalMs: 0,
    onCheckpoint: (r) => seen.push(r),
  });
  assert.deepEqual(seq.next(), { seq: 42, sourceTime: 1000 });
  now = 2000;
  assert.equal(seq.insertCheckpoint('named'), 43);
  seq.inconsistent = true;
  assert.equal(seq.insertCheckpoint(), 44);
  assert.equal(seq.lastSeq, 44);
  assert.deepEqual(seen, [
    { vpgId: 'v', seq: 43, sourceTime: 2000, kind: 'checkpoint', name: 'named' },
    { vpgId: 'v', seq: 44, sourceTime: 2000, kind: 'checkpoint', inconsistent: true },
  ]);
  // The outbox lost the appends after 42: their seqs are handed out again, never later ones.
  assert.throws(() => seq.rewindTo(45), RangeError);
  seq.rewindTo(42);
  assert.equal(seq.next().seq, 43);
  assert.throws(() => new Sequencer({ vpgId: 'v', firstSeq: 0, onCheckpoint: () => undefined }));
});

async function records(source: VpgSource): Promise<StreamRecord[]> {
  // Checkpoints become readable once their append completed (insertCheckpoint returns at once).
  while (source.outbox.readableSeq() < source.outbox.lastSeq) await sleep(2);
  return (await source.outbox.read(source.outbox.firstSeq, 1 << 30)).map(
    (b) => (decodeRecord(b) as { record: StreamRecord }).record,
  );
}

test('checkpoints every interval and on demand, in seq order with the writes; restart continues', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-seq-'));
  dirs.push(dir);
  await createSparseFile(join(dir, 'd0.raw'), 1024 * 1024);
  const open = async (): Promise<{ tap: DiskTap; source: VpgSource }> => {
    const tap = new DiskTap();
    const disk = await tap.attach('d0', join(dir, 'd0.raw'));
    const source = new VpgSource({
      vpgId: 'vpg-1',
      dir: outboxDir(dir, 'vpg-1'),
      disks: [disk],
      limitBytes: 1 << 30,
      checkpointIntervalMs: 40,
      clock: () => 1_700_000_000_000,
    });
    await source.open();
    await tap.protect('d0', source);
    return { tap, source };
  };
  const { tap, source } = await open();
  const started = Date.now();
  for (let i = 0; i < 10; i += 1) {
    await tap.write('d0', i * 4096, Buffer.alloc(4096, i));
    await sleep(30);
  }
  const named = source.insertCheckpoint('before upgrade');
  assert.equal(named, source.outbox.lastSeq, 'the seq is returned at once (already queued)');
  source.setInconsistent(true);
  const seeding = source.insertCheckpoint();
  const all = await records(source);
  // Measured after reading: the timer keeps running while the records are read.
  const elapsed = Date.now() - started;
  const automatic = all.filter(
    (r) => r.kind === 'checkpoint' && r.name === undefined && r.seq !== seeding,
  );
  const expected = Math.floor(elapsed / 40);
  assert.ok(
    // A loaded host may run a timer late, never early.
    automatic.length >= Math.floor(expected / 2) && automatic.length <= expected + 1,
    `${automatic.length} automatic checkpoints in ${elapsed} ms at 40 ms`,
  );
  assert.ok(all.filter((r) => r.kind === 'write').length === 10);
  assert.deepEqual(
    all.map((r) => r.seq),
    all.map((_, i) => i + 1),
    'writes and checkpoints share one gap-free sequence',
  );
  const byName = all.find((r) => r.seq === named);
  assert.deepEqual(byName, {
    vpgId: 'vpg-1',
    seq: named,
    sourceTime: 1_700_000_000_000,
    kind: 'checkpoint',
    name: 'before upgrade',
  });
  const incon = all.find((r) => r.seq === seeding);
  assert.equal(incon?.kind === 'checkpoint' && incon.inconsistent, true);
  const last = source.outbox.lastSeq;
  await source.close();
  await tap.close();

  // A restart continues after the highest seq; nothing is reused.
  const again = await open();
  await again.tap.write('d0', 0, Buffer.alloc(512, 9));
  const after = await records(again.source);
  assert.equal(after.find((r) => r.seq > last)?.seq, last + 1);
  assert.ok(after.some((r) => r.kind === 'write' && r.seq > last));
  await again.source.close();
  await again.tap.close();
});
