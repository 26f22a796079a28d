import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import type { ProtectionTask, Task } from '../../app/protocol';
import {
  endsLongTask,
  taskEndedNotification,
  taskOutcomeText,
  taskTypeText,
  watchLongTaskEnds,
} from '../../app/task/task-text';
import {
  abortTask,
  taskHistory,
  type TaskAgent,
} from '../../main/services/protection/task-operations';
import type { Logger } from '../../main/services/util/log';
import {
  ALL_TASKS,
  filterTasks,
  mergeTasks,
  runningCount,
  taskDurationText,
  taskKey,
  taskState,
  type TaskMap,
  type TaskNames,
} from '../../renderer/lib/task-list';

const T0 = 1_700_000_000_000;

function task(patch: Partial<ProtectionTask> = {}): ProtectionTask {
  return {
    taskId: 't1',
    type: 'InitialSync',
    vpgId: 'vpg-1',
    input: {},
    status: 'Running',
    completionCode: 'NotAvailable',
    progress: 0.4,
    steps: [],
    startedAt: T0,
    updatedAt: T0 + 1000,
    abortable: false,
    siteId: 'hq',
    agentKey: 'a1',
    ...patch,
  };
}

const ended = (patch: Partial<ProtectionTask> = {}): ProtectionTask =>
  task({
    status: 'Completed',
    completionCode: 'Success',
    progress: 1,
    endedAt: T0 + 250_000,
    updatedAt: T0 + 250_000,
    ...patch,
  });

const names: TaskNames = {
  vpg: (id) => ({ 'vpg-1': 'Payroll', 'vpg-2': 'Web tier' })[id],
  site: (id) => ({ hq: 'Headquarters', dr: 'Recovery DC' })[id] ?? id,
};

function map(...tasks: ProtectionTask[]): TaskMap {
  return mergeTasks({}, tasks);
}

describe('tasks in words', () => {
  it('names every type, and spells out a type that has no words of its own yet', () => {
    assert.equal(taskTypeText('InitialSync'), 'Initial sync');
    assert.equal(taskTypeText('FailoverTest'), 'Test failover');
    assert.equal(taskTypeText('CollectLogs' as Task['type']), 'Collect logs');
  });

  it('says how a task stands or ended', () => {
    assert.equal(taskOutcomeText(task({ status: 'Active' })), 'Waiting');
    assert.equal(taskOutcomeText(task()), 'Running');
    assert.equal(taskOutcomeText(ended()), 'Completed');
    assert.equal(taskOutcomeText(ended({ completionCode: 'Failed' })), 'Failed');
    assert.equal(taskOutcomeText(ended({ completionCode: 'HadException' })), 'Error');
    assert.equal(
      taskOutcomeText(ended({ status: 'Aborted', completionCode: 'Aborted' })),
      'Aborted',
    );
  });
});

describe('which task ends are worth a desktop notification', () => {
  it('a long task seen running that ends; not one first seen ended, nor a short type', () => {
    assert.equal(endsLongTask(task(), ended()), true);
    assert.equal(
      endsLongTask(task({ type: 'FailoverTest' }), ended({ type: 'FailoverTest' })),
      true,
    );
    assert.equal(endsLongTask(undefined, ended()), false);
    assert.equal(endsLongTask(ended(), ended()), false);
    assert.equal(endsLongTask(task(), task({ progress: 0.9 })), false);
    const collect = 'CollectLogs' as Task['type'];
    assert.equal(endsLongTask(task({ type: collect }), ended({ type: collect })), false);
  });

  it('the watcher remembers running tasks by key and forgets them once ended', () => {
    const watch = watchLongTaskEnds();
    assert.equal(watch('a1/t1', ended()), false, 'first seen ended: old news');
    assert.equal(watch('a1/t2', task({ taskId: 't2' })), false);
    assert.equal(watch('a2/t2', ended({ taskId: 't2', agentKey: 'a2' })), false, 'another agent');
    assert.equal(watch('a1/t2', ended({ taskId: 't2' })), true);
    assert.equal(watch('a1/t2', ended({ taskId: 't2' })), false, 'notified once');
  });

  it('reads as what ended, for which VPG, how long it took or why it failed', () => {
    assert.deepEqual(taskEndedNotification(ended(), 'Payroll'), {
      title: 'Initial sync completed: Payroll',
      body: 'Took 4 min 10 s',
    });
    const failed = ended({
      type: 'FailoverTest',
      completionCode: 'Failed',
      endedAt: T0 + 12_000,
      exception: 'the recovery host is out of space',
    });
    assert.deepEqual(taskEndedNotification(failed, undefined), {
      title: 'Test failover failed',
      body: 'Failed after 12 s: the recovery host is out of space',
    });
  });
});

