#!/usr/bin/env node
// A/B of bench:replication: the working tree (B) against another commit (A, a git worktree of
// it beside this one), run alternately in the order ABBA BAAB ..., so that a machine whose
// speed drifts over minutes (bench/README.md § 24: up to 2× here) weighs on both builds alike.
// Each run is one `bench/replication.mjs` with the arguments after `--` (its own anchor
// included); the figures compared are the ones it prints. For each figure: both builds'
// medians, the pairs' differences B − A (median, range), how many pairs B is lower in, and the
// exact two-sided sign test of that count. CPU per GiB is also printed divided by the same
// run's anchor receiver's (a TLS stream at the same minute); with one anchor run per bench
// that ratio was noisier than the plain figure (bench/README.md § 25).
//
// Usage: node bench/ab.mjs --base REF [--pairs 4] [--keep-worktree] [-- replication args]
//   e.g. node bench/ab.mjs --base main --pairs 4 -- --anchor-runs 1
// Nothing else may run on the machine meanwhile (each run takes ≈ 1 min).
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: {
    base: { type: 'string' },
    pairs: { type: 'string', default: '4' },
    'keep-worktree': { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
if (values.base === undefined) {
  console.error('usage: node bench/ab.mjs --base REF [--pairs N] [-- bench/replication.mjs args]');
  process.exit(2);
}
const pairs = Number(values.pairs);
if (!Number.isInteger(pairs) || pairs < 1 || pairs > 50) {
  console.error(`--pairs ${values.pairs}: a whole number from 1 to 50`);
  process.exit(2);
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const git = (...args) => {
  const r = spawnSync('git', args, { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
};
const baseSha = git('rev-parse', '--verify', `${values.base}^{commit}`);
const headDesc = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') === '' ? '' : ' + uncommitted changes'}`;
const baseDir = join('/var/tmp', `tideline-ab-${baseSha.slice(0, 12)}`);
if (!existsSync(baseDir)) {
  git('worktree', 'add', '--detach', baseDir, baseSha);
  symlinkSync(join(repo, 'node_modules'), join(baseDir, 'node_modules'));
}

/** The figures of one bench/replication.mjs output (undefined where a build does not print one). */
function parse(out) {
  const num = (re) => {
    const m = re.exec(out);
    return m === null ? undefined : Number(m[1]);
  };
  const cpu =
    /source agent ([\d.]+) s, recovery agent ([\d.]+) s; anchor sender ([\d.]+) s, receiver ([\d.]+) s/.exec(
      out,
    );
  const main = /of it on the main thread: source agent ([\d.]+) s, recovery agent ([\d.]+) s/.exec(
    out,
  );
  const figures = {
    'persisted MiB/s': num(/persisted in the recovery journal ([\d.]+) MiB\/s/),
    ratio: num(/ratio journal\/anchor ([\d.]+)/),
    'source s/GiB': cpu && Number(cpu[1]),
    'recovery s/GiB': cpu && Number(cpu[2]),
    'source main thread s/GiB': main && Number(main[1]),
    'recovery main thread s/GiB': main && Number(main[2]),
    'anchor receiver s/GiB': cpu && Number(cpu[4]),
  };
  if (cpu) {
    figures['source / anchor receiver'] = Number(cpu[1]) / Number(cpu[4]);
    figures['recovery / anchor receiver'] = Number(cpu[2]) / Number(cpu[4]);
  }
  return figures;
}

function runOnce(dir, label, n) {
  return new Promise((ok, fail) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/replication.mjs', ...positionals],
      { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (out += s));
    child.once('error', fail);
    child.once('exit', (code) => {
      if (code !== 0) return fail(new Error(`run ${n} (${label}) exited with ${code}:\n${out}`));
      const figures = parse(out);
      if (figures['persisted MiB/s'] === undefined) {
        return fail(new Error(`run ${n} (${label}) printed no figures:\n${out}`));
      }
      ok(figures);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Exact two-sided sign test: P(a split at least as uneven as k of n | no difference). */
function signTest(k, n) {
  if (n === 0) return 1;
  let choose = 1;
  let tail = 0;
  const low = Math.min(k, n - k);
  for (let i = 0; i <= low; i += 1) {
    tail += choose;
    choose = (choose * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

const fmt = (x) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(2));

console.log(`A: ${values.base} (${baseSha.slice(0, 10)}) in ${baseDir}`);
console.log(`B: the working tree, ${headDesc}`);
console.log(`bench/replication.mjs ${positionals.join(' ')}; ${pairs} pairs, order ABBA BAAB ...`);
const results = { A: [], B: [] };
for (let pair = 0; pair < pairs; pair += 1) {
  // ABBA BAAB: each build goes first in half the pairs, and neighbouring pairs mirror.
  const order = [0, 3].includes(pair % 4) ? ['A', 'B'] : ['B', 'A'];
  for (const label of order) {
    const n = results.A.length + results.B.length + 1;
    const figures = await runOnce(label === 'A' ? baseDir : repo, label, n);
    results[label].push(figures);
    console.log(
      `run ${n} ${label}: ${fmt(figures['persisted MiB/s'])} MiB/s, source ${fmt(figures['source s/GiB'])}, recovery ${fmt(figures['recovery s/GiB'])} s/GiB, anchor receiver ${fmt(figures['anchor receiver s/GiB'])}`,
    );
  }
}

console.log(
  '\nfigure | A median | B median | B − A per pair: median (range) | B lower in | sign test p',
);
for (const name of Object.keys(results.B[0])) {
  const a = results.A.map((f) => f[name]);
  const b = results.B.map((f) => f[name]);
  if ([...a, ...b].some((x) => x === undefined)) continue;
  const diffs = b.map((x, i) => x - a[i]);
  const lower = diffs.filter((d) => d < 0).length;
  const ties = diffs.filter((d) => d === 0).length;
  console.log(
    `${name} | ${fmt(median(a))} | ${fmt(median(b))} | ${fmt(median(diffs))} (${fmt(Math.min(...diffs))} … ${fmt(Math.max(...diffs))}) | ${lower} of ${diffs.length - ties} | ${signTest(lower, diffs.length - ties).toFixed(2)}`,
  );
}
if (!values['keep-worktree']) git('worktree', 'remove', '--force', baseDir);
