#!/usr/bin/env node
// Journal append and export throughput, each against an anchor run beside it on the same disk:
//   append: Journal.append of record batches (encode + CRC, one vectored write and one
//           fdatasync per call) vs writing the same, already encoded bytes to a plain file with
//           one write and one fdatasync per batch. The ratio is the cost of the journal layer.
//   export: Journal.exportDisk of a disk whose view is entirely journal data vs copying a file
//           of the same size in 8 MiB chunks (read, write, one fsync at the end).
//   apply:  Journal.applyUpTo of every record (read back, checked, written to the replica,
//           synced) vs writing the same records' data to a plain file, one pwrite each and one
//           fsync at the end; MB/s and CPU seconds per GiB (process.cpuUsage, thread pool
//           included). `--record-kib 4` shows the small-record case.
// Virtual disks are noisy, so each side runs --rounds times, alternating, on fresh files; the
// medians are compared.
// Usage: node --import tsx bench/journal-append.mjs [--mib 128] [--record-kib 64] [--batch 16] [--rounds 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Journal } from '../agent/journal/journal.ts';
import { encodeRecord } from '../agent/replication/record.ts';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '128' },
    'record-kib': { type: 'string', default: '64' },
    batch: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    dir: { type: 'string' },
  },
});
const diskBytes = Number(values.mib) * 1024 * 1024;
const recordBytes = Number(values['record-kib']) * 1024;
const batchSize = Number(values.batch);
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(values.dir ?? tmpdir(), 'tideline-bench-journal-'));

