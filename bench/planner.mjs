#!/usr/bin/env node
// Planner speed (issue 14): plan 500 VPGs over one week at one-minute steps, least-bandwidth
// searches included, against a budget of 1 s. The VPGs are spread over --links links (each a
// link policy of three timeframes: business hours, nights with a backup window, weekends) with
// seeded synthetic profiles. The plan runs in a worker thread, as the renderer runs it; the
// main thread's event-loop delay meanwhile shows it stays responsive.
// Usage: node --import tsx bench/planner.mjs [--vpgs 500] [--links 10] [--rounds 3]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const STEPS = 7 * 1440;
const BUDGET_MS = 1000;

/** An office-hours profile with a nightly backup spike, scaled per VPG, with noise. */
function profile(rand, peakBytes) {
  const rates = new Float64Array(STEPS);
  const backupAt = 60 + Math.floor(rand() * 180); // 01:00–04:00
  for (let s = 0; s < STEPS; s++) {
    const day = Math.floor(s / 1440);
    const minute = s % 1440;
    const weekend = day >= 5;
    let level = minute >= 480 && minute < 1080 && !weekend ? 0.5 : 0.05;
    if (minute >= backupAt && minute < backupAt + 45) level = 1;
    rates[s] = peakBytes * level * (0.8 + 0.4 * rand());
  }
  return rates;
}

function linkPolicy(mbits) {
  const tf = (id, name, days, start, end, target, bits) => ({
    id,
    name,
    colour: '#1e88e5',
    days,
    start,
    end,
    rpoTargetSeconds: target,
    replicationBitsPerSecond: bits,
  });
  return {
    schemaVersion: 1,
    version: 1,
    timeZone: 'Europe/Berlin',
    default: { rpoTargetSeconds: 900, replicationBitsPerSecond: mbits * 1e6 },
    timeframes: [
      tf('business', 'Business hours', [1, 2, 3, 4, 5], '08:00', '18:00', 300, mbits * 0.5e6),
      tf('backup', 'Backup window', [1, 2, 3, 4, 5, 6, 7], '01:00', '04:00', 1800, mbits * 2e6),
    ],
  };
}

async function inputs(vpgCount, linkCount) {
  const { seededRandom } = await import('../test/helpers/seeded-random.ts');
  const rand = seededRandom(1205);
  const links = [];
  for (let l = 0; l < linkCount; l++) {
    const vpgs = [];
    for (let v = l; v < vpgCount; v += linkCount) {
      vpgs.push({
        vpgId: `vpg-${v}`,
        name: `VPG ${v}`,
        rates: profile(rand, (1 + rand() * 9) * 1e6),
        rpoTargetSeconds: 300,
        checkpointIntervalSeconds: 5,
        journal: { historySeconds: 86_400, hardLimitBytes: 500e9 },
      });
    }
    links.push({
      start: Date.UTC(2026, 10, 29, 23), // Monday 00:00 in Berlin
      linkPolicy: linkPolicy(100 * vpgs.length),
      graceSeconds: 300,
      vpgs,
    });
  }
  return links;
}

if (isMainThread) {
  const { values } = parseArgs({
    options: {
      vpgs: { type: 'string', default: '500' },
      links: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const rounds = Number(values.rounds);
  const times = [];
  let lagMax = 0;
  for (let r = 0; r < rounds; r++) {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { vpgs: Number(values.vpgs), links: Number(values.links) },
    });
    const result = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    delay.disable();
    times.push(result.ms);
    lagMax = Math.max(lagMax, delay.max / 1e6);
    if (r === 0) {
      console.log(
        `planned ${result.vpgs} VPGs on ${result.links} links, ${result.searches} least-bandwidth searches`,
      );
    }
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`plan time (median of ${rounds}): ${(median / 1000).toFixed(2)} s`);
  console.log(`budget: ${(BUDGET_MS / 1000).toFixed(2)} s`);
  console.log(`ratio to budget: ${(median / BUDGET_MS).toFixed(2)} (≤ 1 meets it)`);
  console.log(`main thread event-loop delay while planning: max ${lagMax.toFixed(1)} ms`);
} else {
  // Workers do not inherit --import hooks in Node 20: register tsx here.
  const { register } = await import('tsx/esm/api');
  register();
  const { planLink } = await import('../app/planner/index.ts');
  const links = await inputs(workerData.vpgs, workerData.links);
  const started = performance.now();
  let searches = 0;
  for (const link of links) searches += planLink(link).bandwidth.length;
  const ms = performance.now() - started;
  parentPort.postMessage({ ms, vpgs: workerData.vpgs, links: links.length, searches });
}
