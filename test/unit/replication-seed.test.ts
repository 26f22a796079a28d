import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TidelineError } from '../../app/errors';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { resyncDisk, seedDisk, type SyncControl } from '../../agent/replication/region-sync';
import { decodeRecord, type StreamRecord } from '../../agent/replication/record';
import { seedParts } from '../../agent/source/seed-region';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import type { DiskFile } from '../../agent/tap/disk-file';
import { DiskTap } from '../../agent/tap/disk-tap';

const MiB = 1024 * 1024;
const KiB = 1024;
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Rig {
  readonly tap: DiskTap;
  readonly source: VpgSource;
  readonly disks: DiskFile[];
  close(): Promise<void>;
}

/** Two disks, partly written BEFORE protection (what initial sync must copy). */
async function rig(size: number, prefill: (path: string) => Promise<void>): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-seed-'));
  dirs.push(dir);
  const tap = new DiskTap();
  const disks: DiskFile[] = [];
  for (const id of ['d0', 'd1']) {
    const path = join(dir, `${id}.raw`);
    await createSparseFile(path, size);
    await prefill(path);
    disks.push(await tap.attach(id, path));
  }
  const source = new VpgSource({
    vpgId: 'vpg-seed',
    dir: outboxDir(dir, 'vpg-seed'),
    disks,
    limitBytes: 1024 * MiB,
    segmentBytes: 1 * MiB,
    checkpointIntervalMs: 0,
  });
  await source.open();
  for (const d of disks) await tap.protect(d.diskId, source);
  return {
    tap,
    source,
    disks,
    close: async () => {
      await source.close();
      await tap.close();
    },
  };
}

async function records(source: VpgSource): Promise<StreamRecord[]> {
  const bufs = await source.outbox.read(source.outbox.firstSeq, Number.MAX_SAFE_INTEGER);
  return bufs.map((b) => {
    const d = decodeRecord(b);
    assert.equal(d.status, 'ok');
    return (d as { record: StreamRecord }).record;
  });
}

/** The replica's view: zeros, then every record in seq order. */
function replay(all: readonly StreamRecord[], size: number): Map<string, Buffer> {
  const images = new Map([
    ['d0', Buffer.alloc(size)],
    ['d1', Buffer.alloc(size)],
  ]);
  for (const r of all) {
    if (r.kind === 'checkpoint') continue;
    const image = images.get(r.diskId) as Buffer;
    if (r.kind === 'write' || r.kind === 'seed') r.data.copy(image, r.offset);
    else if (r.kind === 'zero' || r.kind === 'trim') image.fill(0, r.offset, r.offset + r.length);
  }
  return images;
}

function jitter(disk: DiskFile, maxMs: number): void {
  const pwrite = disk.pwrite.bind(disk);
  disk.pwrite = async (data, offset) => {
    await sleep(Math.random() * maxMs);
    return pwrite(data, offset);
  };
  const pread = disk.pread.bind(disk);
  disk.pread = async (offset, length, into) => {
    await sleep(Math.random() * maxMs);
    return pread(offset, length, into);
  };
}

const control: SyncControl = { signal: new AbortController().signal, pace: async () => undefined };

test('seedParts: non-zero runs become seeds; zero runs are skipped or zero records', () => {
  const data = Buffer.alloc(256 * KiB);
  data.fill(1, 64 * KiB, 128 * KiB);
  data.fill(2, 192 * KiB + 100, 192 * KiB + 200);
  const skip = seedParts(data, 1 * MiB, { zeroBlocks: 'skip' });
  assert.deepEqual(
    skip.map((p) => [p.kind, p.offset, p.kind === 'seed' ? p.data.length : p.length]),
    [
      ['seed', MiB + 64 * KiB, 64 * KiB],
      ['seed', MiB + 192 * KiB, 64 * KiB],
    ],
  );
  const zero = seedParts(data, 0, { zeroBlocks: 'zero' });
  assert.deepEqual(
    zero.map((p) => [p.kind, p.offset]),
    [
      ['zero', 0],
      ['seed', 64 * KiB],
      ['zero', 128 * KiB],
      ['seed', 192 * KiB],
    ],
  );
});

