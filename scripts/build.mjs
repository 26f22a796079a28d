#!/usr/bin/env node
// Builds every runtime: esbuild bundles agent, console core (web and Electron main) and the
// preload; Vite builds the renderer. `--only agent,main,renderer` narrows it.
import { build } from 'esbuild';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { only: { type: 'string' }, quiet: { type: 'boolean' } } });
const only = values.only ? new Set(values.only.split(',')) : undefined;
const want = (part) => only === undefined || only.has(part);

// ESM bundles of CommonJS dependencies still call require() and read __dirname (ssh2's
// WebAssembly poly1305 does); give them both.
const requireShim = {
  js: [
    "import { createRequire as __tlCreateRequire } from 'node:module';",
    "import { fileURLToPath as __tlFileURLToPath } from 'node:url';",
    "import { dirname as __tlDirname } from 'node:path';",
    'const require = __tlCreateRequire(import.meta.url);',
    'const __filename = __tlFileURLToPath(import.meta.url);',
    'const __dirname = __tlDirname(__filename);',
  ].join(' '),
};
const nodeEsm = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  banner: requireShim,
  // Optional native speed-ups of ws and ssh2 (each is loaded in a try, with a JavaScript
  // fallback); a bundle carries no native code.
  external: ['bufferutil', 'utf-8-validate', 'cpu-features', '*.node'],
  logLevel: values.quiet ? 'warning' : 'info',
};

const entries = [
  { part: 'agent', entry: 'agent/cli.ts', outfile: 'dist/agent/cli.mjs', options: nodeEsm },
  {
    // The worker of journal/small-writes.ts, loaded from beside cli.mjs: Node only, so a
    // worker thread does not load the whole agent again.
    part: 'agent',
    entry: 'agent/journal/small-writes-worker.ts',
    outfile: 'dist/agent/small-writes-worker.mjs',
    options: { ...nodeEsm, banner: undefined },
  },
  { part: 'main', entry: 'main/web/cli.ts', outfile: 'dist/main/web.mjs', options: nodeEsm },
  {
    part: 'main',
    entry: 'main/electron/main.ts',
    outfile: 'dist/main/electron.mjs',
    options: { ...nodeEsm, external: [...nodeEsm.external, 'electron'] },
  },
  {
    // Sandboxed preloads must be CommonJS and may only require('electron').
    part: 'main',
    entry: 'main/electron/preload.ts',
    outfile: 'dist/main/preload.cjs',
    options: { ...nodeEsm, format: 'cjs', banner: undefined, external: ['electron'] },
  },
];

for (const { part, entry, outfile, options } of entries) {
  if (!want(part) || !existsSync(join(root, entry))) continue;
  const result = await build({
    ...options,
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    metafile: true,
  });
  // What each bundle still loads at run time, for the test that keeps the bundles self-contained.
  writeFileSync(join(root, `${outfile}.meta.json`), JSON.stringify(result.metafile));
}

if (want('renderer') && existsSync(join(root, 'renderer/index.html'))) {
  const { build: viteBuild } = await import('vite');
  rmSync(join(root, 'dist/renderer'), { recursive: true, force: true });
  await viteBuild({
    configFile: join(root, 'renderer/vite.config.ts'),
    logLevel: values.quiet ? 'warn' : 'info',
  });
}
