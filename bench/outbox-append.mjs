#!/usr/bin/env node
// Outbox append throughput against an anchor run in the same script, on the same filesystem:
//   anchor  — the same encoded record bytes written to a plain file, one positioned write()
//             per record with the same number of requests in flight, no fsync;
//   outbox  — Outbox.append() with group commit, in 'write' mode (writev per group) and in
//             'fdatasync' mode (writev + fdatasync per group, the default);
//   tap     — the whole protected write path (sequence, outbox append, region gate, disk
//             pwrite) against an unprotected tap write (a bare pwrite) of the same requests.
// Prints MB/s of each and the ratio to its anchor.
// Usage: node --import tsx bench/outbox-append.mjs [--mib 256] [--size 4096] [--depth 32]
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeRecord, encodedSize } from '../agent/replication/record.ts';
import { Outbox } from '../agent/source/outbox.ts';
import { VpgSource, outboxDir } from '../agent/source/vpg-source.ts';
import { DiskTap } from '../agent/tap/disk-tap.ts';
import { createSparseFile } from '../agent/hypervisor/sim/provision.ts';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    size: { type: 'string', default: '4096' },
    depth: { type: 'string', default: '32' },
  },
});
const totalBytes = Number(values.mib) * 1024 * 1024;
const size = Number(values.size);
const depth = Number(values.depth);
const count = Math.floor(totalBytes / size);
const dir = await mkdtemp(join(tmpdir(), 'tideline-bench-outbox-'));
const payload = Buffer.alloc(size, 0xa5);
const record = (seq) => ({
  vpgId: 'vpg-bench',
  seq,
  sourceTime: Date.now(),
  kind: 'write',
  diskId: 'disk-0',
  offset: ((seq * size) % (64 * 1024 * 1024)) >>> 0,
  data: payload,
});
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);

/** Runs `op(i)` for i in [0, n) with `depth` in flight; returns elapsed ms. */
async function pump(n, op) {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) await op(next++);
  };
  await Promise.all(Array.from({ length: depth }, worker));
  return performance.now() - t0;
}

async function anchorAppends() {
  const encoded = Array.from({ length: count }, (_, i) => encodeRecord(record(i + 1)));
  const file = await open(join(dir, 'anchor.dat'), 'w');
  let position = 0;
  const ms = await pump(count, async (i) => {
    const buf = encoded[i];
    const at = position;
    position += buf.length;
    await file.write(buf, 0, buf.length, at);
  });
  // Untimed: leave no dirty pages behind for the next run's fdatasyncs to flush (ext4
  // data=ordered makes a journal commit write out other files' dirty data too).
  await file.datasync();
  await file.close();
  return { bytes: position, ms };
}

async function outboxAppends(commit) {
  const box = new Outbox({
    dir: join(dir, `outbox-${commit}`),
    vpgId: 'vpg-bench',
    limitBytes: 64 * 1024 ** 3,
    commit,
  });
  await box.open();
  let bytes = 0;
  const ms = await pump(count, async (i) => {
    const r = record(i + 1);
    bytes += encodedSize(r);
    await box.append(r);
  });
  const commits = box.commitCount;
  await box.close();
  return { bytes, ms, commits };
}

async function tapWrites(protect, commit) {
  const sub = join(dir, `tap-${protect ? commit : 'raw'}`);
  const diskBytes = 256 * 1024 * 1024;
  await createSparseFile(join(sub, 'disk-0.raw'), diskBytes);
  const tap = new DiskTap();
  const disk = await tap.attach('disk-0', join(sub, 'disk-0.raw'));
  let source;
  if (protect) {
    source = new VpgSource({
      vpgId: 'vpg-bench',
      dir: outboxDir(sub, 'vpg-bench'),
      disks: [disk],
      limitBytes: 64 * 1024 ** 3,
      commit,
      checkpointIntervalMs: 5000,
    });
    await source.open();
    tap.protect('disk-0', source);
  }
  const slots = diskBytes / size;
  const ms = await pump(count, async (i) => {
    // A pseudo-random walk over the disk, the same for both runs.
    const slot = (i * 2654435761) % slots;
    await tap.write('disk-0', slot * size, payload);
  });
  await source?.close();
  await tap.close();
  return { bytes: count * size, ms };
}

try {
  console.log(
    `${count} records of ${size} data bytes (${values.mib} MiB), ${depth} in flight, in ${dir}`,
  );
  const anchor = await anchorAppends();
  const line = (name, r, base) =>
    console.log(
      `${name.padEnd(34)} ${mbps(r.bytes, r.ms).toFixed(1).padStart(8)} MB/s` +
        (base ? `   ratio ${(mbps(r.bytes, r.ms) / mbps(base.bytes, base.ms)).toFixed(2)}` : '') +
        (r.commits !== undefined ? `   (${r.commits} group commits)` : ''),
    );
  line('anchor: raw write() per record', anchor);
  line("outbox.append, 'write' commit", await outboxAppends('write'), anchor);
  line("outbox.append, 'fdatasync' commit", await outboxAppends('fdatasync'), anchor);
  const raw = await tapWrites(false);
  line('anchor: unprotected tap.write', raw);
  line("protected tap.write, 'write'", await tapWrites(true, 'write'), raw);
  line("protected tap.write, 'fdatasync'", await tapWrites(true, 'fdatasync'), raw);
} finally {
  await rm(dir, { recursive: true, force: true });
}
