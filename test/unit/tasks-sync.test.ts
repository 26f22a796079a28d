import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import type { Task } from '../../app/task/task-schemas';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { SyncRunner } from '../../agent/replication/sync-runner';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import type { DiskFile } from '../../agent/tap/disk-file';
import { DiskTap } from '../../agent/tap/disk-tap';
import { TaskManager } from '../../agent/tasks/task-manager';

/**
 * Initial sync as a task, with a real VpgSource and disk files: no link drains the outbox, so
 * the sync runs while its backlog allows and then waits (pace), which lets the test see it
 * part-way and stop it.
 */

const MiB = 1024 * 1024;
const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function rig(syncLimitBytes: number) {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-sync-task-'));
  dirs.push(dir);
  const tap = new DiskTap();
  const disks: DiskFile[] = [];
  for (const id of ['d0', 'd1']) {
    const path = join(dir, `${id}.raw`);
    await createSparseFile(path, 8 * MiB);
    const handle = await open(path, 'r+');
    for (const at of [0, 3 * MiB, 6 * MiB]) await handle.write(randomBytes(MiB), 0, MiB, at);
    await handle.close();
    disks.push(await tap.attach(id, path));
  }
  const source = new VpgSource({
    vpgId: 'vpg-task',
    dir: outboxDir(dir, 'vpg-task'),
    disks,
    limitBytes: 1024 * MiB,
    checkpointIntervalMs: 0,
  });
  await source.open();
  for (const d of disks) await tap.protect(d.diskId, source);
  const sent: Task[] = [];
  const tasks = new TaskManager({
    file: join(dir, 'tasks.json'),
    log,
    notify: (t) => sent.push(t),
  });
  await tasks.start();
  let ended: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const runner = new SyncRunner({
    source,
    disks,
    outboxLimitBytes: syncLimitBytes,
    log,
    tasks,
    onSeeded: async () => undefined,
    onFault: (err) => assert.fail(`no fault expected: ${err.message}`),
    onChange: () => {
      if (runner.kind === undefined) ended();
    },
  });
  return {
    runner,
    tasks,
    sent,
    done,
    close: async () => {
      await runner.stop();
      await tasks.stop();
      await source.close();
      await tap.close();
    },
  };
}

test('an initial sync is an InitialSync task: one step per disk, units = the disks, Success with progress 1', async () => {
  const r = await rig(1024 * MiB);
  r.runner.start('seeding');
  const [task] = r.tasks.list({ type: 'InitialSync' });
  assert.ok(task, 'the task exists as soon as the sync starts');
  assert.equal(task.vpgId, 'vpg-task');
  assert.equal(task.totalUnits, 16 * MiB);
  assert.deepEqual(
    task.steps.map((s) => s.name),
    ['Disk d0', 'Disk d1'],
  );
  assert.equal(task.abortable, false);
  const ended = await r.tasks.waitFor(task.taskId, 30_000);
  assert.equal(ended.status, 'Completed');
  assert.equal(ended.completionCode, 'Success');
  assert.equal(ended.progress, 1);
  assert.equal(ended.doneUnits, 16 * MiB);
  assert.deepEqual(
    ended.steps.map((s) => s.status),
    ['Done', 'Done'],
  );
  assert.deepEqual(ended.result, {
    records: ended.result?.['records'],
    dataBytes: 6 * MiB,
    scannedBytes: 16 * MiB,
  });
  assert.ok(
    r.sent.some((t) => t.taskId === task.taskId && t.steps[1]?.status === 'Running'),
    'the step change to the second disk was notified',
  );
  await r.done;
  await r.close();
});

test('an initial sync stopped part-way (the VPG removed) ends Aborted with the reason', async () => {
  // 4 MiB of outbox for the sync: it may queue 1 MiB, then waits for a link that never comes.
  const r = await rig(4 * MiB);
  // The sync's pacing sleeps on unref'd timers (the agent has servers to keep it alive).
  const keepAlive = setInterval(() => undefined, 1000);
  r.runner.start('seeding');
  const [task] = r.tasks.list({ type: 'InitialSync' });
  assert.ok(task);
  const deadline = Date.now() + 20_000;
  while ((r.tasks.get(task.taskId).doneUnits ?? 0) === 0) {
    assert.ok(Date.now() < deadline, 'progress is reported while the sync runs');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const partWay = r.tasks.get(task.taskId);
  assert.equal(partWay.status, 'Running');
  assert.ok(partWay.progress > 0 && partWay.progress < 1, `part-way: ${partWay.progress}`);
  await r.runner.stop();
  const ended = r.tasks.get(task.taskId);
  assert.equal(ended.status, 'Aborted');
  assert.equal(ended.completionCode, 'Aborted');
  assert.match(ended.exception ?? '', /removed or stopped .* during the initial sync/);
  await r.close();
  clearInterval(keepAlive);
});
