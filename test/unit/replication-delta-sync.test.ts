import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { Journal } from '../../agent/journal/journal';
import { batches, deltaSync } from '../../agent/replication/delta-sync';
import {
  HashesParamsSchema,
  answerHashes,
  type HashesResult,
  type TargetHashes,
} from '../../agent/replication/hash-control';
import { decodeRecord, type StreamRecord } from '../../agent/replication/record';
import { resyncDisk, seedDisk, type SyncControl } from '../../agent/replication/region-sync';
import { blockDigests, differingRuns } from '../../agent/source/block-hasher';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import type { DiskFile } from '../../agent/tap/disk-file';
import { DiskTap } from '../../agent/tap/disk-tap';

/**
 * Delta sync against a REAL journal at the target: the source's outbox is pumped into a Journal
 * (as the link would), the target's hashes are the journal's view as of the seq the source
 * asks (answerHashes, as vpg.hashes answers), and the oracle is the source disk file itself:
 * once everything is pumped, the journal's view at its last seq must equal it byte for byte.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 64 * KiB;
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Rig {
  readonly dir: string;
  readonly tap: DiskTap;
  readonly source: VpgSource;
  readonly disk: DiskFile;
  readonly journal: Journal;
  /** Moves every readable outbox record into the journal until it holds `seq`. */
  pumpUntil(seq: number): Promise<void>;
  /** The target's hashes over the journal; `requests` counts what the source asked. */
  readonly target: TargetHashes & { requests: number; maxInFlight: number };
  close(): Promise<void>;
}

/**
 * One source disk with `content`, and a journal whose replica starts as `replica` (a pre-seeded
 * copy) — or sparse zeros when undefined.
 */
async function rig(size: number, content: Buffer, replica?: Buffer): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-delta-'));
  dirs.push(dir);
  const path = join(dir, 'd0.raw');
  await createSparseFile(path, size);
  const h = await open(path, 'r+');
  await h.write(content, 0, content.length, 0);
  await h.close();
  const replicaPath = join(dir, 'replicas', 'd0.raw');
  if (replica !== undefined) {
    await mkdir(join(dir, 'replicas'), { recursive: true });
    await writeFile(replicaPath, replica);
  }
  const tap = new DiskTap();
  const disk = await tap.attach('d0', path);
  const source = new VpgSource({
    vpgId: 'vpg-delta',
    dir: outboxDir(dir, 'vpg-delta'),
    disks: [disk],
    limitBytes: 1024 * MiB,
    segmentBytes: 4 * MiB,
    checkpointIntervalMs: 0,
  });
  await source.open();
  await tap.protect('d0', source);
  const journal = await Journal.open({
    dir: join(dir, 'journal'),
    vpgId: 'vpg-delta',
    disks: [{ diskId: 'd0', sizeBytes: size, replicaPath }],
    segmentBytes: 4 * MiB,
    historyMs: 3600_000,
    hardLimitBytes: 1024 ** 4,
    warningBytes: 1024 ** 3,
  });
  let pumping = Promise.resolve();
  const pumpOnce = async (): Promise<void> => {
    const bufs = await source.outbox.read(journal.lastSeq + 1, 8 * MiB);
    if (bufs.length > 0) await journal.appendEncoded(bufs);
  };
  const pumpUntil = async (seq: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (journal.lastSeq < seq) {
      // One pump at a time, as the link delivers in order.
      pumping = pumping.then(pumpOnce);
      await pumping;
      if (journal.lastSeq >= seq) return;
      if (Date.now() > deadline) throw new Error(`record ${seq} never became readable`);
      await sleep(1);
    }
  };
  let inFlight = 0;
  const target = {
    requests: 0,
    maxInFlight: 0,
    async hashes(params: unknown): Promise<HashesResult> {
      const parsed = HashesParamsSchema.parse(params); // what travels must pass the contract
      target.requests += 1;
      inFlight += 1;
      target.maxInFlight = Math.max(target.maxInFlight, inFlight);
      try {
        await sleep(2); // a link with some latency
        return await answerHashes(
          { waitFor: (seq) => pumpUntil(seq), readAsOf: (d, e, s) => journal.readAsOf(d, e, s) },
          parsed,
        );
      } finally {
        inFlight -= 1;
      }
    },
  };
  return {
    dir,
    tap,
    source,
    disk,
    journal,
    pumpUntil,
    target,
    close: async () => {
      await source.close();
      await tap.close();
      await journal.close();
    },
  };
}

const control: SyncControl = { signal: new AbortController().signal, pace: async () => undefined };