describe('the tasks drawer list', () => {
  it('merges by agent and task id, never back to an older report', () => {
    const first = map(task({ updatedAt: T0 + 5000, progress: 0.5 }));
    const same = mergeTasks(first, [task({ updatedAt: T0 + 1000, progress: 0.1 })]);
    assert.equal(same, first, 'nothing changed: the same object');
    const other = mergeTasks(first, [task({ agentKey: 'a2' })]);
    assert.deepEqual(Object.keys(other).sort(), ['a1/t1', 'a2/t1']);
    assert.equal(taskKey(task()), 'a1/t1');
  });

  it('keeps every running task and only the newest ended ones', () => {
    const tasks = [
      task({ taskId: 'run', startedAt: T0 - 10_000 }),
      ...[1, 2, 3].map((i) => ended({ taskId: `e${i}`, startedAt: T0 + i })),
    ];
    const kept = mergeTasks({}, tasks, 2);
    assert.deepEqual(Object.keys(kept).sort(), ['a1/e2', 'a1/e3', 'a1/run']);
    assert.equal(runningCount(kept), 1);
  });

  it('filters running, failed, by type, by words and by VPG, newest first', () => {
    const all = map(
      task({ taskId: 'sync', startedAt: T0 + 3 }),
      ended({ taskId: 'done', startedAt: T0 + 2, vpgId: 'vpg-2' }),
      ended({
        taskId: 'bad',
        startedAt: T0 + 1,
        type: 'FailoverTest',
        completionCode: 'Failed',
        siteId: 'dr',
      }),
      ended({
        taskId: 'stop',
        startedAt: T0 + 4,
        status: 'Aborted',
        completionCode: 'Aborted',
        type: 'ExportDisk',
      }),
    );
    const ids = (filter = ALL_TASKS, vpgId?: string): string[] =>
      filterTasks(all, filter, names, vpgId).map((t) => t.taskId);
    assert.deepEqual(ids(), ['stop', 'sync', 'done', 'bad']);
    assert.deepEqual(ids({ ...ALL_TASKS, show: 'running' }), ['sync']);
    assert.deepEqual(ids({ ...ALL_TASKS, show: 'failed' }), ['stop', 'bad']);
    assert.deepEqual(ids({ ...ALL_TASKS, type: 'FailoverTest' }), ['bad']);
    assert.deepEqual(ids({ ...ALL_TASKS, text: 'web' }), ['done'], 'the VPG name');
    assert.deepEqual(ids({ ...ALL_TASKS, text: 'recovery failed' }), ['bad'], 'site and state');
    assert.deepEqual(ids({ ...ALL_TASKS, text: 'DISK export' }), ['stop'], 'any case');
    assert.deepEqual(ids(ALL_TASKS, 'vpg-1'), ['stop', 'sync', 'bad']);
  });

  it('ties on the start time keep one order', () => {
    const all = map(task({ taskId: 'b' }), task({ taskId: 'a' }));
    assert.deepEqual(
      filterTasks(all, ALL_TASKS, names).map((t) => t.taskId),
      ['a', 'b'],
    );
  });

  it('times a running task to now and an ended one to its end, never negative', () => {
    assert.equal(taskDurationText(task(), T0 + 42_500), '42 s');
    assert.equal(taskDurationText(ended(), T0 + 999_999), '4 min 10 s');
    assert.equal(taskDurationText(task(), T0 - 5000), '< 1 s', 'the agent’s clock is ahead');
    assert.equal(
      taskDurationText(task({ status: 'Aborted' }), T0 + 999_999),
      '1 s',
      'no endedAt: its last update',
    );
  });

  it('colours the state', () => {
    assert.deepEqual(taskState(task()), { label: 'Running', color: 'info' });
    assert.deepEqual(taskState(ended()), { label: 'Completed', color: 'success' });
    assert.deepEqual(taskState(ended({ completionCode: 'Failed' })), {
      label: 'Failed',
      color: 'error',
    });
  });
});

