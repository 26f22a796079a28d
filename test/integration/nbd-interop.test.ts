import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Disk } from '../../app/protocol';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import {
  freePort,
  parseFio,
  randomFile,
  readAt,
  requireTools,
  runTool,
} from '../helpers/nbd-tools';
import { MiB, launchSite, sha256File, tail, vms, type Site } from '../helpers/replication-sites';

/**
 * The agent's NBD exports with real clients from Debian packages (issue 4): qemu-img,
 * qemu-io, nbdinfo, nbdcopy and fio's nbd engine, over the unix socket in the data directory
 * and over TCP (--nbd-listen). The disks are not protected here, so writes go straight to the
 * backing files, which the tests read directly too: a client reading back its own writes
 * through the same server proves less than the file on disk.
 */

/** Exactly the nbdcopy image: the export and the image are then byte-identical whole. */
const DISK_MIB = 256;
const DISK_BYTES = DISK_MIB * MiB;

let site: Site;
let socketPath: string;
let tcpPort: number;
let disks: Disk[];
let work: string;

function uriOf(disk: Disk): string {
  return `nbd+unix:///${disk.diskId}?socket=${socketPath}`;
}

function diskAt(index: number): Disk {
  const disk = disks[index];
  assert.ok(disk, `the sim inventory has a disk #${index}`);
  return disk;
}

before(async () => {
  requireTools(['qemu-img', 'qemu-io', 'nbdinfo', 'nbdcopy', 'fio']);
  tcpPort = await freePort();
  site = await launchSite('NBD interop', {
    diskMiB: DISK_MIB,
    runArgs: ['--nbd-listen', `127.0.0.1:${tcpPort}`],
  });
  socketPath = join(site.creds.dataDir, 'nbd.sock');
  disks = (await vms(site)).flatMap((vm) => vm.disks);
  assert.ok(disks.length >= 6, `six disks to work on (${disks.length})`);
  work = await makeTempDir('tideline-nbd-interop-');
});
after(cleanupAgents);