async function records(source: VpgSource, fromSeq = 1): Promise<StreamRecord[]> {
  const bufs = await source.outbox.read(fromSeq, Number.MAX_SAFE_INTEGER);
  return bufs.map((b) => {
    const d = decodeRecord(b);
    assert.equal(d.status, 'ok');
    return (d as { record: StreamRecord }).record;
  });
}

/** Everything sequenced reaches the journal; its view at the end must equal the source disk. */
async function assertConverged(r: Rig, size: number): Promise<void> {
  await r.pumpUntil(r.source.status().lastSeq);
  const [view] = await r.journal.readAsOf('d0', [{ offset: 0, length: size }], r.journal.lastSeq);
  const disk = await readFile(r.disk.path);
  assert.equal(view?.length, size);
  if (!(view as Buffer).equals(disk)) {
    const first = [...disk].findIndex((b, i) => b !== (view as Buffer)[i]);
    assert.fail(`the target's view differs from the source disk from byte ${first}`);
  }
}

test('digests and differing runs: only differing blocks, adjacent ones joined', () => {
  const a = Buffer.alloc(5 * BLOCK);
  a.fill(1, 0, BLOCK);
  const b = Buffer.from(a);
  b[2 * BLOCK + 5] = 9;
  b[3 * BLOCK] = 9;
  const da = blockDigests(a, BLOCK);
  assert.equal(da[0]?.length, 44);
  assert.equal(da[1], null, 'a zero block has no hash');
  const runs = differingRuns(10 * BLOCK, a.length, BLOCK, da, blockDigests(b, BLOCK));
  assert.deepEqual(runs, [{ offset: 12 * BLOCK, length: 2 * BLOCK }]);
  assert.deepEqual(
    [
      ...batches(
        [
          { offset: 0, length: 10 * MiB },
          { offset: 20 * MiB, length: MiB },
        ],
        4 * MiB,
      ),
    ].map((b) => b.map((e) => [e.offset / MiB, e.length / MiB])),
    [
      [[0, 4]],
      [[4, 4]],
      [
        [8, 2],
        [20, 1],
      ],
    ],
  );
});

test('a pre-seeded replica that differs in a few blocks: only those blocks are sent', async () => {
  const size = 8 * MiB;
  const content = randomBytes(size);
  content.fill(0, 6 * MiB, 7 * MiB); // a zero stretch at the source…
  const replica = Buffer.from(content);
  const changed = [3, 40, 41, 120]; // blocks where the source moved on since the copy
  for (const block of changed) replica.fill(0xee, block * BLOCK, block * BLOCK + 100);
  replica.fill(7, 6 * MiB + BLOCK, 6 * MiB + 2 * BLOCK); // …that the copy has data in (block 97)
  const r = await rig(size, content, replica);
  const progress = { records: 0, dataBytes: 0, scannedBytes: 0 };
  await seedDisk(r.source, r.disk, control, progress, r.target);
  const sent = await records(r.source);
  assert.deepEqual(
    sent.map((x) => [x.kind, x.kind === 'checkpoint' ? 0 : x.offset / BLOCK]),
    [
      ['seed', 3],
      ['seed', 40],
      ['zero', 97],
      ['seed', 120],
    ],
    'adjacent blocks 40 and 41 go as one seed; the zero block as a zero record',
  );
  assert.equal(progress.dataBytes, 4 * BLOCK, 'bytes sent');
  assert.equal(progress.scannedBytes, size, 'bytes examined');
  assert.equal(r.target.requests, 2, '8 MiB in 4 MiB hash requests');
  await assertConverged(r, size);
  await r.close();
});

test('writes racing with the compare (pre-seeded initial sync) end up correct', async () => {
  const size = 8 * MiB;
  const content = randomBytes(size);
  const replica = Buffer.from(content);
  for (let block = 0; block < size / BLOCK; block += 3) {
    replica.writeUInt8((replica.readUInt8(block * BLOCK + 17) + 1) & 0xff, block * BLOCK + 17);
  }
  const r = await rig(size, content, replica);
  // Slow disk reads and writes, so requests overlap the compare's reads and seeds.
  const jitter = (fn: 'pwrite' | 'pread'): void => {
    const original = r.disk[fn].bind(r.disk) as (...args: never[]) => Promise<unknown>;
    (r.disk as unknown as Record<string, unknown>)[fn] = async (...args: never[]) => {
      await sleep(Math.random() * 2);
      return original(...args);
    };
  };
  jitter('pwrite');
  jitter('pread');
  const progress = { records: 0, dataBytes: 0, scannedBytes: 0 };
  const sync = seedDisk(r.source, r.disk, control, progress, r.target, {
    batchBytes: 1 * MiB,
    depth: 3,
  });
  let writing = true;
  const writes: Promise<void>[] = [];
  const pump = (async () => {
    while (writing) {
      await r.pumpUntil(r.source.status().lastSeq).catch(() => undefined);
      await sleep(3);
    }
  })();
  for (let i = 0; i < 600; i += 1) {
    const length = 4 * KiB * (1 + Math.floor(Math.random() * 32));
    const offset = 4 * KiB * Math.floor(Math.random() * ((size - length) / (4 * KiB)));
    const kind = Math.random();
    if (kind < 0.8) writes.push(r.tap.write('d0', offset, randomBytes(length)));
    else if (kind < 0.9) writes.push(r.tap.zero('d0', offset, length));
    else writes.push(r.tap.trim('d0', offset, length));
    if (i % 10 === 9) await sleep(1);
  }
  await Promise.all([sync, ...writes]);
  writing = false;
  await pump;
  assert.ok(progress.dataBytes < size, `not everything was sent (${progress.dataBytes})`);
  assert.equal(r.target.maxInFlight, 3, 'hash requests were pipelined');
  await assertConverged(r, size);
  await r.close();
});

