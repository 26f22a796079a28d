import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TidelineError } from '../../app/errors';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { decodeRecord, type StreamRecord } from '../../agent/replication/record';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import { DiskTap } from '../../agent/tap/disk-tap';
import type { DiskFile } from '../../agent/tap/disk-file';

const MiB = 1024 * 1024;
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Rig {
  readonly dir: string;
  readonly tap: DiskTap;
  readonly source: VpgSource;
  readonly disks: DiskFile[];
  close(): Promise<void>;
}

async function rig(diskIds: string[], sizeBytes: number, protect = true): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-tap-'));
  dirs.push(dir);
  const tap = new DiskTap();
  const disks: DiskFile[] = [];
  for (const id of diskIds) {
    const path = join(dir, `${id}.raw`);
    await createSparseFile(path, sizeBytes);
    disks.push(await tap.attach(id, path));
  }
  const source = new VpgSource({
    vpgId: 'vpg-1',
    dir: outboxDir(dir, 'vpg-1'),
    disks,
    limitBytes: 1024 * MiB,
    segmentBytes: 256 * 1024,
    checkpointIntervalMs: 0,
  });
  await source.open();
  if (protect) for (const id of diskIds) await tap.protect(id, source);
  return {
    dir,
    tap,
    source,
    disks,
    close: async () => {
      await source.close();
      await tap.close();
    },
  };
}

/** Every record the outbox can hand to the sender, decoded, in seq order. */
async function outboxRecords(source: VpgSource): Promise<StreamRecord[]> {
  const bufs = await source.outbox.read(source.outbox.firstSeq, Number.MAX_SAFE_INTEGER);
  return bufs.map((b) => {
    const d = decodeRecord(b);
    assert.equal(d.status, 'ok');
    return (d as { record: StreamRecord }).record;
  });
}

/** Random extra latency before each disk write, so parallel writes land out of order. */
function jitterDiskWrites(disk: DiskFile, maxMs: number): void {
  const pwrite = disk.pwrite.bind(disk);
  disk.pwrite = async (data, offset) => {
    await sleep(Math.random() * maxMs);
    return pwrite(data, offset);
  };
}

function replay(records: readonly StreamRecord[], sizes: ReadonlyMap<string, number>) {
  const images = new Map([...sizes].map(([id, size]) => [id, Buffer.alloc(size)]));
  for (const r of records) {
    if (r.kind === 'checkpoint') continue;
    const image = images.get(r.diskId);
    assert.ok(image, `record of unknown disk ${r.diskId}`);
    if (r.kind === 'write' || r.kind === 'seed') r.data.copy(image, r.offset);
    else if (r.kind === 'zero' || r.kind === 'trim') image.fill(0, r.offset, r.offset + r.length);
  }
  return images;
}

test('a write issued after another resolved gets a higher seq, across two disks', async () => {
  const r = await rig(['d0', 'd1'], 4 * MiB);
  jitterDiskWrites(r.disks[0] as DiskFile, 2);
  const order: string[] = [];
  // Sequential: each write starts after the previous one resolved, alternating disks.
  for (let i = 0; i < 40; i += 1) {
    const disk = `d${i % 2}`;
    await r.tap.write(disk, i * 4096, Buffer.alloc(4096, i + 1));
    order.push(`${disk}@${i * 4096}`);
  }
  // Waves: every write of wave w+1 starts after all of wave w resolved.
  const waves: string[][] = [];
  for (let w = 0; w < 5; w += 1) {
    const wave = Array.from({ length: 8 }, (_, k) => ({
      disk: `d${k % 2}`,
      offset: MiB + (w * 8 + k) * 8192,
    }));
    await Promise.all(wave.map((x) => r.tap.write(x.disk, x.offset, randomBytes(8192))));
    waves.push(wave.map((x) => `${x.disk}@${x.offset}`));
  }
  const records = await outboxRecords(r.source);
  const seqOf = new Map<string, number>();
  for (const rec of records) {
    if (rec.kind === 'write') seqOf.set(`${rec.diskId}@${rec.offset}`, rec.seq);
  }
  const sequential = order.map((k) => seqOf.get(k) ?? -1);
  assert.deepEqual(
    sequential,
    [...sequential].sort((a, b) => a - b),
    'sequential writes keep their order',
  );
  assert.ok(sequential.every((s) => s > 0));
  for (let w = 1; w < waves.length; w += 1) {
    const prevMax = Math.max(...(waves[w - 1] as string[]).map((k) => seqOf.get(k) ?? Infinity));
    const curMin = Math.min(...(waves[w] as string[]).map((k) => seqOf.get(k) ?? -Infinity));
    assert.ok(curMin > prevMax, `wave ${w} starts after wave ${w - 1} (${curMin} > ${prevMax})`);
  }
  // Seqs are gap-free from 1.
  assert.deepEqual(
    records.map((x) => x.seq),
    records.map((_, i) => i + 1),
  );
  await r.close();
});

