/**
 * NBD over TCP with TLS-PSK (issue 12), with the real clients a remote QEMU host would use:
 * qemu-io with `tls-creds-psk` and nbdinfo with `nbds://`. Without the key, or in clear, a
 * client learns nothing and writes nothing; a non-loopback listener without TLS is refused
 * at the command line unless the operator opts in.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Disk } from '../../app/protocol';
import { cleanupAgents, initAgent, makeTempDir, runAgentCli, startAgent } from '../helpers/agents';
import { freePort, readAt, requireTools, runTool } from '../helpers/nbd-tools';
import { launchSite, vms, type Site } from '../helpers/replication-sites';

const KEY = randomBytes(32).toString('hex');

let site: Site;
let port: number;
let disk: Disk;
let pskFile: string;
let qemuDir: string;

before(async () => {
  requireTools(['qemu-io', 'nbdinfo']);
  const dir = await makeTempDir('tideline-nbd-tls-');
  pskFile = join(dir, 'keys.psk');
  await writeFile(pskFile, `# the console host\nalice:${KEY}\n`, { mode: 0o600 });
  // QEMU's tls-creds-psk reads keys.psk from a directory of its own.
  qemuDir = join(dir, 'qemu');
  await mkdir(qemuDir);
  await writeFile(join(qemuDir, 'keys.psk'), `alice:${KEY}\n`, { mode: 0o600 });
  port = await freePort();
  site = await launchSite('NBD TLS', {
    runArgs: ['--nbd-listen', `127.0.0.1:${port}`, '--nbd-tls-psk', pskFile],
  });
  const first = (await vms(site)).flatMap((vm) => vm.disks)[0];
  assert.ok(first);
  disk = first;
});
after(cleanupAgents);

async function fails(command: string, args: string[]): Promise<string> {
  try {
    await runTool(command, args, 30_000);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  assert.fail(`${command} succeeded where it should have been refused`);
}

describe('NBD over TCP with TLS-PSK', { timeout: 120_000 }, () => {
  it('serves qemu-io and nbdinfo holding the key', async () => {
    const listed = await runTool('nbdinfo', [
      '--list',
      `nbds://alice@127.0.0.1:${port}/?tls-psk-file=${pskFile}`,
    ]);
    assert.match(listed.stdout, /newstyle-fixed with TLS/);
    assert.match(listed.stdout, new RegExp(`export="${disk.diskId}"`));
    await runTool('qemu-io', [
      '--object',
      `tls-creds-psk,id=tls0,endpoint=client,dir=${qemuDir},username=alice`,
      '--image-opts',
      `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=${disk.diskId},tls-creds=tls0`,
      '-c',
      'write -P 0x5c 1M 64k',
      '-c',
      'flush',
    ]);
    const written = await readAt(disk.location, 1024 * 1024, 65536);
    assert.ok(
      written.every((b) => b === 0x5c),
      'the write reached the disk file',
    );
  });

  it('refuses a client in clear text, and one with another key', async () => {
    const clear = await fails('nbdinfo', ['--list', `nbd://127.0.0.1:${port}/`]);
    assert.match(clear, /nbd_opt_list/);
    const go = await fails('nbdinfo', [`nbd://127.0.0.1:${port}/${disk.diskId}`]);
    assert.match(go, /TLS|not supported|server replied with error/i);
    const otherDir = await makeTempDir('tideline-nbd-other-');
    const other = join(otherDir, 'keys.psk');
    await writeFile(other, `alice:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const wrong = await fails('nbdinfo', [
      '--list',
      `nbds://alice@127.0.0.1:${port}/?tls-psk-file=${other}`,
    ]);
    assert.match(wrong, /gnutls_handshake/);
    // The client may exit before the agent has logged the handshake it refused.
    await site.agent.waitForLog((l) => l.msg === 'NBD TLS refused', 5_000);
  });
});

describe('NBD on a non-loopback address', { timeout: 60_000 }, () => {
  it('is refused without TLS unless the operator opts in', async () => {
    const creds = await initAgent({ site: 'Exposed', args: ['--sim-disk-mib', '8'] });
    const open = await runAgentCli([
      'run',
      '--data-dir',
      creds.dataDir,
      '--listen',
      '127.0.0.1:0',
      '--nbd-listen',
      '0.0.0.0:0',
    ]);
    assert.equal(open.code, 64, open.stderr);
    assert.match(open.stderr, /--nbd-tls-psk FILE .* or --nbd-allow-insecure/);
    const agent = await startAgent({
      dataDir: creds.dataDir,
      args: ['--nbd-listen', '0.0.0.0:0', '--nbd-allow-insecure'],
    });
    await agent.waitForLog((l) => l.msg === 'nbd listening');
    assert.equal(await agent.stop(), 0);
  });

  it('refuses a key file others may read', async () => {
    const creds = await initAgent({ site: 'Loose keys', args: ['--sim-disk-mib', '8'] });
    const loose = join(await makeTempDir('tideline-psk-'), 'keys.psk');
    await writeFile(loose, `alice:${KEY}\n`);
    await chmod(loose, 0o644);
    const run = await runAgentCli([
      'run',
      '--data-dir',
      creds.dataDir,
      '--listen',
      '127.0.0.1:0',
      '--nbd-listen',
      '127.0.0.1:0',
      '--nbd-tls-psk',
      loose,
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /may be read by others \(mode 644\): chmod 600 it/);
  });
});
