#!/usr/bin/env node
// Top self-time functions of a .cpuprofile (from bench/cpu-profile.mjs or node --cpu-prof), or
// the top allocating stacks of a .heapprofile (bench/cpu-profile.mjs: what full collections free).
// Usage: node bench/profile-summary.mjs FILE.cpuprofile|FILE.heapprofile [--top 25]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '25' } },
  allowPositionals: true,
});
const frame = ({ functionName, url, lineNumber }) =>
  `${functionName || '(anonymous)'}${url === '' ? '' : ` ${url.replace(/^.*\//, '')}:${lineNumber + 1}`}`;

/** Bytes sampled by allocating stack (its innermost 4 frames). */
function heapSummary(file, profile) {
  const bytes = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const here = [frame(node.callFrame), ...stack].slice(0, 4);
    if (node.selfSize > 0) {
      const key = here.join(' < ');
      bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children ?? []) walk(child, here);
  };
  walk(profile.head, []);
  console.log(`${file}: ${(total / 2 ** 20).toFixed(1)} MiB sampled`);
  const rows = [...bytes.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  for (const [key, n] of rows) console.log(`  ${(n / 2 ** 20).toFixed(1).padStart(7)} MiB  ${key}`);
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  if (profile.head !== undefined) {
    heapSummary(file, profile);
    continue;
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const key = frame(byId.get(id).callFrame);
    const us = dt[i] ?? 0;
    total += us;
    self.set(key, (self.get(key) ?? 0) + us);
  });
  const idle = self.get('(idle)') ?? 0;
  console.log(
    `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((total - idle) / 1e6).toFixed(1)} s busy`,
  );
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  for (const [key, us] of rows) {
    const share = key === '(idle)' ? '' : ` ${((100 * us) / (total - idle)).toFixed(1)}% of busy`;
    console.log(`  ${(us / 1e6).toFixed(2).padStart(7)} s${share.padEnd(16)} ${key}`);
  }
}
