#!/usr/bin/env node
// Appending through the page cache vs O_DIRECT, as the journal and outbox append: 1 MiB
// positioned writes of a new file with an fdatasync every 64 MiB. Prints MiB/s and CPU
// seconds per GiB of each, and the buffered/direct CPU ratio. The question it answers is what
// the page-cache copy costs on this machine (bench/README.md, sections 8 and "Open").
//
// Usage: node bench/direct-io.mjs [--gib 4] [--dir /var/tmp]
// O_DIRECT needs a block-aligned buffer: a WebAssembly.Memory's is page-aligned (Node's
// Buffers are not), and the file system must support it (tmpfs does not).
import { closeSync, constants, fdatasyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { gib: { type: 'string', default: '4' }, dir: { type: 'string', default: '/var/tmp' } },
});
const MiB = 1024 * 1024;
const writes = Number(values.gib) * 1024;
const buffer = Buffer.from(new WebAssembly.Memory({ initial: MiB / 65536 }).buffer);
randomFillSync(buffer);

function run(label, flags) {
  const path = join(values.dir, `tideline-direct-io-${process.pid}-${label}`);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | flags);
  try {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < writes; i += 1) {
      writeSync(fd, buffer, 0, MiB, i * MiB);
      if (i % 64 === 63) fdatasyncSync(fd);
    }
    fdatasyncSync(fd);
    const cpu = process.cpuUsage(cpu0);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const perGiB = (cpu.user + cpu.system) / 1e6 / (writes / 1024);
    console.log(
      `${label.padEnd(9)} ${(writes / seconds).toFixed(0).padStart(6)} MiB/s, CPU ${perGiB.toFixed(2)} s per GiB`,
    );
    return perGiB;
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}

console.log(`${values.gib} GiB appended in 1 MiB writes, fdatasync every 64 MiB, in ${values.dir}`);
const buffered = run('buffered', 0);
const direct = run('O_DIRECT', constants.O_DIRECT);
console.log(`CPU per GiB, buffered / O_DIRECT: ${(buffered / direct).toFixed(1)}`);