describe('NBD exports with real clients', { timeout: 240_000 }, () => {
  it('vm.list gives every disk its export URI; the socket is the owner’s alone (0600)', async () => {
    for (const disk of disks) {
      assert.equal(disk.exportError, undefined, `${disk.diskId}: ${disk.exportError}`);
      assert.equal(disk.exportUri, uriOf(disk));
      assert.equal(disk.sizeBytes, DISK_BYTES);
    }
    const socket = await stat(socketPath);
    assert.ok(socket.isSocket(), `${socketPath} is a unix socket`);
    assert.equal((socket.mode & 0o777).toString(8), '600');
  });

  it('qemu-img info: raw, virtual size = disk size', async () => {
    const disk = diskAt(0);
    const { stdout } = await runTool('qemu-img', ['info', '--output=json', uriOf(disk)]);
    const info = JSON.parse(stdout) as { 'virtual-size': number; format: string };
    assert.equal(info['virtual-size'], disk.sizeBytes);
    assert.equal(info.format, 'raw');
  });

  it('qemu-img convert into an export and out of it: byte-identical', async () => {
    const disk = diskAt(0);
    const image = join(work, 'convert-in.raw');
    await randomFile(image, 24 * MiB + 4096);
    await runTool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', image, uriOf(disk)]);
    const out = join(work, 'convert-out.raw');
    await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uriOf(disk), out]);
    assert.equal((await stat(out)).size, disk.sizeBytes);
    const head = await readAt(out, 0, 24 * MiB + 4096);
    assert.equal(sha256Of(head), await sha256File(image), 'the image came back out');
    assert.equal(
      await sha256File(out),
      await sha256File(disk.location),
      'what came out is the backing file',
    );
  });

  it('qemu-io writes and reads patterns (unaligned, FUA, zeroes, discard, async), checked', async () => {
    const disk = diskAt(1);
    // [pattern, offset, length, write flags]
    const writes: [number, number, number, string][] = [
      [0x11, 0, 4096, ''],
      [0x22, 4096 + 512, 512, '-f'], // FUA
      [0x33, 1000, 3000, ''], // unaligned both ends, inside the first 4 KiB
      [0x44, 5 * MiB - 7, 70_001, '-f'], // unaligned, FUA, across MiB boundary
      [0x55, 16 * MiB, 4 * MiB, ''], // large
      [0x66, DISK_BYTES - 4096, 4096, '-f'], // the last block
      [0x77, 100 * MiB + 1, 1, ''], // one byte
    ];
    const commands: string[] = [];
    for (const [pattern, offset, length, flags] of writes) {
      commands.push('-c', `write -q ${flags} -P 0x${pattern.toString(16)} ${offset} ${length}`);
    }
    commands.push('-c', 'write -z 32M 64k', '-c', 'discard 40M 64k');
    commands.push('-c', `aio_write -P 0x99 ${48 * MiB} 64k`);
    commands.push('-c', `aio_write -P 0x9a ${48 * MiB + 64 * 1024} 64k`);
    commands.push('-c', 'aio_flush', '-c', 'flush');
    // What each byte should now be, newest write last.
    const expect: [number, number, number][] = [
      [0x11, 0, 1000],
      [0x33, 1000, 3000],
      [0x11, 4000, 96],
      [0x22, 4096 + 512, 512],
      [0x44, 5 * MiB - 7, 70_001],
      [0x55, 16 * MiB, 4 * MiB],
      [0x66, DISK_BYTES - 4096, 4096],
      [0x77, 100 * MiB + 1, 1],
      [0x00, 32 * MiB, 64 * 1024],
      [0x00, 40 * MiB, 64 * 1024],
      [0x99, 48 * MiB, 64 * 1024],
      [0x9a, 48 * MiB + 64 * 1024, 64 * 1024],
    ];
    const prefill = ['-c', 'write -P 0xee 32M 64k', '-c', 'write -P 0xee 40M 64k'];
    await runQemuIo(disk, [...prefill, ...commands]);
    const reads: string[] = [];
    for (const [pattern, offset, length] of expect) {
      reads.push('-c', `read -P 0x${pattern.toString(16)} ${offset} ${length}`);
    }
    // Around the writes: untouched bytes read as zeros.
    reads.push('-c', 'read -P 0 4096 512', '-c', `read -P 0 ${100 * MiB} 1`);
    const { stdout } = await runQemuIo(disk, reads);
    assert.equal(
      (stdout.match(/^read \d+\/\d+ bytes/gm) ?? []).length,
      expect.length + 2,
      `every read was done:\n${stdout}`,
    );
    // The same bytes in the backing file.
    for (const [pattern, offset, length] of expect) {
      const bytes = await readAt(disk.location, offset, length);
      assert.ok(
        bytes.equals(Buffer.alloc(length, pattern)),
        `backing file: 0x${pattern.toString(16)} at ${offset}+${length}`,
      );
    }
  });

  it('nbdinfo --list lists every export; nbdinfo of one gives size, block sizes, flags', async () => {
    const list = JSON.parse(
      (await runTool('nbdinfo', ['--list', '--json', `nbd+unix:///?socket=${socketPath}`])).stdout,
    ) as { exports: { 'export-name': string }[] };
    assert.deepEqual(
      list.exports.map((e) => e['export-name']).sort(),
      disks.map((d) => d.diskId).sort(),
    );
    const disk = diskAt(0);
    const { stdout } = await runTool('nbdinfo', ['--json', uriOf(disk)]);
    const info = (JSON.parse(stdout) as { exports: Record<string, unknown>[] }).exports[0];
    assert.ok(info, stdout);
    assert.equal(info['export-name'], disk.diskId);
    assert.equal(info['export-size'], disk.sizeBytes);
    assert.equal(info['block_size_minimum'], 512);
    assert.equal(info['block_size_preferred'], 4096);
    assert.equal(info['block_size_maximum'], 32 * MiB);
    for (const flag of ['can_flush', 'can_fua', 'can_trim', 'can_zero']) {
      assert.equal(info[flag], true, `${flag}: ${stdout}`);
    }
    assert.equal(info['is_read_only'], false);
  });

  it('nbdcopy of a random 256 MiB image into an export and back: byte-identical', async (t) => {
    const disk = diskAt(2);
    const image = join(work, 'nbdcopy-in.raw');
    await randomFile(image, DISK_BYTES);
    const started = Date.now();
    await runTool('nbdcopy', ['--flush', image, uriOf(disk)]);
    const inMs = Date.now() - started;
    const out = join(work, 'nbdcopy-out.raw');
    await runTool('nbdcopy', [uriOf(disk), out]);
    const outMs = Date.now() - started - inMs;
    const expected = await sha256File(image);
    assert.equal(await sha256File(out), expected, 'the image came back out');
    assert.equal(await sha256File(disk.location), expected, 'the backing file is the image');
    const rate = (ms: number): string => `${((DISK_BYTES / MiB / ms) * 1000).toFixed(0)} MiB/s`;
    t.diagnostic(`nbdcopy 256 MiB: in ${rate(inMs)}, out ${rate(outMs)}`);
  });

  it('fio (ioengine=nbd): random writes with crc32c, then a verify pass', async () => {
    const disk = diskAt(3);
    const job = [
      '--name=nbd-verify',
      '--ioengine=nbd',
      `--uri=${uriOf(disk)}`,
      '--rw=randwrite',
      '--bsrange=4k-64k',
      '--size=48m',
      '--iodepth=16',
      '--verify=crc32c',
      '--output-format=json',
    ];
    // Writes, verified by fio as it goes at the end of the job.
    const written = parseFio((await runTool('fio', [...job, '--do_verify=1'])).stdout)[0];
    assert.ok(written, 'fio reported its job');
    assert.equal(written.error, 0);
    assert.ok(written.write.io_bytes >= 48 * MiB, `fio wrote ${written.write.io_bytes} bytes`);
    // A separate pass over the same blocks, on a new connection.
    const verified = parseFio(
      (await runTool('fio', [...job, '--verify_only', '--verify_fatal=1'])).stdout,
    )[0];
    assert.ok(verified);
    assert.equal(verified.error, 0);
    assert.ok(verified.read.io_bytes >= 48 * MiB, `fio verified ${verified.read.io_bytes} bytes`);
  });

  it('over TCP (--nbd-listen 127.0.0.1:PORT): qemu-io and nbdinfo', async () => {
    const disk = diskAt(4);
    const uri = `nbd://127.0.0.1:${tcpPort}/${disk.diskId}`;
    const { stdout } = await runTool('nbdinfo', ['--json', uri]);
    const info = (JSON.parse(stdout) as { exports: Record<string, unknown>[] }).exports[0];
    assert.equal(info?.['export-size'], disk.sizeBytes);
    await runQemuIo(disk, ['-c', 'write -f -P 0x5a 1M 128k', '-c', 'read -P 0x5a 1M 128k'], uri);
    const bytes = await readAt(disk.location, MiB, 128 * 1024);
    assert.ok(bytes.equals(Buffer.alloc(128 * 1024, 0x5a)), 'the TCP write is in the backing file');
  });

  it('a disk whose guest stored an image in it (a qcow2 header in sector 0) is still served', async () => {
    const disk = diskAt(5);
    const qcow2 = join(work, 'guest-data.qcow2');
    await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '16M']);
    // The container's bytes, written as data: what `dd if=x.qcow2 of=/dev/vdb` in a guest does.
    await runTool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', qcow2, uriOf(disk)]);
    const listed = (await vms(site))
      .flatMap((vm) => vm.disks)
      .find((d) => d.diskId === disk.diskId);
    assert.equal(listed?.exportError, undefined, 'vm.list still offers the export');
    const { stdout } = await runTool('qemu-img', [
      'info',
      '-f',
      'raw',
      '--output=json',
      uriOf(disk),
    ]);
    assert.equal((JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'], DISK_BYTES);
  });

  it('the agent is still up', () => {
    assert.equal(site.agent.process.exitCode, null, tail(site));
  });
});

/** qemu-io on the export; fails if any command failed (pattern mismatch included). */
async function runQemuIo(
  disk: Disk,
  commands: readonly string[],
  uri = uriOf(disk),
): Promise<{ stdout: string }> {
  // -d unmap: without it qemu drops discards before they reach the server.
  const result = await runTool('qemu-io', ['-d', 'unmap', '-f', 'raw', uri, ...commands]);
  const text = result.stdout + result.stderr;
  assert.doesNotMatch(text, /failed|error/i, `qemu-io reported a failure:\n${text}`);
  return result;
}

function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
