import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { WorkloadGenerator } from '../../agent/hypervisor/sim/workload';
import { ChangeFigures } from '../../agent/replication/change-figures';
import {
  ChangeSignal,
  HIGH_ENTROPY_BITS,
  LowBlockMemory,
  SIGNAL_BLOCK_BYTES,
  histogramEntropy,
  sampledBlockEntropy,
} from '../../agent/replication/change-signal';
import { CHANGE_FILE, MEMORY_FILE } from '../../agent/replication/change-store';
import type { StreamRecord } from '../../agent/replication/record';
import type { Tap } from '../../agent/tap/tap';
import { CheckpointChangeSchema } from '../../app/protocol';
import { VPG, diskSpecs, openJournal, tempDir } from './journal-fixture';

const B = SIGNAL_BLOCK_BYTES;
const MiB = 1024 * 1024;
const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });

/** Blocks the sim workload writes with `content`, captured from a tap. */
async function workloadBlocks(content: 'random' | 'text', bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const unused = (): never => {
    throw new Error('not used');
  };
  const tap = {
    write: (_disk: string, _offset: number, data: Buffer) => {
      chunks.push(Buffer.from(data));
      total += data.length;
      return Promise.resolve();
    },
    zero: unused,
    trim: unused,
    flush: () => Promise.resolve(),
    read: unused,
    diskSize: () => 64 * MiB,
  } as unknown as Tap;
  const generator = new WorkloadGenerator({ tap, seed: `signal-${content}`, tickMs: 5 });
  generator.addVm('vm', [{ diskId: 'd', sizeBytes: 64 * MiB }], {
    bytesPerSecond: 64 * MiB,
    mix: { '4096': 1, '65536': 1 },
    content,
  });
  generator.start();
  while (total < bytes) await new Promise((r) => setTimeout(r, 5));
  await generator.stop();
  const all = Buffer.concat(chunks);
  return all.subarray(0, Math.floor(all.length / B) * B);
}

function blockEntropies(data: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + B <= data.length; at += B) out.push(sampledBlockEntropy(data, at));
  return out;
}

/** A record without its place in the stream (distributed over the kinds). */
type Bare<R = StreamRecord> = R extends StreamRecord
  ? Omit<R, 'seq' | 'vpgId' | 'sourceTime'>
  : never;

let seqCounter = 0;
const rec = {
  write: (diskId: string, offset: number, data: Buffer, kind: 'write' | 'seed' = 'write') =>
    ({ vpgId: VPG, seq: ++seqCounter, sourceTime: 1, kind, diskId, offset, data }) as const,
  extent: (kind: 'zero' | 'trim', diskId: string, offset: number, length: number) =>
    ({ vpgId: VPG, seq: ++seqCounter, sourceTime: 1, kind, diskId, offset, length }) as const,
  checkpoint: () => ({ vpgId: VPG, seq: ++seqCounter, sourceTime: 1, kind: 'checkpoint' }) as const,
};

function textBlocks(n: number): Buffer {
  const words = ['the', 'replica', 'journal', 'of', 'a', 'checkpoint', 'disk', 'written', 'and'];
  let s = '';
  let i = 0;
  while (s.length < n * B) s += `${words[(i * 7 + (i >> 3)) % words.length] as string} ${i++} `;
  return Buffer.from(s.slice(0, n * B), 'latin1');
}

