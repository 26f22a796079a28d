#!/usr/bin/env node
// The test command: build, typecheck, lint, unit, contract, integration, fault, accuracy and end-to-end suites, then one
// closing line "N passed, N failed, N skipped" counting every test of every suite (the
// typecheck, lint and format steps count as one test each).
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findElectronBinary } from './lib/electron-binary.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = join(root, 'artifacts');
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    'no-build': { type: 'boolean' },
  },
});
const suites = [
  'typecheck',
  'lint',
  'format',
  'unit',
  'contract',
  'integration',
  'faults',
  'accuracy',
  'e2e',
];
const only = values.only ? new Set(values.only.split(',')) : undefined;
for (const s of only ?? []) {
  if (!suites.includes(s)) {
    console.error(`unknown suite "${s}"; suites are: ${suites.join(', ')}`);
    process.exit(64);
  }
}
const want = (s) => only === undefined || only.has(s);
const totals = { passed: 0, failed: 0, skipped: 0 };
const report = [];

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.on('error', (err) => {
      console.error(`could not start ${cmd}: ${err.message}`);
      resolve(127);
    });
  });
}

function record(suite, passed, failed, skipped = 0) {
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  report.push(`${suite}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
}

function testFiles(dir) {
  const out = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

/**
 * node:test with a spec reporter for people and a TAP file whose summary we count. `log`: the
 * spec output goes to that file instead of stdout (a suite running beside the others).
 */
async function nodeSuite(suite, dir, log) {
  const files = testFiles(dir);
  if (files.length === 0) return record(suite, 0, 0);
  const tap = join(artifacts, `${suite}.tap`);
  rmSync(tap, { force: true });
  const out = log === undefined ? undefined : openSync(log, 'w');
  const code = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...files,
    ],
    out === undefined ? {} : { stdio: ['ignore', out, out] },
  );
  if (out !== undefined) {
    closeSync(out);
    process.stdout.write(`\n${suite} (ran beside the other suites):\n${readFileSync(log, 'utf8')}`);
  }
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const count = (name) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
  let failed = count('fail') + count('cancelled');
  if (code !== 0 && failed === 0) failed = 1; // the runner itself failed
  record(suite, count('pass'), failed, count('skipped') + count('todo'));
}

async function e2eSuite() {
  const results = join(artifacts, 'e2e', 'results.json');
  rmSync(results, { force: true });
  const playwright = [
    join(root, 'node_modules/@playwright/test/cli.js'),
    'test',
    '-c',
    'e2e/playwright.config.ts',
  ];
  // Electron needs a display; headless Chromium does not.
  const xvfb =
    !process.env.DISPLAY &&
    findElectronBinary() &&
    (await run('sh', ['-c', 'command -v xvfb-run >/dev/null'])) === 0;
  const code = xvfb
    ? await run('xvfb-run', ['-a', process.execPath, ...playwright])
    : await run(process.execPath, playwright);
  let stats;
  try {
    stats = JSON.parse(readFileSync(results, 'utf8')).stats;
  } catch {
    stats = undefined;
  }
  if (stats === undefined) return record('e2e', 0, 1);
  const failed = stats.unexpected + (code !== 0 && stats.unexpected === 0 ? 1 : 0);
  record('e2e', stats.expected + stats.flaky, failed, stats.skipped);
}

async function checkStep(suite, cmd, args) {
  const code = await run(cmd, args);
  record(suite, code === 0 ? 1 : 0, code === 0 ? 0 : 1);
}

mkdirSync(artifacts, { recursive: true });
const started = Date.now();
if (!values['no-build']) {
  const code = await run(process.execPath, ['scripts/build.mjs', '--quiet']);
  if (code !== 0) {
    console.error('build failed: no tests were run');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
if (want('typecheck'))
  await checkStep('typecheck', process.execPath, ['node_modules/typescript/bin/tsc', '-b']);
if (want('lint'))
  await checkStep('lint', process.execPath, ['node_modules/eslint/bin/eslint.js', '.']);
if (want('format')) {
  await checkStep('format', process.execPath, [
    'node_modules/prettier/bin/prettier.cjs',
    '--check',
    '.',
  ]);
}
// The accuracy suite is minutes of wall clock with little CPU (two agents replicating a few
// MB/s while a workload changes each minute): it runs beside the other suites, not after them.
const accuracy = want('accuracy')
  ? nodeSuite('accuracy', 'test/accuracy', join(artifacts, 'accuracy.log'))
  : undefined;
if (want('unit')) await nodeSuite('unit', 'test/unit');
if (want('contract')) await nodeSuite('contract', 'test/contract');
if (want('integration')) await nodeSuite('integration', 'test/integration');
if (want('faults')) await nodeSuite('faults', 'test/faults');
await accuracy;
if (want('e2e')) await e2eSuite();

console.log(`\n${report.join('\n')}\n(${Math.round((Date.now() - started) / 1000)} s)`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed === 0 ? 0 : 1);
