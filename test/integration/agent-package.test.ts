/**
 * The agent package (issue 13): `npm run package:agent` gives a tarball that runs on a host with
 * no Node. Unpacked into a clean directory and run with a PATH that has every program of this
 * machine but node, the agent inits, serves a console, runs the sim hypervisor's VMs and stops
 * cleanly; its checksums and VERSION say what it holds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { HelloResultSchema, HostSchema, PROTOCOL_VERSION } from '../../app/protocol';
import {
  REPO_ROOT,
  cleanupAgents,
  connectRaw,
  ensureAgentBuilt,
  initAgent,
  makeTempDir,
  runAgentCli,
  startAgent,
} from '../helpers/agents';

const run = promisify(execFile);
const NODE_PROGRAMS = new Set(['node', 'nodejs', 'npm', 'npx', 'corepack']);

/** A directory of links to every program on PATH except Node's: a host without Node. */
async function pathWithoutNode(): Promise<string> {
  const dir = await makeTempDir('tideline-no-node-');
  const seen = new Set<string>();
  for (const entry of (process.env['PATH'] ?? '').split(delimiter)) {
    let names: string[];
    try {
      names = await readdir(entry);
    } catch {
      continue;
    }
    for (const name of names) {
      if (seen.has(name) || NODE_PROGRAMS.has(name)) continue;
      seen.add(name);
      await symlink(join(entry, name), join(dir, name));
    }
  }
  return dir;
}

describe('the agent package', { timeout: 300_000 }, () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version: string;
    agentRuntime: { node: string };
  };
  const name = `tideline-agent-${pkg.version}-linux-x64`;
  let top: string;
  let env: NodeJS.ProcessEnv;
  let command: string[];

  before(async () => {
    await ensureAgentBuilt(); // once, under the helpers' lock: packaging only copies it
    await run(process.execPath, ['scripts/package-agent.mjs', '--no-build'], {
      cwd: REPO_ROOT,
      maxBuffer: 16 * 2 ** 20,
    });
    const dir = await makeTempDir('tideline-package-');
    await run('tar', ['-xzf', join(REPO_ROOT, 'release', `${name}.tar.gz`), '-C', dir]);
    top = join(dir, name);
    env = { PATH: await pathWithoutNode() };
    command = [join(top, 'bin', 'tideline-agent')];
  });

  after(cleanupAgents);

  it('is built for arm64 too, with an arm64 runtime', async () => {
    const dir = await makeTempDir('tideline-package-arm64-');
    const arm = `tideline-agent-${pkg.version}-linux-arm64`;
    await run('tar', ['-xzf', join(REPO_ROOT, 'release', `${arm}.tar.gz`), '-C', dir]);
    const elf = await readFile(join(dir, arm, 'runtime', 'node'));
    assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.equal(elf.readUInt16LE(18), 0xb7, 'e_machine is AArch64');
    const crc = await readFile(join(dir, arm, 'lib', 'native', 'crc32.node'));
    assert.equal(crc.readUInt16LE(18), 0xb7, 'the native CRC-32 is built for AArch64 too');
    const lz4 = await readFile(join(dir, arm, 'lib', 'native', 'lz4.node'));
    assert.equal(lz4.readUInt16LE(18), 0xb7, 'LZ4 is built for AArch64 too');
    const version = JSON.parse(await readFile(join(dir, arm, 'VERSION'), 'utf8')) as {
      arch: string;
    };
    assert.equal(version.arch, 'arm64');
  });

  it('holds what VERSION says, with checksums that hold', async () => {
    const version = JSON.parse(await readFile(join(top, 'VERSION'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(version['version'], pkg.version);
    assert.equal(version['protocolVersion'], PROTOCOL_VERSION);
    assert.equal(version['node'], pkg.agentRuntime.node);
    assert.equal(version['arch'], 'x64');
    assert.deepEqual(Object.keys(version['sha256'] as object).sort(), [
      'bin/tideline-agent',
      'lib/cli.mjs',
      'lib/native/crc32.node',
      'lib/native/lz4.node',
      'lib/small-writes-worker.mjs',
      'runtime/LICENSE',
      'runtime/node',
      'systemd/tideline-agent.service',
    ]);
    const { stdout } = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: top });
    assert.equal(stdout.trim().split('\n').length, 8);
    assert.ok(((await stat(join(top, 'runtime', 'node'))).mode & 0o111) !== 0, 'node runs');
  });

  it('runs on a host without Node: init, serve a console, stop cleanly', async () => {
    await assert.rejects(run('sh', ['-c', 'command -v node'], { env }), 'this PATH has no node');
    const version = await runAgentCli(['--version'], { command, env });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `tideline-agent ${pkg.version}`);

    const creds = await initAgent({ site: 'Packaged', command, env });
    const agent = await startAgent({ dataDir: creds.dataDir, command, env });
    const client = await connectRaw(agent.url, {
      token: creds.token,
      fingerprint: creds.fingerprint,
    });
    const hello = HelloResultSchema.parse(await client.hello());
    assert.equal(hello.agent.version, pkg.version);
    assert.equal(hello.agent.siteName, 'Packaged');
    const response = await client.request('vm.list', {});
    assert.equal(response.error, undefined, JSON.stringify(response.error));
    assert.ok(Array.isArray(response.result) && response.result.length > 0, 'the sim VMs');
    // host.list: the agent says what it knows of itself there.
    const hosts = HostSchema.array().parse((await client.request('host.list', {})).result);
    assert.ok(hosts.length > 0);
    for (const h of hosts) {
      assert.equal(h.agentState, 'installed');
      assert.equal(h.agentVersion, pkg.version);
    }
    await client.close();
    // The runtime is the package's own.
    const started = agent.logLines().find((l) => l.msg === 'starting');
    assert.equal(started?.['node'], `v${pkg.agentRuntime.node}`);
    assert.equal(started?.['crc32'], 'native', 'the CRC-32 binary shipped beside the bundle');
    assert.equal(started?.['lz4'], true, 'the LZ4 binary shipped beside the bundle');
    assert.equal(await agent.stop('SIGTERM'), 0);
  });

  it("runs apply's worker thread from beside the bundle, on its own runtime", async () => {
    // What journal/small-writes.ts does with it: start it from lib/, wait for its hello (id
    // 0), hand it a batch, and read the file back.
    const dir = await makeTempDir('tideline-package-worker-');
    const file = join(dir, 'replica');
    const script = `
      import { openSync, closeSync, readFileSync } from 'node:fs';
      import { Worker } from 'node:worker_threads';
      const fd = openSync(${JSON.stringify(file)}, 'w+');
      const worker = new Worker(new URL('./small-writes-worker.mjs', ${JSON.stringify(`file://${join(top, 'lib')}/`)}));
      const data = new TextEncoder().encode('xxxxworker wrote this').buffer;
      worker.on('message', (done) => {
        if (done.id === 0) {
          worker.postMessage({ id: 1, data, plan: new Float64Array([fd, 2, 4, 17]) }, [data]);
          return;
        }
        closeSync(fd);
        process.stdout.write(JSON.stringify({ id: done.id, error: done.error ?? null, back: done.data?.byteLength, file: readFileSync(${JSON.stringify(file)}, 'latin1') }));
        worker.terminate();
      });
    `;
    await writeFile(join(dir, 'check.mjs'), script);
    const { stdout } = await run(join(top, 'runtime', 'node'), [join(dir, 'check.mjs')], { env });
    assert.deepEqual(JSON.parse(stdout), {
      id: 1,
      error: null,
      back: 21, // the batch's buffer, given back
      file: '\0\0worker wrote this',
    });
  });
});