test('concurrent writes to the same region: the disk equals the replay of the outbox in seq order', async () => {
  const size = 1 * MiB;
  const r = await rig(['d0', 'd1'], size);
  for (const d of r.disks) jitterDiskWrites(d, 3);
  const hot = 128 * 1024; // every request lands in the first 128 KiB: heavy overlap
  const ops: Promise<void>[] = [];
  for (let i = 0; i < 300; i += 1) {
    const disk = `d${i % 2}`;
    const length = 512 * (1 + Math.floor(Math.random() * 64));
    const offset = 512 * Math.floor(Math.random() * ((hot - length) / 512));
    const pick = Math.random();
    if (pick < 0.1) ops.push(r.tap.zero(disk, offset, length));
    else if (pick < 0.15) ops.push(r.tap.trim(disk, offset, length));
    else ops.push(r.tap.write(disk, offset, randomBytes(length)));
    if (i % 50 === 49) await sleep(1); // let some complete while others are issued
  }
  await Promise.all(ops);
  const records = await outboxRecords(r.source);
  assert.equal(records.length, 300);
  const images = replay(
    records,
    new Map([
      ['d0', size],
      ['d1', size],
    ]),
  );
  for (const disk of r.disks) {
    const onDisk = await readFile(disk.path);
    assert.ok(onDisk.equals(images.get(disk.diskId) as Buffer), `${disk.diskId} == replay`);
  }
  await r.close();
});

test('an unprotected disk is written directly; nothing is sequenced', async () => {
  const r = await rig(['d0'], 1 * MiB, false);
  const data = randomBytes(8192);
  await r.tap.write('d0', 4096, data, { fua: true });
  await r.tap.flush();
  assert.ok((await r.tap.read('d0', 4096, 8192)).equals(data));
  assert.equal(r.source.outbox.lastSeq, 0);
  await r.close();
});

test('FUA, flush, reads, and refused extents of a protected disk', async () => {
  const r = await rig(['d0'], 1 * MiB);
  const data = randomBytes(65536);
  await r.tap.write('d0', 0, data, { fua: true });
  await r.tap.zero('d0', 4096, 4096, { fua: true });
  await r.tap.flush();
  const expected = Buffer.from(data);
  expected.fill(0, 4096, 8192);
  assert.ok((await r.tap.read('d0', 0, 65536)).equals(expected));
  assert.equal(r.source.outbox.durableSeq, 2);
  await assert.rejects(
    r.tap.write('d0', MiB - 512, Buffer.alloc(1024)),
    (err: unknown) => err instanceof TidelineError && err.code === 'INVALID_PARAMS',
  );
  await assert.rejects(
    r.tap.write('nope', 0, Buffer.alloc(512)),
    (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
  );
  assert.equal(r.source.outbox.lastSeq, 2, 'refused requests take no seq');
  await r.close();
});