/** An agent as the console's task operations use it. */
function agent(
  key: string,
  siteId: string,
  answer: (method: string, params: unknown) => unknown,
): TaskAgent {
  return {
    key,
    agentIdentity: { siteId } as TaskAgent['agentIdentity'],
    isConnected: true,
    call: ((method: string, params: unknown) =>
      Promise.resolve().then(() => answer(method, params))) as TaskAgent['call'],
  };
}

const logger = { warn: () => undefined } as unknown as Logger;
const agentTask = (patch: Partial<Task>): Task => {
  const { siteId: _s, agentKey: _a, ...rest } = task(patch);
  return rest;
};

describe('console tasks.history and tasks.abort', () => {
  it('merges every connected agent’s task.list newest first, leaving out one that fails', async () => {
    const asked: unknown[] = [];
    const hq = agent('a1', 'hq', (_m, params) => {
      asked.push(params);
      return [
        agentTask({ taskId: 'h2', startedAt: T0 + 20 }),
        agentTask({ taskId: 'h1', startedAt: T0 }),
      ];
    });
    const dr = agent('a2', 'dr', () => [
      agentTask({ taskId: 'd1', startedAt: T0 + 10, type: 'FailoverTest' }),
    ]);
    const broken = agent('a3', 'dr', () => {
      throw new TidelineError('UNAVAILABLE', 'gone');
    });
    const offline = { ...agent('a4', 'hq', () => assert.fail('not asked')), isConnected: false };
    const { tasks } = await taskHistory(
      [hq, dr, broken, offline],
      { vpgId: 'vpg-1', limit: 2 },
      logger,
    );
    assert.deepEqual(
      tasks.map((t) => [t.agentKey, t.siteId, t.taskId]),
      [
        ['a1', 'hq', 'h2'],
        ['a2', 'dr', 'd1'],
      ],
    );
    assert.deepEqual(asked, [{ limit: 2, vpgId: 'vpg-1' }]);
  });

  it('aborts through the agent, and passes its CONFLICT on with its code', async () => {
    const abortable = agent('a1', 'hq', (method, params) => {
      assert.equal(method, 'task.abort');
      assert.deepEqual(params, { taskId: 't1' });
      return agentTask({ status: 'Aborted', completionCode: 'Aborted', type: 'ExportDisk' });
    });
    const aborted = await abortTask(abortable, 't1');
    assert.equal(aborted.status, 'Aborted');
    assert.equal(aborted.agentKey, 'a1');
    assert.equal(aborted.siteId, 'hq');

    const refusing = agent('a1', 'hq', () => {
      throw new TidelineError('CONFLICT', 'A InitialSync task cannot be aborted safely');
    });
    await assert.rejects(abortTask(refusing, 't1'), (err: unknown) => {
      assert.ok(err instanceof TidelineError);
      assert.equal(err.code, 'CONFLICT');
      assert.match(err.message, /did not abort the task: A InitialSync task cannot be aborted/);
      return true;
    });
    const offline = { ...abortable, isConnected: false };
    await assert.rejects(abortTask(offline, 't1'), { code: 'UNAVAILABLE' });
  });
});
