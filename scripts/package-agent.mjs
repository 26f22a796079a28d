#!/usr/bin/env node
// Builds the agent package a hypervisor host runs without Node of its own:
//
//   npm run package:agent                  release/tideline-agent-<version>-linux-{x64,arm64}.tar.gz
//   npm run package:agent -- --arch x64    one architecture only
//
// Inside, under tideline-agent-<version>-linux-<arch>/:
//   bin/tideline-agent      sh wrapper: runs lib/cli.mjs on runtime/node
//   lib/cli.mjs             the bundled agent (npm run build)
//   lib/small-writes-worker.mjs  the worker thread of the journal's apply, loaded from beside it
//   lib/native/lz4.node     lz4-napi's binary for the architecture (agent/util/lz4.ts)
//   lib/native/crc32.node   @node-rs/crc32's binary for the architecture (agent/util/crc32.ts;
//                           from the npm registry, at the lockfile's version)
//   runtime/node            the pinned Node runtime (package.json "agentRuntime"), taken from the
//                           npm registry's node-linux-<arch> package, whose integrity npm checks
//   runtime/LICENSE         Node's licence
//   systemd/tideline-agent.service   the unit template (the deployer fills it in)
//   VERSION                 JSON: product, version, protocol, Node version, arch, commit, and the
//                           sha256 of every other file
//   SHA256SUMS              the same checksums for `sha256sum -c`
// and beside it release/<name>.json: VERSION plus the tarball's size and sha256 (the deployer's).
// The tarball is reproducible: sorted names, fixed times and owners, gzip without a name.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'x64,arm64' },
    'no-build': { type: 'boolean' },
    // Another version than package.json's (tests make a second build to upgrade to).
    version: { type: 'string' },
    // Another folder than release/ (tests keep their builds out of it).
    out: { type: 'string' },
  },
});
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (values.version !== undefined) {
  if (!/^[0-9A-Za-z.+-]{1,40}$/.test(values.version)) fail(`bad version "${values.version}"`);
  pkg.version = values.version;
}
const nodeVersion = pkg.agentRuntime?.node;
if (typeof nodeVersion !== 'string' || !/^\d+\.\d+\.\d+$/.test(nodeVersion)) {
  fail('package.json has no "agentRuntime": { "node": "X.Y.Z" }');
}
const arches = values.arch.split(',');
for (const arch of arches) {
  if (arch !== 'x64' && arch !== 'arm64') fail(`unknown architecture "${arch}" (x64, arm64)`);
}

function fail(message) {
  console.error(`package:agent: ${message}`);
  process.exit(1);
}

function sh(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    fail(`${command} ${args.join(' ')} failed:\n${result.stderr ?? ''}${result.stdout ?? ''}`);
  }
  return result.stdout;
}

const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The protocol the agent speaks, from its one source (through tsx, as the tests load it). */
function protocolVersion() {
  const out = sh(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      // A string on stdout: console.log would colour a number under FORCE_COLOR (Playwright sets it).
      "const { PROTOCOL_VERSION } = await import('./app/protocol/agent-api.ts'); process.stdout.write(String(PROTOCOL_VERSION));",
    ],
    { cwd: root },
  );
  const version = Number(out.trim());
  if (!Number.isInteger(version) || version < 1)
    fail(`no protocol version from app/protocol: ${out}`);
  return version;
}

