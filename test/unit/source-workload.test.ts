import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TidelineError } from '../../app/errors';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { WorkloadGenerator } from '../../agent/hypervisor/sim/workload';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import { DiskTap } from '../../agent/tap/disk-tap';
import type { Tap } from '../../agent/tap/tap';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Seen {
  readonly t: number;
  readonly diskId: string;
  readonly offset: number;
  readonly length: number;
  readonly digest: string;
}

/** A tap that keeps no data: it records what it was asked to write, and when. */
function countingTap(sizes: Record<string, number>): Tap & { seen: Seen[] } {
  const seen: Seen[] = [];
  const fail = (): never => {
    throw new Error('not used');
  };
  return {
    seen,
    write: async (diskId, offset, data) => {
      const size = sizes[diskId];
      assert.ok(
        size !== undefined && offset >= 0 && offset + data.length <= size,
        'within the disk',
      );
      assert.equal(offset % 4096, 0);
      seen.push({
        t: performance.now(),
        diskId,
        offset,
        length: data.length,
        digest: createHash('sha1').update(data).digest('hex'),
      });
    },
    zero: fail,
    trim: fail,
    flush: async () => undefined,
    read: fail,
    diskSize: (id) => sizes[id] ?? 0,
  };
}

const DISKS = [
  { diskId: 'a', sizeBytes: 4 * GiB },
  { diskId: 'b', sizeBytes: 2 * GiB },
];

function bytesBetween(seen: readonly Seen[], from: number, to: number): number {
  return seen.filter((s) => s.t >= from && s.t < to).reduce((n, s) => n + s.length, 0);
}

test('workload: measured rate within ±10% of the set rate, smooth, and changeable at run time', async () => {
  const tap = countingTap({ a: 4 * GiB, b: 2 * GiB });
  const gen = new WorkloadGenerator({ tap, seed: 'rate' });
  gen.addVm('vm-1', DISKS, { bytesPerSecond: 8 * MiB });
  gen.start();
  const t0 = performance.now();
  await sleep(3000);
  const t1 = performance.now();
  const first = bytesBetween(tap.seen, t0, t1) / ((t1 - t0) / 1000);
  assert.ok(Math.abs(first / (8 * MiB) - 1) <= 0.1, `measured ${first} B/s for 8 MiB/s`);
  const status = gen.status('vm-1');
  assert.ok(
    Math.abs(status.measuredBytesPerSecond / (8 * MiB) - 1) <= 0.1,
    `status says ${status.measuredBytesPerSecond} B/s`,
  );
  // Smooth: no 250 ms window carries much more than its share (1 MiB writes allowed for).
  for (let w = t0 + 250; w + 250 <= t1; w += 250) {
    assert.ok(bytesBetween(tap.seen, w, w + 250) <= 2 * MiB + 2 * MiB, 'no burst');
  }
  const sizes = new Set(tap.seen.map((s) => s.length));
  assert.deepEqual(
    [...sizes].sort((x, y) => x - y),
    [4096, 65536, 1048576],
  );

  // Change the rate and mix while running.
  gen.setRate('vm-1', 2 * MiB, { 4096: 0.5, 65536: 0.5 });
  const t2 = performance.now();
  await sleep(2000);
  const t3 = performance.now();
  const second = bytesBetween(tap.seen, t2 + 20, t3) / ((t3 - t2 - 20) / 1000);
  assert.ok(Math.abs(second / (2 * MiB) - 1) <= 0.1, `measured ${second} B/s for 2 MiB/s`);
  assert.ok(
    tap.seen.filter((s) => s.t > t2 + 20).every((s) => s.length <= 65536),
    'new mix',
  );
  assert.equal(gen.status('vm-1').bytesPerSecond, 2 * MiB);

  gen.pause('vm-1');
  await gen.settle('vm-1');
  const paused = tap.seen.length;
  await sleep(200);
  assert.equal(tap.seen.length, paused, 'paused: no writes');
  assert.equal(gen.status('vm-1').paused, true);
  gen.resume('vm-1');
  await sleep(200);
  assert.ok(tap.seen.length > paused, 'resumed');
  await gen.stop();
  const stopped = tap.seen.length;
  await sleep(50);
  assert.equal(tap.seen.length, stopped, 'stopped cleanly');
});

test('workload: the same seed gives the same writes; bad settings are refused', async () => {
  const run = async (seed: string): Promise<string[]> => {
    const tap = countingTap({ a: 4 * GiB, b: 2 * GiB });
    const gen = new WorkloadGenerator({ tap, seed });
    gen.addVm('vm-1', DISKS, { bytesPerSecond: 64 * MiB, locality: 0.8 });
    gen.start();
    while (tap.seen.length < 60) await sleep(10);
    await gen.stop();
    return tap.seen.slice(0, 60).map((s) => `${s.diskId}:${s.offset}:${s.length}:${s.digest}`);
  };
  const [x, y, z] = [await run('s1'), await run('s1'), await run('s2')];
  assert.deepEqual(x, y);
  assert.notDeepEqual(x, z);

  const gen = new WorkloadGenerator({ tap: countingTap({}), seed: 's' });
  const invalid = (err: unknown): boolean =>
    err instanceof TidelineError && err.code === 'INVALID_PARAMS';
  assert.throws(() => gen.addVm('v', DISKS, { bytesPerSecond: -1 }), invalid);
  assert.throws(() => gen.addVm('v', DISKS, { bytesPerSecond: 1, mix: { 1000: 1 } }), invalid);
  assert.throws(() => gen.addVm('v', DISKS, { bytesPerSecond: 1, mix: { 4096: 0 } }), invalid);
  assert.throws(() => gen.addVm('v', DISKS, { bytesPerSecond: 1, locality: 2 }), invalid);
  assert.throws(
    () => gen.setRate('nope', 1),
    (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
  );
});

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('workload through the real tap into a protected VPG', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-workload-'));
  dirs.push(dir);
  const tap = new DiskTap();
  const disks = [];
  for (const d of ['a', 'b']) {
    await createSparseFile(join(dir, `${d}.raw`), 256 * MiB);
    disks.push(await tap.attach(d, join(dir, `${d}.raw`)));
  }
  const source = new VpgSource({
    vpgId: 'vpg-1',
    dir: outboxDir(dir, 'vpg-1'),
    disks,
    limitBytes: GiB,
    checkpointIntervalMs: 0,
  });
  await source.open();
  for (const d of ['a', 'b']) await tap.protect(d, source);
  const gen = new WorkloadGenerator({ tap, seed: 'real' });
  gen.addVm(
    'vm-1',
    disks.map((d) => ({ diskId: d.diskId, sizeBytes: d.size })),
    { bytesPerSecond: 16 * MiB },
  );
  gen.start();
  await sleep(1000);
  await gen.stop();
  const status = gen.status('vm-1');
  assert.equal(status.errors, 0, status.lastError);
  assert.ok(status.bytes > 12 * MiB, `${status.bytes} bytes written in 1 s at 16 MiB/s`);
  assert.equal(source.status().bytesAccepted, status.bytes);
  assert.equal(source.outbox.appliedSeq, status.writes);
  await source.close();
  await tap.close();
});
