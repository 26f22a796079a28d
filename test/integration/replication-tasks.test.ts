import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes } from '../../app/errors';
import { TaskSchema, type Task } from '../../app/task/task-schemas';
import type { ProtectionTask, Vm, VpgState } from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import {
  MiB,
  call,
  createVpg,
  errorOf,
  insertCheckpoint,
  isStatus,
  pairedSites,
  pauseAll,
  setWorkload,
  sha256File,
  sleep,
  startSite,
  stopSite,
  untilVpg,
  vms,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';

/**
 * Tasks between two real agents: the initial sync of a VM whose disks already hold data is an
 * InitialSync task at the protected site; checkpoint.exportDisk at the recovery site is an
 * ExportDisk task whose image is byte for byte the source disk at the checkpoint (sha256);
 * task.* answer for both, and the history survives a restart.
 */

let hq: Site;
let dr: Site;
let vm: Vm;
let vpg: VpgState;
let exportDir: string;
/** The checkpoint taken with the workload paused and the sha256 of each source disk then. */
let checkpointSeq = 0;
const diskHashes = new Map<string, string>();
let exportTaskId = '';
/** A console core connected to hq: the Protection page's source of sync progress. */
let core: ConsoleCore;
const consoleTasks: ProtectionTask[] = [];

async function task(site: Site, taskId: string): Promise<Task> {
  return TaskSchema.parse(await call(site, 'task.get', { taskId }));
}

async function taskList(site: Site, params: Record<string, unknown>): Promise<Task[]> {
  return TaskSchema.array().parse(await call(site, 'task.list', params));
}

before(async () => {
  [hq, dr] = await pairedSites();
  exportDir = await makeTempDir('tideline-export-task-');
  core = new ConsoleCore({
    settings: openNodeSettings(await makeTempDir('tideline-console-tasks-')),
    mode: 'browser',
    backoff: { initialMs: 100, maxMs: 400 },
  });
  core.start();
  core.events.on('protection.task', (t) => consoleTasks.push(t));
  await core.addAgent({
    address: hq.agent.address,
    token: hq.creds.token,
    fingerprint: hq.creds.fingerprint,
  });
});
after(async () => {
  await core?.stop();
  await cleanupAgents();
});

describe('tasks', () => {
  it('shows the initial sync of a VM with data as an InitialSync task that completes with progress 1', async () => {
    vm = (await vms(hq))[0] as Vm;
    // The VM wrote before it was protected: 1 MiB in three places of each disk.
    for (const disk of vm.disks) {
      const handle = await open(disk.location, 'r+');
      for (const at of [0, 5 * MiB, 11 * MiB]) await handle.write(randomBytes(MiB), 0, MiB, at);
      await handle.close();
    }
    vpg = await createVpg(hq, dr, { name: 'tasks', vmIds: [vm.vmId] });
    const [sync, ...more] = await taskList(hq, { vpgId: vpg.vpgId, type: 'InitialSync' });
    assert.ok(sync, 'an InitialSync task exists once vpg.create answered');
    assert.equal(more.length, 0);
    const total = vm.disks.reduce((n, d) => n + d.sizeBytes, 0);
    assert.equal(sync.totalUnits, total, 'units: the bytes of every disk to examine');
    assert.deepEqual(
      sync.steps.map((s) => s.name),
      vm.disks.map((d) => `Disk ${d.diskId}`),
    );
    const ended = TaskSchema.parse(
      await call(hq, 'task.waitFor', { taskId: sync.taskId, timeoutMs: 60_000 }),
    );
    assert.equal(ended.status, 'Completed');
    assert.equal(ended.completionCode, 'Success');
    assert.equal(ended.progress, 1);
    assert.equal(ended.doneUnits, total);
    assert.equal(ended.result?.['dataBytes'], 3 * MiB * vm.disks.length, 'the data was seeded');
    assert.ok(ended.steps.every((s) => s.status === 'Done'));
    // The console saw it as task.progress, ending with the completed task.
    const last = await hq.client.waitFor<{ params: Task }>(
      (v) =>
        isNotification(v, 'task.progress') &&
        v.params.taskId === sync.taskId &&
        v.params.status === 'Completed',
      5000,
    );
    assert.equal(TaskSchema.parse(last.params).completionCode, 'Success');
    // …and the console core forwarded it as protection.task (the VPG row's progress and ETA).
    const forwardedEnd = Date.now() + 5000;
    const forwarded = () => consoleTasks.filter((t) => t.taskId === sync.taskId);
    while (forwarded().at(-1)?.status !== 'Completed' && Date.now() < forwardedEnd) await sleep(50);
    assert.equal(forwarded().at(-1)?.status, 'Completed');
    assert.equal(forwarded().at(-1)?.siteId, hq.siteId);
    assert.ok(
      core.protectionTasks().tasks.some((t) => t.taskId === sync.taskId),
      'tasks.list shows the sync that just ended',
    );
    assert.deepEqual(await call(hq, 'task.completionCode', { taskId: sync.taskId }), {
      taskId: sync.taskId,
      completionCode: 'Success',
    });
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting after the initial sync');
  });

  it('exports a disk at a checkpoint as an ExportDisk task: the image is the source disk then', async () => {
    await setWorkload(hq, vm.vmId, 2 * MiB);
    await sleep(1500);
    await pauseAll(hq, [vm.vmId], true);
    const checkpoint = await waitForCheckpoint(hq, await insertCheckpoint(hq, vpg.vpgId, 'export'));
    checkpointSeq = checkpoint.seq;
    for (const disk of vm.disks) diskHashes.set(disk.diskId, await sha256File(disk.location));
    const disk = vm.disks[0];
    assert.ok(disk);
    const path = join(exportDir, 'disk0.raw');
    const started = Date.now();
    const { taskId } = await call<{ taskId: string }>(dr, 'checkpoint.exportDisk', {
      vpgId: vpg.vpgId,
      diskId: disk.diskId,
      checkpointSeq,
      path,
    });
    exportTaskId = taskId;
    const ended = TaskSchema.parse(await call(dr, 'task.waitFor', { taskId, timeoutMs: 60_000 }));
    const ms = Date.now() - started;
    assert.equal(ended.type, 'ExportDisk');
    assert.equal(ended.vpgId, vpg.vpgId);
    assert.equal(ended.status, 'Completed', ended.exception);
    assert.equal(ended.completionCode, 'Success');
    assert.equal(ended.progress, 1);
    assert.equal(ended.totalUnits, disk.sizeBytes);
    assert.deepEqual(ended.input, { vpgId: vpg.vpgId, diskId: disk.diskId, checkpointSeq, path });
    const expected = diskHashes.get(disk.diskId);
    assert.equal(await sha256File(path), expected, 'the image is the source disk at C');
    assert.equal((await stat(path)).size, disk.sizeBytes);
    const { result } = await call<{ result: Record<string, unknown> }>(dr, 'task.result', {
      taskId,
    });
    assert.equal(result['path'], path);
    assert.equal(result['bytes'], disk.sizeBytes);
    assert.equal(result['sha256'], expected);
    assert.equal(result['checkpointSeq'], checkpointSeq);
    assert.deepEqual(await call(dr, 'task.exception', { taskId }), { taskId });
    assert.deepEqual(await call(dr, 'task.completionCode', { taskId }), {
      taskId,
      completionCode: 'Success',
    });
    assert.deepEqual(await task(dr, taskId), ended);
    const listed = await taskList(dr, { type: 'ExportDisk' });
    assert.equal(listed[0]?.taskId, taskId, 'newest first');
    assert.deepEqual(
      (await taskList(dr, { vpgId: vpg.vpgId, status: 'Completed' })).map((t) => t.taskId),
      [taskId],
      'the recovery site ran no sync task',
    );
    const abortEnded = await errorOf(dr, 'task.abort', { taskId });
    assert.equal(abortEnded.code, ErrorCodes.CONFLICT);
    console.log(`# export of ${disk.sizeBytes / MiB} MiB as a task: ${ms} ms to Completed`);
  });

  it('refuses an export it cannot do, with a reason', async () => {
    const disk = vm.disks[0];
    assert.ok(disk);
    const base = { vpgId: vpg.vpgId, diskId: disk.diskId, checkpointSeq };
    const fresh = (name: string) => join(exportDir, name);
    const cases: [string, Site, Record<string, unknown>, number, RegExp][] = [
      [
        'at the protected site',
        hq,
        { ...base, path: fresh('a.raw') },
        ErrorCodes.CONFLICT,
        /protected from this site.*recovery site/,
      ],
      [
        'an unknown checkpoint',
        dr,
        { ...base, checkpointSeq: 99_999_999, path: fresh('b.raw') },
        ErrorCodes.NOT_FOUND,
        /no checkpoint 99999999/,
      ],
      [
        'an unknown disk',
        dr,
        { ...base, diskId: 'no-such-disk', path: fresh('c.raw') },
        ErrorCodes.NOT_FOUND,
        /no disk no-such-disk/,
      ],
      [
        'an unknown VPG',
        dr,
        { ...base, vpgId: 'no-such-vpg', path: fresh('d.raw') },
        ErrorCodes.NOT_FOUND,
        /no-such-vpg/,
      ],
      [
        'a file that exists',
        dr,
        { ...base, path: join(exportDir, 'disk0.raw') },
        ErrorCodes.ALREADY_EXISTS,
        /already exists/,
      ],
      [
        'a missing directory',
        dr,
        { ...base, path: join(exportDir, 'nope', 'e.raw') },
        ErrorCodes.NOT_FOUND,
        /does not exist/,
      ],
      [
        'a relative path',
        dr,
        { ...base, path: 'relative/f.raw' },
        ErrorCodes.INVALID_PARAMS,
        /absolute path/,
      ],
    ];
    for (const [what, site, params, code, message] of cases) {
      const error = await errorOf(site, 'checkpoint.exportDisk', params);
      assert.equal(error.code, code, `${what}: ${error.message}`);
      assert.match(error.message, message, what);
    }
    // An inconsistent checkpoint (taken during the initial sync) is not an image.
    const inconsistent = (
      await call<{ seq: number; inconsistent?: boolean }[]>(dr, 'checkpoint.list', {
        vpgId: vpg.vpgId,
      })
    ).find((c) => c.inconsistent === true);
    if (inconsistent !== undefined) {
      const error = await errorOf(dr, 'checkpoint.exportDisk', {
        ...base,
        checkpointSeq: inconsistent.seq,
        path: fresh('g.raw'),
      });
      assert.equal(error.code, ErrorCodes.CONFLICT);
      assert.match(error.message, /not a consistent image/);
    }
    const unknown = await errorOf(dr, 'task.get', { taskId: 'no-such-task' });
    assert.equal(unknown.code, ErrorCodes.NOT_FOUND);
    // Nothing was written and no task was made for a refused export.
    assert.equal((await taskList(dr, { type: 'ExportDisk' })).length, 1);
  });

  it('keeps the task history across a restart', async () => {
    const before = await task(dr, exportTaskId);
    await stopSite(dr);
    await startSite(dr);
    assert.deepEqual(await task(dr, exportTaskId), before);
    const [sync] = await taskList(hq, { vpgId: vpg.vpgId, type: 'InitialSync' });
    assert.equal(sync?.completionCode, 'Success');
    // A damaged history does not stop the agent (it is set aside).
    await stopSite(hq);
    await writeFile(join(hq.creds.dataDir, 'state', 'tasks.json'), '{"version":1,');
    await startSite(hq);
    assert.deepEqual(await taskList(hq, {}), []);
  });
});

function isNotification(value: unknown, method: string): value is { method: string; params: Task } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { method?: unknown }).method === method &&
    !('id' in value)
  );
}
