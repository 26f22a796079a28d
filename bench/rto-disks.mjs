#!/usr/bin/env node
// RTO of recovered disks does not grow with disk size (agent/recovery/README.md): a journal
// holding --mib MiB of 64 KiB writes spread over a 4 GiB disk, and the same over a 16 GiB disk
// (sparse replicas). Timed: opening the recovery disk set at the latest checkpoint (pin, view
// index, overlay and block map) and reading every journal-written extent once through the
// recovered disk. The 4 GiB run is the anchor; the figure is the ratio 16 GiB / 4 GiB (aim
// <= 1.2). Each size runs --rounds times, alternating; the best runs are compared (the
// machine is shared: the best is the least disturbed), medians are printed beside them.
// Usage: node --import tsx bench/rto-disks.mjs [--mib 256] [--rounds 3] [--dir DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Journal } from '../agent/journal/journal.ts';
import { RecoveryDiskService } from '../agent/recovery/recovery-disks.ts';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '5' },
    dir: { type: 'string' },
  },
});
const GiB = 1024 ** 3;
const RECORD = 64 * 1024;
const journalBytes = Number(values.mib) * 1024 * 1024;
const rounds = Number(values.rounds);
const base = mkdtempSync(join(values.dir ?? tmpdir(), 'tideline-bench-rto-'));
const quiet = { warn: () => undefined, info: () => undefined };

const payload = Buffer.alloc(RECORD);
for (let i = 0; i + 4 <= RECORD; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);

/** A journal of `journalBytes` of writes at seeded random 4 KiB-aligned offsets of the disk. */
async function buildJournal(dir, diskBytes) {
  const journal = await Journal.open({
    dir: join(dir, 'journal', 'bench'),
    vpgId: 'bench',
    disks: [{ diskId: 'd0', sizeBytes: diskBytes, replicaPath: join(dir, 'replica-d0.raw') }],
    historyMs: 365 * 24 * 3600_000,
    hardLimitBytes: 64 * GiB,
    warningBytes: 64 * GiB,
    log: quiet,
  });
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const count = Math.floor(journalBytes / RECORD);
  const extents = [];
  let seq = 0;
  for (let done = 0; done < count;) {
    const batch = [];
    for (let i = 0; i < 64 && done < count; i += 1, done += 1) {
      const offset = Math.floor(random() * ((diskBytes - RECORD) / 4096)) * 4096;
      extents.push(offset);
      seq += 1;
      batch.push({
        vpgId: 'bench',
        seq,
        sourceTime: Date.now(),
        kind: 'write',
        diskId: 'd0',
        offset,
        data: payload,
      });
    }
    await journal.append(batch);
  }
  seq += 1;
  await journal.append([{ vpgId: 'bench', seq, sourceTime: Date.now(), kind: 'checkpoint' }]);
  extents.sort((a, b) => a - b);
  return { journal, checkpoint: seq, extents };
}

/** Open the set at C and read every written extent once through the recovered disk. */
async function timeRecovery(dir, diskBytes, built, round) {
  const service = new RecoveryDiskService({
    dataDir: dir,
    journalOf: () => built.journal,
    nbdSocketPath: undefined,
    log: quiet,
  });
  const buf = Buffer.allocUnsafe(RECORD);
  const started = performance.now();
  const set = await service.open({
    failoverId: `bench-${round}`,
    vpgId: 'bench',
    checkpointSeq: built.checkpoint,
    disks: [{ sourceDiskId: 'd0', diskId: `rec-${round}`, sizeBytes: diskBytes }],
  });
  const opened = performance.now();
  const disk = set.disks[0];
  for (const offset of built.extents) await disk.read(offset, RECORD, buf);
  const done = performance.now();
  if (!buf.equals(payload)) throw new Error('a recovered extent does not hold the journal data');
  await set.discard();
  return { openMs: opened - started, readMs: done - opened, totalMs: done - started };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sizes = [4 * GiB, 16 * GiB];
const results = new Map(sizes.map((s) => [s, []]));
const journals = new Map();
try {
  for (const size of sizes) {
    const dir = join(base, `${size / GiB}g`);
    const t = performance.now();
    journals.set(size, { dir, built: await buildJournal(dir, size) });
    console.log(
      `journal over ${size / GiB} GiB: ${values.mib} MiB of records in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
  }
  for (let round = 0; round < rounds; round += 1) {
    for (const size of round % 2 === 0 ? sizes : [...sizes].reverse()) {
      const { dir, built } = journals.get(size);
      results.get(size).push(await timeRecovery(dir, size, built, round));
    }
  }
  const summary = (size) => {
    const r = results.get(size);
    const fastest = r.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
    return { ...fastest, medianMs: median(r.map((x) => x.totalMs)) };
  };
  const small = summary(4 * GiB);
  const large = summary(16 * GiB);
  for (const [name, s] of [
    ['4 GiB', small],
    ['16 GiB', large],
  ]) {
    console.log(
      `${name.padEnd(6)} disk: best open ${s.openMs.toFixed(1)} ms + read ${s.readMs.toFixed(1)} ms = ${s.totalMs.toFixed(1)} ms (median ${s.medianMs.toFixed(1)} ms)`,
    );
  }
  const ratio = large.totalMs / small.totalMs;
  console.log(
    `ratio 16 GiB / 4 GiB: ${ratio.toFixed(2)} (aim <= 1.2; medians ${(large.medianMs / small.medianMs).toFixed(2)})`,
  );
} finally {
  for (const { built } of journals.values()) await built.journal.close();
  await rm(base, { recursive: true, force: true });
  rmSync(base, { recursive: true, force: true });
}
