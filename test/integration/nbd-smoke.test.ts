import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Vm } from '../../app/protocol';
import {
  cleanupAgents,
  connectRaw,
  initAgent,
  startAgent,
  type RunningAgent,
} from '../helpers/agents';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** A real client's command; fails the test with its output on a non-zero exit. */
async function client(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 60_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    assert.fail(
      `${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
  }
}

async function fileBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const out = Buffer.alloc(length);
    await handle.read(out, 0, length, offset);
    return out;
  } finally {
    await handle.close();
  }
}

/**
 * The first smoke test of the agent's NBD server with the Debian clients (qemu-img, qemu-io,
 * nbdinfo): one real agent process, its sim disks exported on DIR/nbd.sock and on TCP.
 */
describe('NBD server: real clients against a real agent', () => {
  let agent: RunningAgent;
  let dataDir: string;
  let disks: Vm['disks'];
  let tcpPort: number;

  before(async () => {
    const init = await initAgent({ site: 'NBD', args: ['--sim-disk-mib', '64'] });
    dataDir = init.dataDir;
    agent = await startAgent({ dataDir, args: ['--nbd-listen', '0'] });
    const line = await agent.waitForLog((l) => l.msg === 'nbd listening');
    assert.equal(line['socket'], join(dataDir, 'nbd.sock'));
    tcpPort = (line['tcp'] as { port: number }).port;
    const rpc = await connectRaw(agent.url, { token: init.token, fingerprint: init.fingerprint });
    await rpc.hello();
    const vms = await rpc.result<Vm[]>('vm.list');
    await rpc.close();
    disks = vms.flatMap((vm) => vm.disks);
    assert.ok(disks.length >= 2);
  });
  after(async () => {
    await cleanupAgents();
  });

  it('vm.list shows each disk export URI on the data directory socket', () => {
    const socket = join(dataDir, 'nbd.sock');
    for (const disk of disks) {
      assert.equal(disk.exportUri, `nbd+unix:///${disk.diskId}?socket=${socket}`);
      assert.equal(disk.exportError, undefined);
    }
  });

  it('qemu-img info reads the size of an export', async () => {
    const disk = disks[0];
    assert.ok(disk?.exportUri !== undefined);
    const out = await client('qemu-img', ['info', '--output=json', disk.exportUri]);
    const info = JSON.parse(out) as { 'virtual-size': number; format: string };
    assert.equal(info['virtual-size'], 64 * MiB);
    assert.equal(info.format, 'raw');
  });

  it('qemu-io writes and reads back patterns, and they are in the disk file', async () => {
    const disk = disks[0];
    assert.ok(disk?.exportUri !== undefined);
    const out = await client('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0xab 0 64k',
      '-c',
      'read -P 0xab 0 64k',
      '-c',
      'write -f -P 0xcd 1M 256k', // -f: FUA
      '-c',
      'write -z 64k 64k',
      '-c',
      'read -P 0 64k 64k',
      '-c',
      'flush',
      disk.exportUri,
    ]);
    assert.doesNotMatch(out, /fail|error/i);
    assert.match(out, /read 65536\/65536 bytes at offset 0/);
    assert.deepEqual(await fileBytes(disk.location, 0, 64 * 1024), Buffer.alloc(64 * 1024, 0xab));
    assert.deepEqual(
      await fileBytes(disk.location, MiB, 256 * 1024),
      Buffer.alloc(256 * 1024, 0xcd),
    );
  });

  it('nbdinfo lists the exports and describes one over TCP', async () => {
    const list = await client('nbdinfo', [
      '--list',
      '--json',
      `nbd+unix:///?socket=${join(dataDir, 'nbd.sock')}`,
    ]);
    const listed = JSON.parse(list) as { exports: { 'export-name': string }[] };
    assert.deepEqual(
      listed.exports.map((e) => e['export-name']).sort(),
      disks.map((d) => d.diskId).sort(),
    );
    const disk = disks[1];
    assert.ok(disk !== undefined);
    const one = await client('nbdinfo', ['--json', `nbd://127.0.0.1:${tcpPort}/${disk.diskId}`]);
    const info = JSON.parse(one) as {
      exports: {
        'export-size': number;
        can_multi_conn: boolean;
        can_flush: boolean;
        can_fua: boolean;
        can_trim: boolean;
        can_zero: boolean;
        block_size_minimum: number;
        block_size_preferred: number;
        block_size_maximum: number;
      }[];
    };
    const exp = info.exports[0];
    assert.ok(exp !== undefined);
    assert.equal(exp['export-size'], 64 * MiB);
    assert.deepEqual(
      [exp.can_flush, exp.can_fua, exp.can_trim, exp.can_zero, exp.can_multi_conn],
      [true, true, true, true, true],
    );
    assert.deepEqual(
      [exp.block_size_minimum, exp.block_size_preferred, exp.block_size_maximum],
      [512, 4096, 32 * MiB],
    );
  });

  it('an unknown export is refused with the reason (qemu-img shows it)', async () => {
    await assert.rejects(
      run('qemu-img', ['info', `nbd+unix:///no-such-disk?socket=${join(dataDir, 'nbd.sock')}`], {
        timeout: 30_000,
      }),
      (err: { stderr?: string }) =>
        /server reported: No disk "no-such-disk"/.test(err.stderr ?? ''),
    );
  });

  it('stopping the agent removes the socket', async () => {
    assert.equal(await agent.stop(), 0);
    assert.equal(existsSync(join(dataDir, 'nbd.sock')), false);
  });
});
