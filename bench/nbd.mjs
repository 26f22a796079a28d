#!/usr/bin/env node
// NBD data path: the same fio jobs against the agent's export of a protected disk (replicated
// to a second agent) and against qemu-nbd serving a copy of the same file, both on a unix
// socket. Prints IOPS and MiB/s per job and server, and the ratio agent/qemu-nbd.
//
// Anchor: `qemu-nbd -t -k SOCKET -f raw FILE` with qemu-nbd's defaults (cache=writeback: a
// write is in the page cache when replied to, fsync only on NBD FLUSH; aio=threads; no
// --shared limit needed for one client). Agent: `tideline-agent run` of a data directory
// initialised with `--sim-disk-mib 1024`; the first VM (all its disks) protected in a VPG that
// replicates to a second, paired agent; fio against the export of the VM's first disk. Both
// agents run with a 16 GiB outbox limit, so the backlog a write job queues stays in the outbox.
// Both files start as the same sparse 1 GiB file, get the same fill pass (a 1 MiB sequential
// write of the whole disk, so reads hit data and writes overwrite allocated blocks), then the
// same jobs in the same order. Each job runs on both servers back to back, alternating which
// goes first from round to round; before every run the agent's replication backlog has
// drained (no sender or journal work competes with the next run). Figures are the median over
// the rounds. The agent's CPU (source + recovery agent) and qemu-nbd's are per run, per I/O;
// the agents' counts until the run's backlog is replicated (the drain after the run included).
//
// Usage: npm run build && npm run bench:nbd -- [--runtime 10] [--rounds 3] [--quick]
//          [--only randwrite-qd1,...] [--skip-fill] [--skip-anchor] [--profile DIR]
//          [--qemu-cache none]
//   --quick: 3 s per run, 1 round, no fill pass.
//   --qemu-cache MODE: qemu-nbd's --cache (none: O_DIRECT, as the agent writes 256 KiB and
//   larger aligned writes; see bench/README.md section 12).
//   --profile DIR: CPU profiles of both agents during each agent run, written as
//   DIR/{source,target}/<job>-round<n>.cpuprofile (fill and drains excluded). Summarize:
//   node bench/profile-summary.mjs DIR/source/randwrite-qd1-round1.cpuprofile
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { launchPairedSites, loadAverage, processCpuSeconds } from './lib/sites.mjs';

const { values } = parseArgs({
  options: {
    runtime: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'skip-fill': { type: 'boolean', default: false },
    'skip-anchor': { type: 'boolean', default: false },
    'disk-mib': { type: 'string', default: '1024' },
    profile: { type: 'string' },
    'qemu-cache': { type: 'string' },
  },
});

const MiB = 1024 * 1024;
const JOBS = [
  { name: 'randwrite-qd1', rw: 'randwrite', bs: '4k', iodepth: 1 },
  { name: 'randwrite-qd32', rw: 'randwrite', bs: '4k', iodepth: 32 },
  { name: 'seqwrite-1m-qd8', rw: 'write', bs: '1M', iodepth: 8 },
  { name: 'randread-qd32', rw: 'randread', bs: '4k', iodepth: 32 },
];
const runtime = Number(values.runtime ?? (values.quick ? 3 : 10));
const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
const fill = !values.quick && !values['skip-fill'];
const only = values.only?.split(',');
const jobs = only === undefined ? JOBS : JOBS.filter((j) => only.includes(j.name));
if (jobs.length === 0) {
  throw new Error(`--only: no such job; jobs are ${JOBS.map((j) => j.name).join(', ')}`);
}

await main();

