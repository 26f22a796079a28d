import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanupAgents, connectRaw, ensureAgentBuilt, makeTempDir } from '../helpers/agents';

// What ships is the bundles: the agent is copied to hypervisor hosts as one file, and the
// Electron package carries dist/ without node_modules. These tests hold them to that.
const root = fileURLToPath(new URL('../..', import.meta.url));
after(cleanupAgents);

describe('the agent bundle', () => {
  it('runs on its own, from a folder with no node_modules: init, serve, hello, stop', async () => {
    await ensureAgentBuilt();
    const dir = await makeTempDir('tl-bundle-');
    const cli = join(dir, 'tideline-agent.mjs');
    copyFileSync(join(root, 'dist/agent/cli.mjs'), cli);
    const data = join(dir, 'data');

    const init = spawnSync(process.execPath, [cli, 'init', '--data-dir', data, '--site', 'Lone'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(init.status, 0, init.stderr);
    const token = /^token: (\S+)$/m.exec(init.stdout)?.[1] ?? '';
    const fingerprint = /^fingerprint: (\S+)$/m.exec(init.stdout)?.[1] ?? '';

    const agent = spawn(
      process.execPath,
      [cli, 'run', '--data-dir', data, '--listen', '127.0.0.1:0'],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let crc32: unknown;
    let lz4: unknown;
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: agent.stdout }).on('line', (line) => {
          if (line.includes('"starting"')) {
            ({ crc32, lz4 } = JSON.parse(line) as { crc32: unknown; lz4: unknown });
          }
          if (line.includes('"listening"')) resolve((JSON.parse(line) as { url: string }).url);
        });
        agent.once('exit', (code) => reject(new Error(`agent exited ${code}`)));
      });
      const client = await connectRaw(url, { token, fingerprint });
      const hello = await client.hello();
      assert.equal((hello as { agent: { siteName: string } }).agent.siteName, 'Lone');
      // No native CRC-32 beside a lone bundle: zlib's, which gives the same values.
      assert.equal(crc32, 'zlib');
      // Nor LZ4: the agent then speaks peer protocol 1 and sends uncompressed.
      assert.equal(lz4, false);
      await client.close();
    } finally {
      agent.kill('SIGTERM');
    }
    const [code] = await new Promise<[number | null]>((r) => agent.once('exit', (c) => r([c])));
    assert.equal(code, 0);
  });
});

describe("apply's worker bundle", () => {
  it('loads nothing but Node built-ins, and is small (a worker thread must not load the agent)', async () => {
    await ensureAgentBuilt();
    const file = join(root, 'dist/agent/small-writes-worker.mjs');
    assert.deepEqual(
      [...runtimeModules(file)].filter((m) => !builtins.has(m)),
      [],
      'small-writes-worker.mjs would need node_modules',
    );
    assert.ok(readFileSync(file).length < 16 * 1024, 'it holds only the worker');
  });
});

/** Every module a bundle leaves to run time, as esbuild recorded it (scripts/build.mjs). */
function runtimeModules(file: string): Set<string> {
  const meta = JSON.parse(readFileSync(`${file}.meta.json`, 'utf8')) as {
    outputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
  };
  const output = Object.entries(meta.outputs).find(([out]) => file.endsWith(out))?.[1];
  assert.ok(output, `no esbuild metafile entry for ${file}`);
  return new Set(output.imports.filter((i) => i.external === true).map((i) => i.path));
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
// ws and ssh2 load these optional native speed-ups inside try/catch; they run without them.
const optional = new Set(['bufferutil', 'utf-8-validate', 'cpu-features']);
const isOptional = (m: string): boolean =>
  optional.has(m) || /^\.\/crypto\/build\/Release\/sshcrypto\.node$/.test(m);

describe('the console bundles', () => {
  const bundle = (name: string): string => {
    const file = join(root, 'dist/main', name);
    if (!existsSync(`${file}.meta.json`)) {
      const build = spawnSync(
        process.execPath,
        ['scripts/build.mjs', '--only', 'main', '--quiet'],
        { cwd: root },
      );
      assert.equal(build.status, 0, String(build.stderr));
    }
    return file;
  };

  it('Electron main and browser mode load nothing but Node built-ins and electron', () => {
    for (const name of ['electron.mjs', 'web.mjs']) {
      const foreign = [...runtimeModules(bundle(name))].filter(
        (m) => !builtins.has(m) && !isOptional(m) && m !== 'electron',
      );
      assert.deepEqual(foreign, [], `${name} would need node_modules at run time`);
    }
    assert.ok(
      !runtimeModules(bundle('web.mjs')).has('electron'),
      'browser mode never loads electron',
    );
  });

  it('the sandboxed preload requires electron alone', () => {
    assert.deepEqual([...runtimeModules(bundle('preload.cjs'))], ['electron']);
  });
});
