/**
 * Shared pieces of the journal tests: temp directories, a seeded random workload of
 * write/seed/zero/trim records with checkpoints, and the ORACLE — an in-memory model of every
 * disk, replayed in seq order, that each point-in-time view must equal byte for byte.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { Prng } from '../../agent/hypervisor/sim/prng';
import { Journal, type JournalOptions } from '../../agent/journal/journal';
import type { ReplicaDiskSpec } from '../../agent/journal/replica';
import type { StreamRecord } from '../../agent/replication/record';

const temps: string[] = [];
after(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-journal-'));
  temps.push(dir);
  return dir;
}

export const VPG = 'vpg-1';
export const T0 = 1_700_000_000_000;

export function diskSpecs(root: string, sizes: readonly number[]): ReplicaDiskSpec[] {
  return sizes.map((sizeBytes, i) => ({
    diskId: `disk-${i}`,
    sizeBytes,
    replicaPath: join(root, 'replicas', `disk-${i}.raw`),
  }));
}

export function openJournal(
  root: string,
  disks: readonly ReplicaDiskSpec[],
  overrides: Partial<JournalOptions> = {},
): Promise<Journal> {
  return Journal.open({
    dir: join(root, 'journal', VPG),
    vpgId: VPG,
    disks,
    segmentBytes: 256 * 1024,
    historyMs: 365 * 24 * 3600_000,
    hardLimitBytes: 1024 ** 4,
    warningBytes: 1024 ** 4,
    ...overrides,
  });
}

export interface WorkloadOptions {
  readonly disks: readonly ReplicaDiskSpec[];
  readonly records: number;
  readonly checkpointEvery: number;
  readonly maxWrite?: number;
  /** Source time step per record (ms). */
  readonly stepMs?: number;
}

/**
 * Generates records continuing after `from` (its last seq and time). Writes have random,
 * unaligned offsets and lengths so pieces split and overlap in every way; zero/trim extents
 * run up to 512 KiB and once in a while cover a whole disk.
 */
export class Workload {
  readonly all: StreamRecord[] = [];
  private seq = 0;
  private time = T0;
  private readonly rng: Prng;

  constructor(
    readonly options: WorkloadOptions,
    seed = 'journal-oracle',
  ) {
    this.rng = new Prng(seed);
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The next `n` records (default options.records). */
  next(n = this.options.records): StreamRecord[] {
    const out: StreamRecord[] = [];
    const { disks, checkpointEvery, maxWrite = 64 * 1024, stepMs = 100 } = this.options;
    for (let i = 0; i < n; i += 1) {
      this.seq += 1;
      this.time += stepMs;
      const base = { vpgId: VPG, seq: this.seq, sourceTime: this.time };
      let record: StreamRecord;
      if (this.seq % checkpointEvery === 0) {
        const named = this.rng.next() < 0.2;
        record = { ...base, kind: 'checkpoint', ...(named && { name: `cp-${this.seq}` }) };
      } else {
        const disk = this.rng.pick(disks);
        const roll = this.rng.next();
        if (roll < 0.1) {
          const whole = this.rng.next() < 0.05;
          const length = whole
            ? disk.sizeBytes
            : this.rng.int(1, Math.min(512 * 1024, disk.sizeBytes));
          const offset = whole ? 0 : this.rng.int(0, disk.sizeBytes - length);
          record = {
            ...base,
            kind: roll < 0.05 ? 'zero' : 'trim',
            diskId: disk.diskId,
            offset,
            length,
          };
        } else {
          const length = this.rng.int(1, Math.min(maxWrite, disk.sizeBytes));
          const offset = this.rng.int(0, disk.sizeBytes - length);
          const data = Buffer.allocUnsafe(length);
          for (let b = 0; b + 4 <= length; b += 4) {
            data.writeUInt32LE(Math.floor(this.rng.next() * 2 ** 32), b);
          }
          data.fill(this.seq & 0xff, length - (length % 4));
          record = {
            ...base,
            kind: roll < 0.13 ? 'seed' : 'write',
            diskId: disk.diskId,
            offset,
            data,
          };
        }
      }
      out.push(record);
      this.all.push(record);
    }
    return out;
  }

  /** Splits records into append batches of 1..maxBatch, as the link would deliver them. */
  batches(records: readonly StreamRecord[], maxBatch = 24): StreamRecord[][] {
    const out: StreamRecord[][] = [];
    for (let i = 0; i < records.length;) {
      const n = this.rng.int(1, maxBatch);
      out.push(records.slice(i, i + n));
      i += n;
    }
    return out;
  }

  random(): Prng {
    return this.rng;
  }
}

/** The disks as the sequence of records leaves them: the oracle. */
export class DiskModel {
  readonly disks = new Map<string, Buffer>();
  seq = 0;

  constructor(specs: readonly ReplicaDiskSpec[]) {
    for (const d of specs) this.disks.set(d.diskId, Buffer.alloc(d.sizeBytes));
  }

  apply(record: StreamRecord): void {
    assert.equal(record.seq, this.seq + 1, 'model replays in seq order');
    this.seq = record.seq;
    if (record.kind === 'checkpoint') return;
    const disk = this.disks.get(record.diskId) as Buffer;
    if ('data' in record) record.data.copy(disk, record.offset);
    else disk.fill(0, record.offset, record.offset + record.length);
  }

  /** Replays records up to and including `seq`. */
  advance(records: readonly StreamRecord[], seq: number): void {
    while (this.seq < seq) this.apply(records[this.seq] as StreamRecord);
  }

  disk(diskId: string): Buffer {
    return this.disks.get(diskId) as Buffer;
  }
}

export function assertSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let i = 0;
  while (i < Math.min(actual.length, expected.length) && actual[i] === expected[i]) i += 1;
  assert.fail(
    `${what}: ${actual.length} vs ${expected.length} bytes, first difference at byte ${i} (${actual[i]} vs ${expected[i]})`,
  );
}

/**
 * Checks every retained checkpoint of the journal against the model: the whole disk through
 * readAt, plus random unaligned sub-ranges. Replays the model from scratch, in seq order.
 */
export async function verifyCheckpoints(
  journal: Journal,
  records: readonly StreamRecord[],
  specs: readonly ReplicaDiskSpec[],
  rng: Prng,
): Promise<number> {
  const model = new DiskModel(specs);
  let checked = 0;
  for (const c of journal.checkpoints()) {
    model.advance(records, c.seq - 1);
    for (const spec of specs) {
      const expected = model.disk(spec.diskId);
      const whole = await journal.readAt(spec.diskId, 0, spec.sizeBytes, c.seq, {
        allowInconsistent: true,
      });
      assertSameBytes(whole, expected, `disk ${spec.diskId} at checkpoint ${c.seq}`);
      for (let r = 0; r < 3; r += 1) {
        const length = rng.int(0, Math.min(200_000, spec.sizeBytes));
        const offset = rng.int(0, spec.sizeBytes - length);
        const part = await journal.readAt(spec.diskId, offset, length, c.seq);
        assertSameBytes(
          part,
          expected.subarray(offset, offset + length),
          `disk ${spec.diskId} at checkpoint ${c.seq}, ${length} bytes at ${offset}`,
        );
      }
    }
    checked += 1;
  }
  return checked;
}

export async function appendAll(
  journal: Journal,
  workload: Workload,
  records: readonly StreamRecord[],
): Promise<void> {
  for (const batch of workload.batches(records)) {
    const { lastSeq } = await journal.append(batch);
    assert.equal(lastSeq, (batch.at(-1) as StreamRecord).seq);
  }
}