const payload = Buffer.alloc(recordBytes);
for (let i = 0; i + 4 <= payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
const count = Math.floor(diskBytes / recordBytes);
const records = [];
for (let seq = 1; seq <= count; seq += 1) {
  const base = { vpgId: 'bench', seq, sourceTime: Date.now() };
  records.push({
    ...base,
    kind: 'write',
    diskId: 'd0',
    offset: (seq - 1) * recordBytes,
    data: payload,
  });
}
records.push({ vpgId: 'bench', seq: count + 1, sourceTime: Date.now(), kind: 'checkpoint' });
const batches = [];
for (let i = 0; i < records.length; i += batchSize) batches.push(records.slice(i, i + batchSize));
const encoded = batches.map((b) => Buffer.concat(b.map(encodeRecord))); // the anchor's bytes
const encodedBytes = encoded.reduce((n, b) => n + b.length, 0);

async function anchorAppend(path) {
  const file = await open(path, 'w');
  const started = performance.now();
  let at = 0;
  for (const buf of encoded) {
    await file.write(buf, 0, buf.length, at);
    at += buf.length;
    await file.datasync();
  }
  const seconds = (performance.now() - started) / 1000;
  await file.close();
  return seconds;
}

function openJournal(name) {
  return Journal.open({
    dir: join(dir, name),
    vpgId: 'bench',
    disks: [{ diskId: 'd0', sizeBytes: diskBytes, replicaPath: join(dir, `${name}.raw`) }],
    historyMs: 3600_000,
    hardLimitBytes: 1024 ** 4,
    warningBytes: 1024 ** 4,
  });
}

async function journalAppend(journal) {
  const started = performance.now();
  for (const batch of batches) await journal.append(batch);
  return (performance.now() - started) / 1000;
}

/** The link's path: frames as received, written without encoding again. */
async function journalAppendEncoded(journal) {
  const frames = batches.map((b) => b.map(encodeRecord)); // the wire's bytes, outside the clock
  const started = performance.now();
  for (const batch of frames) await journal.appendEncoded(batch);
  return (performance.now() - started) / 1000;
}

async function anchorCopy(from, to) {
  const src = await open(from, 'r');
  const dst = await open(to, 'w');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  const started = performance.now();
  for (let at = 0; at < diskBytes; at += buf.length) {
    const { bytesRead } = await src.read(buf, 0, buf.length, at);
    await dst.write(buf, 0, bytesRead, at);
  }
  await dst.sync();
  const seconds = (performance.now() - started) / 1000;
  await src.close();
  await dst.close();
  return seconds;
}

/** The anchor of apply: each record's data written where it belongs, then one fsync. */
async function anchorApply(path) {
  const file = await open(path, 'w');
  const started = performance.now();
  for (const record of records) {
    if (record.kind === 'write')
      await file.write(record.data, 0, record.data.length, record.offset);
  }
  await file.sync();
  const seconds = (performance.now() - started) / 1000;
  await file.close();
  return seconds;
}

/** Seconds and CPU seconds of `run`. */
async function timed(run) {
  const cpu = process.cpuUsage();
  const seconds = await run();
  const used = process.cpuUsage(cpu);
  return { seconds, cpu: (used.user + used.system) / 1e6 };
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const mbs = (bytes, seconds) => bytes / 1e6 / seconds;
const fmt = (xs) =>
  `median ${median(xs).toFixed(0)} MB/s (${xs.map((x) => x.toFixed(0)).join(', ')})`;

try {
  const append = { journal: [], anchor: [] };
  const appendEncoded = { journal: [], anchor: append.anchor };
  const exp = { journal: [], anchor: [] };
  const apply = { journal: [], anchor: [], journalCpu: [], anchorCpu: [] };
  for (let round = 0; round < rounds; round += 1) {
    const anchorPath = join(dir, 'anchor.log');
    const name = `journal-${round}`;
    const journal = await openJournal(name);
    const order = round % 2 === 0 ? ['anchor', 'journal'] : ['journal', 'anchor'];
    for (const side of order) {
      if (side === 'anchor') append.anchor.push(mbs(encodedBytes, await anchorAppend(anchorPath)));
      else append.journal.push(mbs(encodedBytes, await journalAppend(journal)));
    }
    const encodedJournal = await openJournal(`${name}-encoded`);
    appendEncoded.journal.push(mbs(encodedBytes, await journalAppendEncoded(encodedJournal)));
    await encodedJournal.close();
    const exportPath = join(dir, 'export.raw');
    const copyPath = join(dir, 'copy.raw');
    for (const side of order) {
      if (side === 'anchor')
        exp.anchor.push(mbs(diskBytes, await anchorCopy(anchorPath, copyPath)));
      else {
        const started = performance.now();
        await journal.exportDisk('d0', count + 1, exportPath);
        exp.journal.push(mbs(diskBytes, (performance.now() - started) / 1000));
      }
    }
    const applyPath = join(dir, 'apply.raw');
    for (const side of order) {
      const { seconds, cpu } = await timed(async () => {
        if (side === 'anchor') return anchorApply(applyPath);
        const started = performance.now();
        await journal.applyUpTo(count + 1);
        return (performance.now() - started) / 1000;
      });
      apply[side].push(mbs(diskBytes, seconds));
      apply[`${side}Cpu`].push(cpu / (diskBytes / 1024 ** 3));
    }
    await journal.close();
    await Promise.all(
      [
        anchorPath,
        applyPath,
        exportPath,
        copyPath,
        join(dir, name),
        join(dir, `${name}.raw`),
        join(dir, `${name}-encoded`),
        join(dir, `${name}-encoded.raw`),
      ].map((p) => rm(p, { recursive: true, force: true })),
    );
  }
  const ratio = (side) => (median(side.journal) / median(side.anchor)).toFixed(2);
  console.log(
    `append (${records.length} records of ${recordBytes / 1024} KiB, ${batchSize} per call, one fdatasync per call):`,
  );
  console.log(`  journal ${fmt(append.journal)}`);
  console.log(`  anchor  ${fmt(append.anchor)}`);
  console.log(`  ratio journal/anchor ${ratio(append)}`);
  console.log(`  appendEncoded (the link's frames, not re-encoded) ${fmt(appendEncoded.journal)}`);
  console.log(`  ratio appendEncoded/anchor ${ratio(appendEncoded)}`);
  console.log(`export (${diskBytes / 1024 / 1024} MiB disk, all of it journal data):`);
  console.log(`  journal ${fmt(exp.journal)}`);
  console.log(`  anchor  ${fmt(exp.anchor)}`);
  console.log(`  ratio journal/anchor ${ratio(exp)}`);
  const cpus = (xs) => `CPU ${median(xs).toFixed(2)} s per GiB`;
  console.log(`apply (every record to the replica, synced):`);
  console.log(`  journal ${fmt(apply.journal)}, ${cpus(apply.journalCpu)}`);
  console.log(`  anchor  ${fmt(apply.anchor)}, ${cpus(apply.anchorCpu)}`);
  console.log(`  ratio journal/anchor ${ratio(apply)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
