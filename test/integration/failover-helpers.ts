/**
 * What the failover tests share: two paired sites with a VPG, its metadata package at the
 * recovery site, the failover calls, and the recovered disks read through their NBD exports.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FailoverStatusSchema,
  NetworkSchema,
  TaskSchema,
  type FailoverStatus,
  type Network,
  type Task,
  type Vm,
  type VmRecoverySettingsInput,
} from '../../app/protocol';
import { makeTempDir } from '../helpers/agents';
import { runTool } from '../helpers/nbd-tools';
import {
  MiB,
  call,
  createVpg,
  launchSite,
  pairSites,
  pickVms,
  sha256File,
  tail,
  vms,
  type Site,
} from '../helpers/replication-sites';

export interface FailoverLab {
  readonly hq: Site;
  readonly dr: Site;
  readonly vpgId: string;
  readonly protectedVms: Vm[];
}

/** Two sites, paired; a VPG of `vmCount` VMs (one disk each) with recovery settings. */
export async function launchLab(
  options: {
    vmCount?: number;
    recovery?: (vms: Vm[]) => VmRecoverySettingsInput[];
    rpoTargetSeconds?: number;
    diskMiB?: number;
  } = {},
): Promise<FailoverLab> {
  const runArgs = ['--metadata-interval-seconds', '2'];
  const [hq, dr] = await Promise.all([
    launchSite('Headquarters', { runArgs, diskMiB: options.diskMiB ?? 16 }),
    launchSite('Recovery DC', { runArgs, diskMiB: options.diskMiB ?? 16 }),
  ]);
  await pairSites(hq, dr);
  const count = options.vmCount ?? 2;
  const protectedVms = pickVms(await vms(hq), count, count);
  const vpg = await createVpg(hq, dr, {
    vmIds: protectedVms.map((v) => v.vmId),
    ...(options.rpoTargetSeconds !== undefined && { rpoTargetSeconds: options.rpoTargetSeconds }),
  });
  if (options.recovery !== undefined) {
    await call(hq, 'vpg.update', {
      vpgId: vpg.vpgId,
      version: vpg.version,
      settings: { recovery: { vms: options.recovery(protectedVms) } },
    });
  }
  return { hq, dr, vpgId: vpg.vpgId, protectedVms };
}

/** Waits until the recovery site holds a metadata package of the VPG (of at least `version`). */
export async function untilMetadata(dr: Site, vpgId: string, vpgVersion = 0): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await dr.client.request('vpg.metadata', { vpgId });
    const pkg = response.result as { vpgVersion?: number } | undefined;
    if (response.error === undefined && (pkg?.vpgVersion ?? -1) >= vpgVersion) return;
    if (Date.now() > deadline) {
      throw new Error(
        `no metadata package at the recovery site: ${JSON.stringify(response.error)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startTask(site: Site, method: string, params: unknown): Promise<string> {
  return (await call<{ taskId: string }>(site, method, params)).taskId;
}

/** The task once ended; fails unless it succeeded. */
export async function taskSucceeds(site: Site, taskId: string, timeoutMs = 60_000): Promise<Task> {
  const task = await endedTask(site, taskId, timeoutMs);
  assert.equal(
    task.completionCode,
    'Success',
    `${task.type} ${task.completionCode}: ${task.exception ?? ''}\n${tail(site)}`,
  );
  return task;
}

export async function endedTask(site: Site, taskId: string, timeoutMs = 60_000): Promise<Task> {
  // The request outlives the wait it asks for.
  const response = await site.client.request(
    'task.waitFor',
    { taskId, timeoutMs },
    timeoutMs + 10_000,
  );
  if (response.error !== undefined) {
    throw new Error(`${site.name}: task.waitFor failed: ${response.error.message}\n${tail(site)}`);
  }
  return TaskSchema.parse(response.result);
}

/** Waits until `site` has no task Running or Active (an interrupted one must be ended). */
export async function untilTasksSettled(
  site: Site,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tasks = TaskSchema.array().parse(await call(site, 'task.list', {}));
    const running = tasks.filter((t) => t.status === 'Running' || t.status === 'Active');
    if (running.length === 0) return;
    assert.ok(
      Date.now() < deadline,
      `${what}: ${site.name} still has ${running.map((t) => `${t.type} ${t.status}`).join(', ')}`,
    );
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function failovers(
  site: Site,
  params: { vpgId?: string; includeEnded?: boolean } = {},
): Promise<FailoverStatus[]> {
  return FailoverStatusSchema.array().parse(await call(site, 'failover.list', params));
}

export async function networks(site: Site): Promise<Network[]> {
  return NetworkSchema.array().parse(await call(site, 'network.list'));
}

/** A recovered disk's bytes through its NBD export (nbdcopy), hashed. */
export async function exportHash(uri: string): Promise<string> {
  const out = join(await makeTempDir('tideline-recovered-'), 'disk.raw');
  await runTool('nbdcopy', [uri, out]);
  return sha256File(out);
}

/** Files under the recovery disks' directory of a data dir (none once every test is gone). */
export async function recoveryFiles(dataDir: string): Promise<string[]> {
  try {
    return (await readdir(join(dataDir, 'recovery'), { recursive: true })).map(String);
  } catch {
    return [];
  }
}

export { MiB };