test('resync compares dirty regions: equal ones are cleared unsent, differing ones are sent', async () => {
  const size = 4 * MiB;
  const content = randomBytes(size);
  // The target has it all already, except at two dirty blocks and one clean one.
  const replica = Buffer.from(content);
  replica.fill(1, 5 * BLOCK, 5 * BLOCK + 100);
  replica.fill(1, 30 * BLOCK + 1000, 30 * BLOCK + 1100);
  replica.fill(1, 50 * BLOCK, 50 * BLOCK + 100); // not dirty: left alone
  const r = await rig(size, content, replica);
  const bitmap = r.source.bitmap('d0');
  await bitmap.mark(0, 2 * MiB);
  const progress = { records: 0, dataBytes: 0, scannedBytes: 0 };
  await resyncDisk(r.source, 'd0', control, progress, r.target);
  assert.equal(bitmap.count, 0, 'every dirty region cleared');
  assert.deepEqual(
    (await records(r.source)).map((x) => [x.kind, x.kind === 'checkpoint' ? 0 : x.offset / BLOCK]),
    [
      ['seed', 5],
      ['seed', 30],
    ],
  );
  assert.equal(progress.scannedBytes, 2 * MiB);
  assert.equal(progress.dataBytes, 2 * BLOCK);
  await r.close();
});

test('a target applied past the asked seq: the extents are sent whole', async () => {
  const size = 2 * MiB;
  const content = randomBytes(size);
  const r = await rig(size, content, Buffer.from(content));
  const gone: TargetHashes = {
    hashes: async (p) => {
      HashesParamsSchema.parse(p);
      return { appliedPast: p.atSeq + 10 };
    },
  };
  const progress = { records: 0, dataBytes: 0, scannedBytes: 0 };
  await deltaSync(r.source, 'd0', [{ offset: MiB, length: 3 * BLOCK }], gone, control, progress);
  const sent = await records(r.source);
  assert.deepEqual(
    sent.map((x) => [x.kind, x.kind === 'checkpoint' ? 0 : x.offset]),
    [['seed', MiB]],
  );
  assert.equal(progress.dataBytes, 3 * BLOCK);
  await r.close();
});

test('the journal answers appliedPast once its replica moved past the seq', async () => {
  const size = 1 * MiB;
  const r = await rig(size, randomBytes(size));
  await r.tap.write('d0', 0, randomBytes(4 * KiB));
  await r.tap.write('d0', 8 * KiB, randomBytes(4 * KiB));
  await r.pumpUntil(2);
  await r.journal.applyUpTo(2);
  const view = { waitFor: async () => undefined, readAsOf: r.journal.readAsOf.bind(r.journal) };
  const params = { vpgId: 'vpg-delta', diskId: 'd0', blockBytes: BLOCK };
  const extents = [{ offset: 0, length: BLOCK }];
  assert.deepEqual(await answerHashes(view, { ...params, atSeq: 1, extents }), { appliedPast: 2 });
  const ok = await answerHashes(view, { ...params, atSeq: 2, extents });
  assert.ok('hashes' in ok && ok.hashes[0]?.length === 1);
  await r.close();
});

test('copy of a source disk as pre-seed: nothing but the compare travels', async () => {
  const size = 4 * MiB;
  const content = randomBytes(size);
  const r = await rig(size, content, Buffer.from(content));
  const progress = { records: 0, dataBytes: 0, scannedBytes: 0 };
  await seedDisk(r.source, r.disk, control, progress, r.target);
  assert.equal(progress.records, 0);
  assert.equal(progress.dataBytes, 0);
  await r.close();
});