function commit() {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/**
 * `npm pack SPEC` (npm checks its integrity), downloaded once into .cache/agent-runtime as
 * `fileName` (npm's own name for that package's tarball).
 */
function cachedPack(spec, fileName) {
  const cache = join(root, '.cache', 'agent-runtime');
  mkdirSync(cache, { recursive: true });
  const file = join(cache, fileName);
  if (!existsSync(file)) {
    console.log(`fetching ${spec} from the npm registry`);
    // Into a folder of its own, then renamed: a parallel build never reads half a download.
    const partial = join(cache, `.partial-${process.pid}`);
    mkdirSync(partial, { recursive: true });
    sh('npm', ['pack', spec, '--pack-destination', partial, '--silent']);
    renameSync(join(partial, fileName), file);
    rmSync(partial, { recursive: true, force: true });
  }
  if (!existsSync(file)) fail(`npm pack did not give ${file}`);
  return file;
}

/** The runtime's npm tarball. */
function runtimeTarball(arch) {
  const name = `node-linux-${arch}`;
  return cachedPack(`${name}@${nodeVersion}`, `${name}-${nodeVersion}.tgz`);
}

/**
 * The native CRC-32 (@node-rs/crc32, agent/util/crc32.ts) for `arch`: its npm package for that
 * platform, at the version the lockfile installed; returns the .node file's path inside
 * `unpackInto`.
 */
function nativeCrc32(arch, unpackInto) {
  const { version } = JSON.parse(
    readFileSync(join(root, 'node_modules', '@node-rs', 'crc32', 'package.json'), 'utf8'),
  );
  const platform = `crc32-linux-${arch}-gnu`;
  const file = cachedPack(`@node-rs/${platform}@${version}`, `node-rs-${platform}-${version}.tgz`);
  const binary = `package/crc32.linux-${arch}-gnu.node`;
  sh('tar', ['-xzf', file, '-C', unpackInto, binary]);
  return join(unpackInto, binary);
}

/** LZ4 (lz4-napi, agent/util/lz4.ts) for `arch`, the same way as nativeCrc32. */
function nativeLz4(arch, unpackInto) {
  const { version } = JSON.parse(
    readFileSync(join(root, 'node_modules', 'lz4-napi', 'package.json'), 'utf8'),
  );
  const platform = `lz4-napi-linux-${arch}-gnu`;
  const file = cachedPack(
    `@antoniomuso/${platform}@${version}`,
    `antoniomuso-${platform}-${version}.tgz`,
  );
  const binary = `package/lz4-napi.linux-${arch}-gnu.node`;
  sh('tar', ['-xzf', file, '-C', unpackInto, binary]);
  return join(unpackInto, binary);
}

if (!values['no-build']) {
  sh(process.execPath, [join(root, 'scripts', 'build.mjs'), '--only', 'agent', '--quiet'], {
    cwd: root,
    stdio: 'inherit',
  });
}
const bundle = join(root, 'dist', 'agent', 'cli.mjs');
const worker = join(root, 'dist', 'agent', 'small-writes-worker.mjs');
for (const file of [bundle, worker]) {
  if (!existsSync(file)) fail(`${file} is missing: run npm run build`);
}

const WRAPPER = `#!/bin/sh
# tideline-agent: the agent on the Node runtime shipped beside it (the host needs no Node).
# Run it by its real path (the unit does); it uses no other program.
case "$0" in
  */*) here=\${0%/*} ;;
  *) here=. ;;
esac
exec "$here/../runtime/node" "$here/../lib/cli.mjs" "$@"
`;

const release = values.out ?? join(root, 'release');
mkdirSync(release, { recursive: true });
for (const arch of arches) {
  const name = `tideline-agent-${pkg.version}-linux-${arch}`;
  const stage = join(tmpdir(), `tideline-package-${process.pid}`);
  const top = join(stage, name);
  rmSync(stage, { recursive: true, force: true });
  for (const dir of ['bin', 'lib', 'lib/native', 'runtime', 'systemd'])
    mkdirSync(join(top, dir), { recursive: true });

  const unpack = join(stage, 'runtime-unpack');
  mkdirSync(unpack);
  sh('tar', ['-xzf', runtimeTarball(arch), '-C', unpack, 'package/bin/node', 'package/LICENSE']);
  copyFileSync(join(unpack, 'package', 'bin', 'node'), join(top, 'runtime', 'node'));
  chmodSync(join(top, 'runtime', 'node'), 0o755);
  copyFileSync(join(unpack, 'package', 'LICENSE'), join(top, 'runtime', 'LICENSE'));
  copyFileSync(nativeCrc32(arch, unpack), join(top, 'lib', 'native', 'crc32.node'));
  copyFileSync(nativeLz4(arch, unpack), join(top, 'lib', 'native', 'lz4.node'));
  rmSync(unpack, { recursive: true });

  writeFileSync(join(top, 'bin', 'tideline-agent'), WRAPPER, { mode: 0o755 });
  chmodSync(join(top, 'bin', 'tideline-agent'), 0o755);
  copyFileSync(bundle, join(top, 'lib', 'cli.mjs'));
  copyFileSync(worker, join(top, 'lib', 'small-writes-worker.mjs'));
  copyFileSync(
    join(root, 'resources', 'systemd', 'tideline-agent.service'),
    join(top, 'systemd', 'tideline-agent.service'),
  );

  const files = [
    'bin/tideline-agent',
    'lib/cli.mjs',
    'lib/native/crc32.node',
    'lib/native/lz4.node',
    'lib/small-writes-worker.mjs',
    'runtime/LICENSE',
    'runtime/node',
    'systemd/tideline-agent.service',
  ];
  const sums = Object.fromEntries(files.map((f) => [f, sha256(join(top, f))]));
  const version = {
    product: 'tideline-agent',
    version: pkg.version,
    protocolVersion: protocolVersion(),
    node: nodeVersion,
    platform: 'linux',
    arch,
    commit: commit(),
    sha256: sums,
  };
  writeFileSync(join(top, 'VERSION'), `${JSON.stringify(version, null, 2)}\n`);
  writeFileSync(join(top, 'SHA256SUMS'), files.map((f) => `${sums[f]}  ${f}\n`).join(''));

  const out = join(release, `${name}.tar.gz`);
  const tar = join(stage, `${name}.tar`);
  sh('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--format=gnu',
    '-cf',
    tar,
    '-C',
    stage,
    name,
  ]);
  sh('gzip', ['-n', '-f', tar]);
  // Renamed into place (same file system as release/): readers never see a partial tarball.
  copyFileSync(`${tar}.gz`, `${out}.${process.pid}.tmp`);
  renameSync(`${out}.${process.pid}.tmp`, out);
  rmSync(stage, { recursive: true, force: true });
  const size = readFileSync(out).length;
  const digest = sha256(out);
  // Beside the tarball, for the console's deployer: what it holds, without unpacking it.
  writeFileSync(
    join(release, `${name}.json.${process.pid}.tmp`),
    `${JSON.stringify({ ...version, tarball: { file: `${name}.tar.gz`, bytes: size, sha256: digest } }, null, 2)}\n`,
  );
  renameSync(join(release, `${name}.json.${process.pid}.tmp`), join(release, `${name}.json`));
  console.log(`${out} (${(size / 2 ** 20).toFixed(1)} MiB, sha256 ${digest})`);
}
