#!/usr/bin/env node
// RTO: how long a live failover to the latest checkpoint takes, for a VPG whose disk is 4 GiB
// (the anchor) and for one whose disk is 16 GiB, both with the same --mib MiB of journal to
// apply. Real agents from the built bundle (dist/): two paired sites per size, a VPG of one
// single-disk VM, a workload that writes exactly --mib MiB after the initial sync, a confirmed
// checkpoint, then failover.live timed from the call to its task's end (disks materialized as
// views at the checkpoint, VM registered and powered on). Recovery time must not grow with
// disk size: the figure is the ratio 16 GiB / 4 GiB (aim <= 1.2); each failover is rolled back
// and repeated --rounds times, the best compared (the machine is shared), medians beside.
// A last failover is committed: its Promote task, which writes the journal's data into the
// replica disk under the running VM (the actual copy of the --mib MiB), is timed as well.
// Usage: npm run build && node --import tsx bench/rto.mjs [--mib 256] [--rounds 3]
import { parseArgs } from 'node:util';
import { launchPairedSites, loadAverage } from './lib/sites.mjs';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '3' },
  },
});
const MiB = 1024 * 1024;
const journalMiB = Number(values.mib);
const rounds = Number(values.rounds);
const sizes = [4096, 16384];
const rate = 48 * MiB;

async function sleep(ms) {
  await new Promise((r) => setTimeout(r, ms));
}

async function measure(diskMiB) {
  const { hq, dr, sites, agents } = await launchPairedSites({
    diskMiB,
    runArgs: ['--metadata-interval-seconds', '5'],
  });
  const { untilMetadata } = await import('../test/integration/failover-helpers.ts');
  try {
    const [vm] = sites.pickVms(await sites.vms(hq), 1, 1);
    const vpg = await sites.createVpg(hq, dr, {
      vmIds: [vm.vmId],
      name: `rto ${diskMiB / 1024} GiB`,
      rpoTargetSeconds: 300,
    });
    await sites.untilVpg(hq, vpg.vpgId, sites.isStatus('Protecting'), 'protecting', 600_000);
    const before = (await sites.vpgState(dr, vpg.vpgId)).journalBytes;

    // Exactly --mib MiB of 64 KiB writes (the pause answers once the last ones are sequenced).
    const written = async () => {
      const { workloads } = await sites.call(hq, 'vm.workload', {});
      return workloads.find((w) => w.vmId === vm.vmId)?.bytes ?? 0;
    };
    const start = await written();
    await sites.setWorkload(hq, vm.vmId, rate, { mix: { 65536: 1 } });
    while ((await written()) - start < journalMiB * MiB - rate / 20) await sleep(50);
    await sites.setWorkload(hq, vm.vmId, 0, { paused: true });
    const checkpoint = await sites.insertCheckpoint(hq, vpg.vpgId, 'before failover');
    await sites.waitForCheckpoint(hq, checkpoint, 300_000);
    await untilMetadata(dr, vpg.vpgId);
    const journal = (await sites.vpgState(dr, vpg.vpgId)).journalBytes - before;

    const times = [];
    for (let round = 0; round < rounds; round += 1) {
      const t0 = performance.now();
      const { taskId } = await sites.call(dr, 'failover.live', {
        vpgId: vpg.vpgId,
        checkpoint: { kind: 'latest' },
      });
      const task = await sites.call(dr, 'task.waitFor', { taskId, timeoutMs: 600_000 });
      const seconds = (performance.now() - t0) / 1000;
      if (task.completionCode !== 'Success') {
        throw new Error(`failover ${task.completionCode}: ${task.exception ?? ''}`);
      }
      times.push(seconds);
      const rollback = await sites.call(dr, 'failover.rollback', { vpgId: vpg.vpgId });
      const undone = await sites.call(dr, 'task.waitFor', {
        taskId: rollback.taskId,
        timeoutMs: 600_000,
      });
      if (undone.completionCode !== 'Success') {
        throw new Error(`rollback ${undone.completionCode}: ${undone.exception ?? ''}`);
      }
    }
    // The last one is committed: time the promotion of the journal into the replica.
    const { taskId } = await sites.call(dr, 'failover.live', {
      vpgId: vpg.vpgId,
      checkpoint: { kind: 'latest' },
    });
    await sites.call(dr, 'task.waitFor', { taskId, timeoutMs: 600_000 });
    const commit = await sites.call(dr, 'failover.commit', {
      vpgId: vpg.vpgId,
      reverseProtection: false,
    });
    const committed = await sites.call(dr, 'task.waitFor', {
      taskId: commit.taskId,
      timeoutMs: 600_000,
    });
    if (committed.completionCode !== 'Success') {
      throw new Error(`commit ${committed.completionCode}: ${committed.exception ?? ''}`);
    }
    let promote;
    for (let i = 0; promote === undefined && i < 600; i += 1) {
      const tasks = await sites.call(dr, 'task.list', { vpgId: vpg.vpgId, type: 'Promote' });
      promote = tasks[0];
      if (promote === undefined) await sleep(100);
    }
    if (promote === undefined) throw new Error('no Promote task after the commit');
    const promoted = await sites.call(dr, 'task.waitFor', {
      taskId: promote.taskId,
      timeoutMs: 600_000,
    });
    if (promoted.completionCode !== 'Success') {
      throw new Error(`promote ${promoted.completionCode}: ${promoted.exception ?? ''}`);
    }
    const promoteSeconds = (promoted.endedAt - promoted.startedAt) / 1000;
    return { diskMiB, journal, times, promoteSeconds };
  } finally {
    await agents.cleanupAgents();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (const diskMiB of sizes) {
  const r = await measure(diskMiB);
  results.push(r);
  console.log(
    `disk ${String(diskMiB / 1024).padStart(2)} GiB, journal ${(r.journal / MiB).toFixed(0)} MiB: ` +
      `failover ${r.times.map((t) => t.toFixed(2)).join(' / ')} s ` +
      `(best ${Math.min(...r.times).toFixed(2)} s, median ${median(r.times).toFixed(2)} s); ` +
      `promote after commit ${r.promoteSeconds.toFixed(2)} s`,
  );
}
const [small, large] = results;
const ratio = Math.min(...large.times) / Math.min(...small.times);
console.log(`load average: ${loadAverage()}`);
console.log(
  `promotion ratio 16 GiB / 4 GiB: ${(large.promoteSeconds / small.promoteSeconds).toFixed(2)}`,
);
console.log(
  `RTO ratio 16 GiB / 4 GiB: ${ratio.toFixed(2)} (medians ${(median(large.times) / median(small.times)).toFixed(2)}; aim <= 1.2)`,
);
