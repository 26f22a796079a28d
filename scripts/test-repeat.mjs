#!/usr/bin/env node
// Flushes out flaky tests before they land: runs the chosen test files N times, several runs at
// once (each a separate node --test process), and counts every test's failures over all runs.
//
//   npm run test:repeat -- 5                                  the integration suite, 5 times
//   npm run test:repeat -- 20 test/integration/peer-pairing.test.ts test/faults/peer-flood.test.ts
//   npm run test:repeat -- 10 --jobs 3 test/unit/peer-link.test.ts
//
// The last line is "N runs: N passed, N failed" (tests counted over all runs); the exit status is
// 1 if any test failed in any run. Never a retry: a test that fails once here is a bug to find.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { jobs: { type: 'string' }, 'no-build': { type: 'boolean' } },
});
const [countText, ...chosen] = positionals;
const runs = Number(countText);
if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
  console.error('usage: npm run test:repeat -- N [--jobs J] [FILE ...]  (N: 1–1000 runs)');
  process.exit(64);
}
const jobs = Math.max(1, Math.min(runs, Number(values.jobs ?? availableParallelism())));
const files = chosen.length > 0 ? chosen : testFiles('test/integration');
const artifacts = join(root, 'artifacts', 'repeat');
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });

function testFiles(dir) {
  const out = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(join(dir, entry.name));
  }
  return out.sort();
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, ...opts });
    child.on('close', (code) => resolve(code ?? 1));
    child.on('error', () => resolve(127));
  });
}

if (!values['no-build']) {
  if (
    (await run(process.execPath, ['scripts/build.mjs', '--only', 'agent', '--quiet'], {
      stdio: 'inherit',
    })) !== 0
  ) {
    console.error('build failed');
    process.exit(1);
  }
}

/** One run: node --test over the files, a TAP file of its own. */
async function oneRun(index) {
  const tap = join(artifacts, `run-${index}.tap`);
  const started = Date.now();
  const code = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...files,
    ],
    // The bundle was built above: parallel runs must not rebuild it under each other.
    { stdio: 'ignore', env: { ...process.env, TIDELINE_TEST_NO_BUILD: '1' } },
  );
  const seconds = Math.round((Date.now() - started) / 1000);
  return { index, code, tap, seconds };
}

/** Test names (with their parents) and whether they passed, from a TAP file. */
function results(tap) {
  let text;
  try {
    text = readFileSync(tap, 'utf8');
  } catch {
    return [];
  }
  const out = [];
  const stack = [];
  for (const line of text.split('\n')) {
    const match = /^(\s*)(ok|not ok) \d+ - (.*?)(?: # (SKIP|TODO).*)?$/.exec(line);
    if (match === null) {
      const sub = /^(\s*)# Subtest: (.*)$/.exec(line);
      if (sub !== null) stack[sub[1].length / 4] = sub[2];
      continue;
    }
    const depth = match[1].length / 4;
    stack.length = depth;
    out.push({
      name: [...stack, match[3]].join(' › '),
      ok: match[2] === 'ok',
      skip: match[4] !== undefined,
    });
  }
  // A suite is reported after its tests: count the tests only.
  return out.filter((r) => !r.skip && !out.some((o) => o.name.startsWith(`${r.name} › `)));
}

console.log(`${runs} runs of ${files.length} file(s), ${jobs} at a time`);
const queue = Array.from({ length: runs }, (_, i) => i + 1);
const failures = new Map();
let passed = 0;
let failed = 0;
await Promise.all(
  Array.from({ length: jobs }, async () => {
    for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
      const result = await oneRun(index);
      const tests = results(result.tap);
      const bad = tests.filter((t) => !t.ok);
      passed += tests.length - bad.length;
      failed += bad.length;
      if (result.code !== 0 && bad.length === 0) {
        failed += 1; // the runner itself failed
        bad.push({ name: `run ${index} (exit ${result.code})` });
      }
      for (const t of bad) failures.set(t.name, [...(failures.get(t.name) ?? []), index]);
      console.log(
        `run ${index}: ${tests.length - bad.length} passed, ${bad.length} failed (${result.seconds} s)` +
          (bad.length > 0 ? ` — see ${relative(root, result.tap)}` : ''),
      );
    }
  }),
);
for (const [name, where] of failures) console.log(`FAILED in run(s) ${where.join(', ')}: ${name}`);
console.log(`${runs} runs: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
