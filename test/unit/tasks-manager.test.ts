import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import pino from 'pino';
import { TidelineError } from '../../app/errors';
import { TaskSchema, type Task } from '../../app/task/task-schemas';
import { EtaEstimator } from '../../agent/tasks/eta';
import {
  RESTART_INTERRUPTION,
  STOP_INTERRUPTION,
  TaskManager,
  type TaskHandle,
  type TaskManagerOptions,
} from '../../agent/tasks/task-manager';

const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tideline-tasks-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileNo = 0;
async function manager(
  options: Partial<TaskManagerOptions> = {},
): Promise<{ tasks: TaskManager; sent: Task[]; file: string }> {
  const sent: Task[] = [];
  const file = options.file ?? join(dir, `tasks-${++fileNo}.json`);
  const tasks = new TaskManager({ file, log, notify: (t) => sent.push(t), ...options });
  await tasks.start();
  return { tasks, sent, file };
}

/** A promise and the functions that settle it. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TidelineError, `a TidelineError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected an error');
}

describe('TaskManager', () => {
  it('runs a task through Active → Running → Completed/Success with steps, units and a result', async () => {
    const { tasks, sent } = await manager();
    const gate = deferred();
    const created = tasks.run(
      {
        type: 'ExportDisk',
        vpgId: 'vpg-1',
        input: { diskId: 'd1' },
        steps: ['Read', 'Write', 'Verify'],
        totalUnits: 100,
        abortable: true,
      },
      async (task) => {
        task.step('Read');
        task.progress(40, 0.5);
        await gate.promise;
        task.step('Write');
        task.progress(100, 1);
        return { bytes: 100 };
      },
    );
    assert.equal(created.status, 'Active');
    assert.equal(created.completionCode, 'NotAvailable');
    assert.deepEqual(
      created.steps.map((s) => s.status),
      ['Pending', 'Pending', 'Pending'],
    );
    await new Promise((r) => setImmediate(r));
    const running = tasks.get(created.taskId);
    assert.equal(running.status, 'Running');
    assert.equal(running.progress, 0.4);
    assert.equal(running.doneUnits, 40);
    assert.deepEqual(running.steps[0], { name: 'Read', progress: 0.5, status: 'Running' });
    gate.resolve();
    const done = await tasks.waitFor(created.taskId, 5000);
    assert.equal(done.status, 'Completed');
    assert.equal(done.completionCode, 'Success');
    assert.equal(done.progress, 1);
    assert.deepEqual(done.result, { bytes: 100 });
    assert.equal(done.exception, undefined);
    assert.equal(done.etaSeconds, undefined);
    assert.ok(done.endedAt !== undefined && done.endedAt >= done.startedAt);
    assert.deepEqual(
      done.steps.map((s) => `${s.name}:${s.status}`),
      ['Read:Done', 'Write:Done', 'Verify:Skipped'],
    );
    // Every status and step change was notified, the last one being the end.
    const statuses = sent.filter((t) => t.taskId === created.taskId).map((t) => t.status);
    assert.equal(statuses[0], 'Active');
    assert.ok(statuses.includes('Running'));
    assert.equal(statuses.at(-1), 'Completed');
    for (const t of sent) TaskSchema.parse(t);
    await tasks.stop();
  });

  it('a task without units (a failover) progresses by its steps', async () => {
    const { tasks } = await manager();
    const gate = deferred();
    const created = tasks.run(
      {
        type: 'FailoverLive',
        input: {},
        steps: ['Disks', 'VMs', 'Power on', 'Ready'],
        abortable: false,
      },
      async (task) => {
        task.step('Disks');
        task.step('VMs');
        task.progress(0, 0.5);
        await gate.promise;
      },
    );
    await new Promise((r) => setImmediate(r));
    // One step done, the second half way, two to go: 1.5 of 4.
    assert.equal(tasks.get(created.taskId).progress, 0.375);
    gate.resolve();
    assert.equal((await tasks.waitFor(created.taskId, 5000)).progress, 1);
    await tasks.stop();
  });

  it('ends Completed/Failed on a TidelineError and Completed/HadException on anything else', async () => {
    const { tasks } = await manager();
    const failed = tasks.run({ type: 'Resync', input: {}, abortable: false }, () =>
      Promise.reject(new TidelineError('NOT_FOUND', 'Disk d9 is gone')),
    );
    const crashed = tasks.run({ type: 'Resync', input: {}, abortable: false }, () =>
      Promise.reject(new RangeError('offset out of range')),
    );
    const f = await tasks.waitFor(failed.taskId, 5000);
    assert.equal(f.status, 'Completed');
    assert.equal(f.completionCode, 'Failed');
    assert.equal(f.exception, 'Disk d9 is gone');
    const c = await tasks.waitFor(crashed.taskId, 5000);
    assert.equal(c.completionCode, 'HadException');
    assert.equal(c.exception, 'Unexpected error: offset out of range');
    await tasks.stop();
  });

  it('aborts an abortable task on request; refuses one that is not abortable or has ended', async () => {
    const { tasks } = await manager();
    const abortable = tasks.run(
      { type: 'ExportDisk', input: {}, steps: ['Write'], abortable: true },
      async (task) => {
        task.step('Write');
        await new Promise((_resolve, reject) => {
          task.signal.addEventListener('abort', () => reject(task.signal.reason as Error));
        });
      },
    );
    await new Promise((r) => setImmediate(r));
    const aborted = await tasks.abort(abortable.taskId);
    assert.equal(aborted.status, 'Aborted');
    assert.equal(aborted.completionCode, 'Aborted');
    assert.match(aborted.exception ?? '', /Aborted by an administrator/);
    assert.equal(aborted.steps[0]?.status, 'Failed');
    assert.equal(await codeOf(tasks.abort(abortable.taskId)), 'CONFLICT');

    const gate = deferred();
    const fixed = tasks.run(
      { type: 'InitialSync', input: {}, abortable: false },
      () => gate.promise,
    );
    assert.equal(await codeOf(tasks.abort(fixed.taskId)), 'CONFLICT');
    assert.equal(tasks.get(fixed.taskId).status, 'Running');
    gate.resolve();
    assert.equal((await tasks.waitFor(fixed.taskId, 5000)).completionCode, 'Success');
    assert.equal(await codeOf(tasks.abort('no-such-task')), 'NOT_FOUND');
    await tasks.stop();
  });

  it('waitFor answers TIMEOUT with the progress while the task runs, NOT_FOUND for an unknown id', async () => {
    const { tasks } = await manager();
    const handle = tasks.begin({ type: 'Resync', input: {}, totalUnits: 10, abortable: false });
    handle.start();
    handle.progress(3);
    await assert.rejects(tasks.waitFor(handle.taskId, 50), (err: unknown) => {
      assert.ok(err instanceof TidelineError);
      assert.equal(err.code, 'TIMEOUT');
      assert.match(err.message, /still Running after 50 ms: 30 % done/);
      return true;
    });
    assert.equal(await codeOf(tasks.waitFor('nope', 10)), 'NOT_FOUND');
    const waiting = tasks.waitFor(handle.taskId, 5000);
    handle.succeed();
    assert.equal((await waiting).status, 'Completed');
    // Reports after the end change nothing.
    handle.fail(new Error('late'));
    handle.progress(1);
    assert.equal(tasks.get(handle.taskId).completionCode, 'Success');
    await tasks.stop();
  });

  it('lists newest first, filtered, and keeps a bounded history (never dropping running tasks)', async () => {
    const { tasks } = await manager({ historyLimit: 4 });
    const running = tasks.begin({ type: 'InitialSync', vpgId: 'a', input: {}, abortable: false });
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const h = tasks.begin({
        type: i % 2 === 0 ? 'Resync' : 'ExportDisk',
        vpgId: i < 3 ? 'a' : 'b',
        input: { i },
        abortable: false,
      });
      h.succeed();
      ids.push(h.taskId);
    }
    const all = tasks.list();
    assert.equal(all.length, 4);
    assert.deepEqual(
      all.map((t) => t.taskId),
      [ids[5], ids[4], ids[3], running.taskId],
      'the oldest ended ones went first',
    );
    assert.deepEqual(
      tasks.list({ vpgId: 'b', type: 'Resync' }).map((t) => t.input['i']),
      [4],
    );
    assert.deepEqual(
      tasks.list({ status: 'Active' }).map((t) => t.taskId),
      [running.taskId],
    );
    assert.equal(tasks.list({ limit: 2 }).length, 2);
    await tasks.stop();
  });

  it('notifies progress at most once per interval, and the newest value in the end', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    try {
      const sent: Task[] = [];
      const tasks = new TaskManager({
        file: join(dir, 'throttle.json'),
        log,
        notify: (t) => sent.push(t),
        saveIntervalMs: 60_000,
      });
      // start() reads a missing file: no timers involved.
      await tasks.start();
      const handle = tasks.begin({ type: 'Resync', input: {}, totalUnits: 1000, abortable: false });
      handle.start();
      sent.length = 0;
      // Just notified (Running): progress waits for the second to be up, then the newest goes.
      for (let done = 1; done <= 100; done += 1) handle.progress(done);
      assert.equal(sent.length, 0);
      mock.timers.tick(999);
      assert.equal(sent.length, 0, 'none before the second is up');
      mock.timers.tick(1);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]?.doneUnits, 100, 'the newest value is sent');
      mock.timers.tick(1500);
      handle.progress(150);
      assert.equal(sent.length, 2, 'sent at once when the last one is over a second old');
      assert.equal(sent[1]?.doneUnits, 150);
      handle.progress(200);
      assert.equal(sent.length, 2);
      handle.step('Disk d1');
      assert.equal(sent.length, 3, 'a step change is sent at once');
      assert.equal(sent[2]?.doneUnits, 200);
      handle.succeed();
      assert.equal(sent.at(-1)?.status, 'Completed');
      mock.timers.tick(5000);
      assert.equal(sent.at(-1)?.status, 'Completed', 'nothing is sent after the end');
    } finally {
      mock.timers.reset();
    }
  });

  it('ends running tasks as interrupted on stop, aborting their work', async () => {
    const { tasks, file } = await manager();
    let sawAbort = false;
    const created = tasks.run({ type: 'ExportDisk', input: {}, abortable: true }, async (task) => {
      await new Promise<void>((resolve) => {
        task.signal.addEventListener('abort', () => {
          sawAbort = true;
          resolve();
        });
      });
      task.progress(5); // ignored: the task has ended
    });
    await new Promise((r) => setImmediate(r));
    await tasks.stop();
    assert.ok(sawAbort);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { tasks: Task[] };
    const task = saved.tasks.find((t) => t.taskId === created.taskId);
    assert.equal(task?.status, 'Completed');
    assert.equal(task?.completionCode, 'Failed');
    assert.equal(task?.exception, STOP_INTERRUPTION);
    assert.equal(
      await codeOf(
        Promise.resolve().then(() => tasks.begin({ type: 'Resync', input: {}, abortable: false })),
      ),
      'UNAVAILABLE',
    );
  });
});

describe('TaskManager across restarts (real files)', () => {
  it('keeps ended tasks and ends the ones a crash left Active or Running as Failed, interrupted', async () => {
    const file = join(dir, 'restart', 'tasks.json');
    await rm(join(dir, 'restart'), { recursive: true, force: true });
    await mkdir(join(dir, 'restart'));
    const first = await manager({ file });
    const finished = first.tasks.begin({
      type: 'ExportDisk',
      vpgId: 'v',
      input: { path: '/x' },
      abortable: true,
    });
    finished.start();
    finished.succeed({ sha256: 'ab' });
    const running: TaskHandle = first.tasks.begin({
      type: 'InitialSync',
      vpgId: 'v',
      input: {},
      steps: ['Disk d1', 'Disk d2'],
      totalUnits: 100,
      abortable: false,
    });
    running.step('Disk d1');
    running.progress(50, 1);
    const waiting = first.tasks.begin({ type: 'Resync', input: {}, abortable: false });
    await first.tasks.flush();
    // A crash: the first manager never stops. Its file says Running and Active.
    const onDisk = JSON.parse(await readFile(file, 'utf8')) as { tasks: Task[] };
    assert.deepEqual(
      onDisk.tasks.map((t) => t.status),
      ['Completed', 'Running', 'Active'],
    );

    const second = await manager({ file });
    const again = second.tasks.get(running.taskId);
    assert.equal(again.status, 'Completed');
    assert.equal(again.completionCode, 'Failed');
    assert.equal(again.exception, RESTART_INTERRUPTION);
    assert.equal(again.progress, 0.5, 'the progress it had reached is kept');
    assert.deepEqual(
      again.steps.map((s) => s.status),
      ['Failed', 'Skipped'],
    );
    assert.equal(second.tasks.get(waiting.taskId).exception, RESTART_INTERRUPTION);
    const kept = second.tasks.get(finished.taskId);
    assert.equal(kept.completionCode, 'Success');
    assert.deepEqual(kept.result, { sha256: 'ab' });
    // The repair is on disk at once: a third start finds nothing to repair.
    const third = new TaskManager({ file, log, notify: () => undefined });
    assert.deepEqual(await third.start(), { interrupted: 0 });
    assert.equal(third.get(running.taskId).exception, RESTART_INTERRUPTION);
    await third.stop();
    await second.tasks.stop();
    assert.deepEqual(
      (await readdir(join(dir, 'restart'))).filter((n) => n !== 'tasks.json'),
      [],
      'no temp files left',
    );
  });

  it('sets a damaged history file aside and starts a new one', async () => {
    const file = join(dir, 'damaged.json');
    await writeFile(file, '{"version":1,"tasks":[{"taskId":');
    const { tasks } = await manager({ file });
    assert.deepEqual(tasks.list(), []);
    const names = await readdir(dir);
    assert.ok(names.some((n) => n.startsWith('damaged.json.bad-')));
    await tasks.stop();
  });
});

describe('EtaEstimator', () => {
  it('estimates from a smoothed rate, independent of how often progress is reported', () => {
    const eta = new EtaEstimator(10_000, 500);
    assert.equal(eta.update(0, 0, 1000), undefined, 'no rate from one sample');
    // 10 units/s, reported every 100 ms: samples closer than 500 ms are merged.
    let last: number | undefined;
    for (let t = 100; t <= 5000; t += 100) last = eta.update(t, t / 100, 1000);
    assert.equal(eta.unitsPerSecond, 10);
    assert.equal(last, 95);
  });

  it('follows a change of rate gradually, and knows nothing while stalled at zero', () => {
    const eta = new EtaEstimator(10_000, 500);
    eta.update(0, 0, 10_000);
    eta.update(1000, 100, 10_000);
    assert.equal(eta.unitsPerSecond, 100);
    eta.update(2000, 300, 10_000); // 200/s now
    const rate = eta.unitsPerSecond ?? 0;
    assert.ok(rate > 100 && rate < 200, `between the old and new rate: ${rate}`);
    const stalled = new EtaEstimator();
    stalled.update(0, 0, 10);
    assert.equal(stalled.update(1000, 0, 10), undefined);
  });
});