describe('entropy estimate of a 4 KiB block from its 512-byte sample', () => {
  it('tells random data (and the random workload) from text, the text workload and zeros', async () => {
    const random = blockEntropies(randomBytes(2000 * B));
    const min = Math.min(...random);
    const mean = random.reduce((a, b) => a + b, 0) / random.length;
    // The plug-in estimate's bias for 512 samples of 256 symbols (measured: 7.59 ± 0.034).
    assert.ok(Math.abs(mean - 7.59) < 0.02, `random mean ${mean}`);
    assert.ok(min > HIGH_ENTROPY_BITS + 0.2, `every random block is high: min ${min}`);

    const simRandom = blockEntropies(await workloadBlocks('random', 2 * MiB));
    assert.ok(Math.min(...simRandom) >= HIGH_ENTROPY_BITS, 'the random workload is high');

    const simText = blockEntropies(await workloadBlocks('text', 2 * MiB));
    const textMax = Math.max(...simText);
    assert.ok(textMax < 5.5, `the text workload is low: max ${textMax}`);

    assert.ok(Math.max(...blockEntropies(textBlocks(64))) < 5.5, 'text is low');
    assert.equal(sampledBlockEntropy(Buffer.alloc(B), 0), 0, 'zeros: 0 bits');
    const b64 = Buffer.from(
      randomBytes(64 * B)
        .toString('base64')
        .slice(0, 64 * B),
      'latin1',
    );
    assert.ok(Math.max(...blockEntropies(b64)) <= 6.01, 'base64 stays at most 6 bits');
  });

  it('the whole block and its sample agree on random data (the sample is biased low)', () => {
    const block = randomBytes(B);
    const whole = histogramEntropy(block, 0, B);
    assert.ok(whole > 7.9, `whole block ${whole}`);
    assert.ok(whole - sampledBlockEntropy(block, 0) < 0.5);
  });

  it('never exceeds log2 of the distinct bytes in the sample, nor 8 (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: B, maxLength: B }),
        fc.integer({ min: 1, max: 256 }),
        (bytes, symbols) => {
          const block = Buffer.from(bytes.map((b) => b % symbols));
          const h = sampledBlockEntropy(block, 0);
          return h >= 0 && h <= Math.log2(symbols) + 1e-9 && h <= 8;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a block encrypted only in part is still high when most of it is (the sample spans it)', () => {
    const block = Buffer.concat([textBlocks(1).subarray(0, B / 8), randomBytes((B * 7) / 8)]);
    assert.ok(sampledBlockEntropy(block, 0) >= HIGH_ENTROPY_BITS);
  });
});

describe('change signal per checkpoint interval', () => {
  const disks = [
    { diskId: 'a', sizeBytes: 64 * MiB },
    { diskId: 'b', sizeBytes: 64 * MiB },
  ];

  it('seeds teach the baseline without counting; turned-high needs a low block before', () => {
    const signal = new ChangeSignal(disks);
    assert.equal(signal.add(rec.write('a', 0, textBlocks(8), 'seed')), undefined);
    const first = signal.add(rec.checkpoint());
    assert.deepEqual(first?.disks[0], {
      diskId: 'a',
      writtenBytes: 0,
      writtenBlocks: 0,
      highEntropyBlocks: 0,
      turnedHighBlocks: 0,
    });
    // 4 blocks over seeded text (turned high), 2 over never-seen blocks (high, not turned).
    signal.add(rec.write('a', 2 * B, randomBytes(4 * B)));
    signal.add(rec.write('a', 20 * B, randomBytes(2 * B)));
    signal.add(rec.write('b', 0, textBlocks(3)));
    const second = signal.add(rec.checkpoint());
    assert.equal(second?.partial, undefined);
    assert.deepEqual(second?.disks, [
      {
        diskId: 'a',
        writtenBytes: 6 * B,
        writtenBlocks: 6,
        highEntropyBlocks: 6,
        turnedHighBlocks: 4,
      },
      {
        diskId: 'b',
        writtenBytes: 3 * B,
        writtenBlocks: 3,
        highEntropyBlocks: 0,
        turnedHighBlocks: 0,
      },
    ]);
    // High over high is not a turn; low again then high is.
    signal.add(rec.write('a', 2 * B, randomBytes(B)));
    signal.add(rec.write('a', 3 * B, textBlocks(1)));
    signal.add(rec.write('a', 3 * B, randomBytes(B)));
    const third = signal.add(rec.checkpoint());
    assert.equal(third?.disks[0]?.highEntropyBlocks, 2);
    assert.equal(third?.disks[0]?.turnedHighBlocks, 1);
    assert.ok(CheckpointChangeSchema.safeParse(third).success);
  });

  it('unaligned writes: bytes counted, only whole blocks classified', () => {
    const signal = new ChangeSignal(disks);
    signal.add(rec.write('a', 512, randomBytes(2 * B))); // covers block 1 whole, 0 and 2 in part
    signal.add(rec.write('a', 8 * B, randomBytes(512))); // no whole block
    const change = signal.add(rec.checkpoint());
    assert.equal(change?.disks[0]?.writtenBytes, 2 * B + 512);
    assert.equal(change?.disks[0]?.writtenBlocks, 1);
    assert.equal(change?.disks[0]?.highEntropyBlocks, 1);
  });

  it('zero records are low writes; trim forgets', () => {
    const signal = new ChangeSignal(disks);
    signal.add(rec.extent('zero', 'a', 0, 16 * B));
    signal.add(rec.extent('trim', 'a', 8 * B, 8 * B));
    signal.add(rec.write('a', 0, randomBytes(16 * B)));
    const change = signal.add(rec.checkpoint());
    assert.equal(change?.disks[0]?.writtenBytes, 32 * B);
    assert.equal(change?.disks[0]?.turnedHighBlocks, 8, 'the zeroed half, not the trimmed one');
  });

  it('a disk too large for the cap groups blocks; a large write still counts in full', () => {
    const memory = new LowBlockMemory(1024 ** 4);
    assert.equal(memory.shift, 2, '1 TiB: 4 blocks a bit');
    memory.set(3, true);
    assert.equal(memory.bytes, 64 * 1024, 'one page allocated');
    assert.ok(new LowBlockMemory(256 * 1024 ** 3).shift === 0, '256 GiB: a bit a block');

    const signal = new ChangeSignal([{ diskId: 'a', sizeBytes: 1024 * B }], { maxBits: 64 });
    assert.equal(signal.memoryOf('a')?.shift, 4);
    signal.add(rec.write('a', 0, textBlocks(64), 'seed'));
    signal.add(rec.write('a', 0, randomBytes(64 * B)));
    assert.equal(signal.add(rec.checkpoint())?.disks[0]?.turnedHighBlocks, 64);
  });
});

