// Shared by the benches that run real agents (bench/replication.mjs, bench/nbd.mjs): two
// paired sites from the built bundle (dist/), optionally CPU-profiled (bench/cpu-profile.mjs),
// and the machine figures every bench prints (load average, a process's CPU seconds).
// The bench must run under `node --import tsx` (the site helpers are TypeScript test helpers).
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';

/** The 1, 5 and 15 minute load averages, e.g. "1.52 0.98 0.77". */
export function loadAverage() {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/** Another process's user + system CPU seconds so far, all its threads (Linux /proc). */
export function processCpuSeconds(pid) {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** The same for its main thread alone (the event loop's: its thread id is the pid). */
export function mainThreadCpuSeconds(pid) {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuSeconds(path) {
  try {
    const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
  } catch {
    return NaN;
  }
}

/** A process's resident memory now and at its peak (VmRSS, VmHWM), in MiB. */
export function processRssMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { now: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  } catch {
    return { now: NaN, peak: NaN };
  }
}

/**
 * Environment that makes an agent write `<profileDir>/<name>/<pid>.cpuprofile` at exit, or
 * with `onSignal` one `<pid>-<n>.cpuprofile` per SIGUSR2 pair (bench/cpu-profile.mjs).
 */
export function profileEnv(profileDir, name, onSignal = false) {
  return {
    NODE_OPTIONS: `--import ${new URL('../cpu-profile.mjs', import.meta.url).href}`,
    TIDELINE_CPU_PROF_DIR: join(profileDir, name),
    ...(onSignal && { TIDELINE_CPU_PROF_ON_SIGNAL: '1' }),
  };
}

/**
 * Two real agents ('Bench HQ' protects, 'Bench DR' recovers), each initialised with
 * `diskMiB` sim disks (and `simVms` VMs, default 4–6), paired. With `profileDir`, both are
 * restarted under the CPU profiler (launchSite takes no environment) and write their profiles
 * to `<profileDir>/{source,target}` when stopped (with `profileOnSignal`, per SIGUSR2 window).
 * With `targetRoot`, the recovery agent's data directory is made under it (another file
 * system: each site with a disk of its own, as on two hosts), and `drRoot` is that directory,
 * for the caller to remove. Resolves { hq, dr, drRoot, sites, agents }: `sites` and `agents` are the helper modules
 * (test/helpers/replication-sites.ts, agents.ts); call agents.cleanupAgents() at the end.
 */
export async function launchPairedSites({
  diskMiB,
  simVms,
  runArgs = [],
  profileDir,
  profileOnSignal,
  targetRoot,
}) {
  const sites = await import('../../test/helpers/replication-sites.ts');
  const agents = await import('../../test/helpers/agents.ts');
  const initArgs = ['--sim-disk-mib', String(diskMiB)];
  if (simVms !== undefined) initArgs.push('--sim-vms', String(simVms));
  const hq = await sites.launchSite('Bench HQ', { initArgs, runArgs });
  const drRoot =
    targetRoot === undefined ? undefined : mkdtempSync(join(resolve(targetRoot), 'tideline-dr-'));
  const dr = await sites.launchSite('Bench DR', {
    initArgs,
    runArgs,
    ...(drRoot !== undefined && { dataDir: join(drRoot, 'data') }),
  });
  if (profileDir !== undefined) {
    const dir = resolve(profileDir);
    mkdirSync(dir, { recursive: true });
    for (const [site, name] of [
      [hq, 'source'],
      [dr, 'target'],
    ]) {
      await site.client.close();
      await site.agent.stop();
      site.agent = await agents.startAgent({
        dataDir: site.creds.dataDir,
        listen: site.agent.address,
        replicationListen: site.agent.replicationAddress,
        args: runArgs,
        env: profileEnv(dir, name, profileOnSignal),
      });
      site.client = await agents.connectRaw(site.agent.url, {
        token: site.creds.token,
        fingerprint: site.creds.fingerprint,
      });
      await site.client.hello();
    }
  }
  await sites.pairSites(hq, dr);
  return { hq, dr, drRoot, sites, agents };
}