async function main() {
  console.log(`load average before: ${loadAverage()}`);
  const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
  const { hq, dr, sites, agents } = await launchPairedSites({
    diskMiB: Number(values['disk-mib']),
    // A 10 s run of 1 MiB writes queues ~2 GiB: the default outbox limit would switch the VPG
    // to bitmap mode (and a resync) in the middle of the measurement.
    runArgs: ['--outbox-limit-mib', '16384'],
    profileDir,
    profileOnSignal: true,
  });
  const work = await mkdtemp(join(tmpdir(), 'tideline-bench-nbd-'));
  let qemu;
  try {
    const all = await sites.vms(hq);
    for (const vm of all) await sites.setWorkload(hq, vm.vmId, 0);
    const vm = all[0];
    const disk = vm.disks[0];
    // The anchor's file: a copy of the agent's disk before anything writes to either.
    const copy = join(work, 'qemu-nbd.raw');
    await run('cp', ['--sparse=always', disk.location, copy]);

    const vpg = await sites.createVpg(hq, dr, {
      vmIds: [vm.vmId],
      checkpointIntervalMs: 5000,
      rpoTargetSeconds: 60,
    });
    await sites.untilVpg(hq, vpg.vpgId, sites.isStatus('Protecting', 'RpoNotMet'), 'protecting');
    const exported = (await sites.vms(hq))
      .find((v) => v.vmId === vm.vmId)
      ?.disks.find((d) => d.diskId === disk.diskId);
    if (exported?.exportUri === undefined) {
      throw new Error(`vm.list shows no exportUri for ${disk.diskId}: ${exported?.exportError}`);
    }
    const servers = [{ name: 'agent', uri: exported.exportUri }];
    if (!values['skip-anchor']) {
      const socket = join(work, 'qemu-nbd.sock');
      const cache = values['qemu-cache'] === undefined ? [] : [`--cache=${values['qemu-cache']}`];
      qemu = spawn('qemu-nbd', ['-t', '-k', socket, '-f', 'raw', ...cache, copy], {
        stdio: 'inherit',
      });
      await waitForNbd(`nbd+unix:///?socket=${socket}`);
      servers.unshift({ name: 'qemu-nbd', uri: `nbd+unix:///?socket=${socket}`, pid: qemu.pid });
    }
    const agentPids = [hq.agent.process.pid, dr.agent.process.pid];
    const drained = async () => {
      const deadline = Date.now() + 600_000;
      for (;;) {
        const state = await sites.vpgState(hq, vpg.vpgId);
        if (state.backlogBytes < MiB && state.confirmedSeq >= state.lastSeq - 2) return state;
        if (Date.now() > deadline) throw new Error(`backlog not drained: ${JSON.stringify(state)}`);
        await sites.sleep(250);
      }
    };

    console.log(
      `disk ${disk.diskId} (${(Number(values['disk-mib']) / 1024).toFixed(2)} GiB), ${runtime} s per run, ${rounds} round(s), fill ${fill ? 'yes' : 'no'}`,
    );
    if (fill) {
      for (const server of servers) {
        const started = performance.now();
        const result = await fio(server.uri, { name: 'fill', rw: 'write', bs: '1M', iodepth: 8 });
        if (server.name === 'agent') await drained();
        const seconds = (performance.now() - started) / 1000;
        console.log(
          `  fill ${server.name}: ${(result.bytes / MiB).toFixed(0)} MiB at ${(result.bw / MiB).toFixed(0)} MiB/s${server.name === 'agent' ? `, replicated in ${seconds.toFixed(1)} s` : ''}`,
        );
      }
    }

    const results = new Map(); // `${job}/${server}` → runs
    let windows = 0; // profile windows so far (bench/cpu-profile.mjs numbers them from 1)
    for (let round = 0; round < rounds; round += 1) {
      for (const job of jobs) {
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        for (const server of order) {
          await drained();
          // The page cache written back first: qemu-nbd (cache=writeback) leaves up to 3 GiB of
          // dirty pages, and their writeback during the next run cost the agent ≈ 1.5 ms more
          // CPU per 1 MiB write (bench/README.md § 26). Neither server pays for the other's.
          spawnSync('sync');
          await sites.sleep(500);
          const pids = server.name === 'agent' ? agentPids : [server.pid];
          const cpuBefore = pids.map(processCpuSeconds);
          const loadBefore = loadAverage().split(' ')[0];
          const profiling = profileDir !== undefined && server.name === 'agent';
          if (profiling) for (const pid of agentPids) process.kill(pid, 'SIGUSR2');
          const result = await fio(server.uri, { ...job, runtime });
          if (profiling) {
            for (const pid of agentPids) process.kill(pid, 'SIGUSR2');
            windows += 1;
            await keepProfiles(profileDir, agentPids, windows, `${job.name}-round${round + 1}`);
          }
          let status = '';
          if (server.name === 'agent') {
            // The agents' CPU counts until what the run queued is replicated: a write's cost
            // includes sending it and journaling it, also when that happens after the run.
            const state = await sites.vpgState(hq, vpg.vpgId);
            const drainStarted = performance.now();
            await drained();
            const drainSeconds = (performance.now() - drainStarted) / 1000;
            status = `${state.status}, backlog ${(state.backlogBytes / MiB).toFixed(0)} MiB, replicated ${drainSeconds.toFixed(1)} s after the run`;
          }
          const cpus = pids.map((pid, i) => processCpuSeconds(pid) - cpuBefore[i]);
          const cpu = cpus.reduce((n, c) => n + c, 0);
          const perIo = (c) => ((c / result.ios) * 1e6).toFixed(0);
          const key = `${job.name}/${server.name}`;
          results.set(key, [...(results.get(key) ?? []), { ...result, cpu }]);
          console.log(
            `  round ${round + 1} ${job.name.padEnd(16)} ${server.name.padEnd(8)} ${fmtIops(result.iops)} IOPS ${fmtMib(result.bw)} MiB/s  server CPU ${perIo(cpu)}${cpus.length > 1 ? ` (${cpus.map(perIo).join(' + ')})` : ''} µs/IO  load ${loadBefore}  ${status}`,
          );
        }
      }
    }

    console.log(
      `\nmedian of ${rounds} round(s), ${runtime} s each (fio ioengine=nbd, unix socket):`,
    );
    console.log(
      `${'job'.padEnd(18)}${servers.map((s) => `${s.name.padStart(10)} IOPS ${'MiB/s'.padStart(8)}`).join('')}${servers.length > 1 ? '   agent/qemu-nbd' : ''}`,
    );
    for (const job of jobs) {
      const medians = servers.map((s) => median(results.get(`${job.name}/${s.name}`)));
      const ratio =
        servers.length > 1 ? `   ${(medians[1].iops / medians[0].iops).toFixed(2)}` : '';
      console.log(
        `${job.name.padEnd(18)}${medians.map((m) => `${fmtIops(m.iops).padStart(15)} ${fmtMib(m.bw).padStart(8)}`).join('')}${ratio}`,
      );
    }
    const final = await sites.vpgState(hq, vpg.vpgId);
    console.log(`VPG at the end: ${final.status}; load average after: ${loadAverage()}`);
  } finally {
    qemu?.kill('SIGTERM');
    await agents.cleanupAgents();
    await rm(work, { recursive: true, force: true });
  }
  if (profileDir !== undefined) console.log(`cpu profiles in ${profileDir}/{source,target}`);
}