describe('checkpoint figures beside the journal', () => {
  it('are kept with the checkpoints across a clean close, and marked partial after a crash', async () => {
    const root = await tempDir();
    const specs = diskSpecs(root, [4 * MiB]);
    const signalDisks = specs.map((d) => ({ diskId: d.diskId, sizeBytes: d.sizeBytes }));
    let seq = 0;
    const next = (r: Bare): StreamRecord =>
      ({ ...r, vpgId: VPG, seq: ++seq, sourceTime: 1_700_000_000_000 + seq }) as StreamRecord;

    const open = async () => {
      const fed: { figures?: ChangeFigures } = {};
      const journal = await openJournal(root, specs, {
        onAppended: (records) => fed.figures?.measure(records),
      });
      const figures = await ChangeFigures.open(journal, signalDisks, log);
      fed.figures = figures;
      return { journal, figures };
    };

    let { journal, figures } = await open();
    await journal.append([
      next({ kind: 'seed', diskId: 'disk-0', offset: 0, data: textBlocks(32) }),
      next({ kind: 'checkpoint', inconsistent: true }),
      next({ kind: 'write', diskId: 'disk-0', offset: 0, data: textBlocks(4) }),
      next({ kind: 'checkpoint' }),
      next({ kind: 'write', diskId: 'disk-0', offset: 8 * B, data: randomBytes(8 * B) }),
    ]);
    await figures.close();
    await journal.close();

    // A clean close: the memory and the open interval's counts carry over.
    ({ journal, figures } = await open());
    await journal.append([
      next({ kind: 'write', diskId: 'disk-0', offset: 16 * B, data: randomBytes(8 * B) }),
      next({ kind: 'checkpoint' }),
    ]);
    const [, plain, rise] = journal.checkpoints().map((c) => figures.of(c.seq));
    assert.deepEqual(plain?.disks[0], {
      diskId: 'disk-0',
      writtenBytes: 4 * B,
      writtenBlocks: 4,
      highEntropyBlocks: 0,
      turnedHighBlocks: 0,
    });
    assert.equal(rise?.partial, undefined);
    assert.equal(rise?.disks[0]?.writtenBlocks, 16);
    assert.equal(rise?.disks[0]?.turnedHighBlocks, 16);

    // A crash (no close of the figures): no memory file, the next interval is partial and
    // the figures already written are still read.
    await journal.append([
      next({ kind: 'write', diskId: 'disk-0', offset: 24 * B, data: randomBytes(B) }),
    ]);
    await new Promise((r) => setTimeout(r, 50)); // the appends of the figures
    await journal.close();
    const lines = (await readFile(join(journal.dir, CHANGE_FILE), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 3);
    await writeFile(join(journal.dir, CHANGE_FILE), `${lines.join('\n')}\n{"seq": 9, "cha`);
    ({ journal, figures } = await open());
    await journal.append([
      next({ kind: 'write', diskId: 'disk-0', offset: 28 * B, data: randomBytes(B) }),
      next({ kind: 'checkpoint' }),
    ]);
    const all = journal.checkpoints().map((c) => figures.of(c.seq));
    assert.equal(all.length, 4);
    assert.equal(all[2]?.disks[0]?.turnedHighBlocks, 16, 'read back after the crash');
    assert.equal(all[3]?.partial, true);
    assert.equal(all[3]?.disks[0]?.turnedHighBlocks, 0, 'no memory of block 28 being low');
    await figures.close();
    await journal.close();
    await readFile(join(journal.dir, MEMORY_FILE)); // saved at the clean close
  });
});