test('initial sync during concurrent writes: the replay of the stream equals the disks', async () => {
  const size = 4 * MiB;
  const r = await rig(size, async (path) => {
    const h = await open(path, 'r+');
    // Data in the first 2 MiB (some of it overwritten by the VM below), zeros after.
    for (let at = 0; at < 2 * MiB; at += 256 * KiB)
      await h.write(randomBytes(96 * KiB), 0, 96 * KiB, at);
    await h.close();
  });
  for (const d of r.disks) jitter(d, 2);
  r.source.setInconsistent(true);
  const progress = { records: 0, dataBytes: 0 };
  const seeding = Promise.all(r.disks.map((d) => seedDisk(r.source, d, control, progress)));
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 400; i += 1) {
    const disk = `d${i % 2}`;
    const length = 4 * KiB * (1 + Math.floor(Math.random() * 16));
    const offset = 4 * KiB * Math.floor(Math.random() * ((2 * MiB - length) / (4 * KiB)));
    writes.push(r.tap.write(disk, offset, randomBytes(length)));
    if (i % 20 === 19) await sleep(1);
  }
  await Promise.all([seeding, ...writes]);
  r.source.setInconsistent(false);
  const all = await records(r.source);
  const seeds = all.filter((x) => x.kind === 'seed');
  assert.ok(seeds.length > 0 && progress.dataBytes > 0, 'seed records were sent');
  assert.ok(
    seeds.every((x) => x.kind === 'seed' && x.offset < 2 * MiB),
    'all-zero chunks (past 2 MiB) were skipped',
  );
  assert.deepEqual(
    all.map((x) => x.seq),
    all.map((_, i) => i + 1),
  );
  const images = replay(all, size);
  for (const d of r.disks) {
    assert.ok((await readFile(d.path)).equals(images.get(d.diskId) as Buffer), `${d.diskId}`);
  }
  await r.close();
});

test('a write to a region being seeded is sequenced after the seed', async () => {
  const r = await rig(1 * MiB, async (path) => {
    const h = await open(path, 'r+');
    await h.write(Buffer.alloc(64 * KiB, 7), 0, 64 * KiB, 0);
    await h.close();
  });
  const disk = r.disks[0] as DiskFile;
  // Hold the seed's read until a write to the same place has been issued.
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const pread = disk.pread.bind(disk);
  disk.pread = async (offset, length, into) => {
    await gate;
    return pread(offset, length, into);
  };
  const seeded = r.source.seed('d0', 0, 64 * KiB, { zeroBlocks: 'skip' });
  await sleep(5);
  const write = r.tap.write('d0', 4 * KiB, Buffer.alloc(4 * KiB, 9));
  await sleep(5);
  assert.equal(r.source.status().lastSeq, 0, 'the write waits before taking a seq');
  release();
  await Promise.all([seeded, write]);
  const all = await records(r.source);
  assert.deepEqual(
    all.map((x) => x.kind),
    ['seed', 'write'],
  );
  const seed = all[0] as StreamRecord & { kind: 'seed' };
  assert.ok(seed.data.equals(Buffer.alloc(64 * KiB, 7)), 'the seed carries the data before it');
  const image = replay(all, 1 * MiB).get('d0') as Buffer;
  assert.ok((await readFile(disk.path)).equals(image));
  await r.close();
});

test('resync sends dirty regions as they are (zeros included) and clears them', async () => {
  const r = await rig(1 * MiB, async () => undefined);
  const bitmap = r.source.bitmap('d1');
  await bitmap.mark(128 * KiB, 192 * KiB);
  await r.tap.write('d1', 192 * KiB, Buffer.alloc(64 * KiB, 5));
  const before = (await records(r.source)).length;
  await resyncDisk(r.source, 'd1', control, { records: 0, dataBytes: 0 });
  assert.equal(bitmap.count, 0);
  const sent = (await records(r.source)).slice(before);
  assert.deepEqual(
    sent.map((x) => [x.kind, x.kind === 'checkpoint' ? 0 : x.offset]),
    [
      ['zero', 128 * KiB],
      ['seed', 192 * KiB],
      ['zero', 256 * KiB],
    ],
  );
  await r.close();
});

test('seeding is refused outside queue mode and for unknown disks', async () => {
  const r = await rig(1 * MiB, async () => undefined);
  await assert.rejects(
    r.source.seed('nope', 0, 4096, { zeroBlocks: 'skip' }),
    (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
  );
  await assert.rejects(
    r.source.seed('d0', MiB - 1024, 4096, { zeroBlocks: 'skip' }),
    (err: unknown) => err instanceof TidelineError && err.code === 'INVALID_PARAMS',
  );
  await r.close();
});