/** One fio run; resolves IOPS, bytes/s, bytes and I/Os of the job's direction. */
async function fio(uri, job) {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-fio-'));
  const out = join(dir, 'fio.json');
  const args = [
    `--name=${job.name}`,
    '--ioengine=nbd',
    `--uri=${uri}`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--iodepth=${job.iodepth}`,
    '--output-format=json',
    `--output=${out}`,
  ];
  if (job.runtime !== undefined) args.push(`--runtime=${job.runtime}`, '--time_based');
  if (job.rw.startsWith('rand')) args.push('--randrepeat=0', '--norandommap');
  try {
    await run('fio', args);
    const report = JSON.parse(await readFile(out, 'utf8'));
    const j = report.jobs[0];
    if (j.error !== 0) throw new Error(`fio ${job.name} failed: error ${j.error}`);
    const side = job.rw.includes('read') ? j.read : j.write;
    return { iops: side.iops, bw: side.bw_bytes, bytes: side.io_bytes, ios: side.total_ios };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Renames each agent's profile of window `n` to `<dir>/{source,target}/<name>.cpuprofile`. */
async function keepProfiles(dir, pids, n, name) {
  for (const [i, role] of ['source', 'target'].entries()) {
    const from = join(dir, role, `${pids[i]}-${n}.cpuprofile`);
    for (let tries = 0; ; tries += 1) {
      try {
        await rename(from, join(dir, role, `${name}.cpuprofile`));
        break;
      } catch (err) {
        if (tries > 100) throw err;
        await new Promise((ok) => setTimeout(ok, 100));
      }
    }
  }
}

/** Waits until an NBD server answers (nbdinfo). */
async function waitForNbd(uri) {
  for (let i = 0; ; i += 1) {
    try {
      await run('nbdinfo', ['--size', uri]);
      return;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((ok) => setTimeout(ok, 100));
    }
  }
}

function run(command, args) {
  return new Promise((ok, fail) => {
    const child = spawn(command, args, { cwd: tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d.toString()));
    child.once('error', fail);
    child.once('exit', (code) =>
      code === 0 ? ok() : fail(new Error(`${command} ${args.join(' ')}: exit ${code}\n${stderr}`)),
    );
  });
}

/** The middle run by IOPS; of an even number, the mean of the two middle ones (not the upper). */
function median(runs) {
  const sorted = [...runs].sort((a, b) => a.iops - b.iops);
  const upper = sorted[Math.floor(sorted.length / 2)];
  if (sorted.length % 2 === 1) return upper;
  const lower = sorted[sorted.length / 2 - 1];
  return { iops: (lower.iops + upper.iops) / 2, bw: (lower.bw + upper.bw) / 2 };
}

function fmtIops(x) {
  return x.toFixed(0).padStart(7);
}

function fmtMib(bw) {
  return (bw / MiB).toFixed(1).padStart(7);
}
