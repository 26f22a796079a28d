import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { ProtectionTask, Task } from '../../app/protocol';
import type { AgentConnection } from '../../main/services/agents/agent-connection';
import { TaskStore } from '../../main/services/protection/task-store';
import type { Clock } from '../../main/services/util/clock';
import type { Logger } from '../../main/services/util/log';
import { mergeSyncTask, syncTaskText } from '../../renderer/lib/tasks';
import { ATTACH_STEP } from '../../app/task/task-schemas';

function task(patch: Partial<Task> = {}): Task {
  return {
    taskId: 't1',
    type: 'InitialSync',
    vpgId: 'vpg-1',
    input: {},
    status: 'Running',
    completionCode: 'NotAvailable',
    progress: 0.42,
    steps: [{ name: 'Disk d1', progress: 0.42, status: 'Running' }],
    doneUnits: 42,
    totalUnits: 100,
    etaSeconds: 150,
    startedAt: 1000,
    updatedAt: 2000,
    abortable: false,
    ...patch,
  };
}

const shown = (t: Task): ProtectionTask => ({ ...t, siteId: 'hq', agentKey: 'a1' });

let now = 1_000_000;
const clock: Clock = { now: () => now, set: () => 0, clear: () => undefined };
const logger = { debug: () => undefined } as unknown as Logger;

/** An agent connection as the task store uses it: events, identity, state and task.list. */
class FakeConnection extends EventEmitter {
  readonly key = 'a1';
  readonly agentIdentity = { siteId: 'hq' };
  isConnected = true;
  listed: Task[] = [];
  call(method: string): Promise<Task[]> {
    assert.equal(method, 'task.list');
    return Promise.resolve(this.listed);
  }
}

describe('console task store', () => {
  it('loads the recent tasks when an agent connects, then follows task.progress as protection.task', async () => {
    const store = new TaskStore(clock, logger);
    const sent: ProtectionTask[] = [];
    store.on('protection.task', (t) => sent.push(t));
    const connection = new FakeConnection();
    connection.listed = [
      task({ taskId: 'new', startedAt: 5000 }),
      task({
        taskId: 'old',
        status: 'Completed',
        completionCode: 'Success',
        endedAt: now - 3_600_000,
      }),
    ];
    store.attach(connection as unknown as AgentConnection);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      store.list().tasks.map((t) => t.taskId),
      ['new'],
      'a task that ended an hour ago is not shown',
    );
    connection.emit('task.progress', task({ taskId: 'new', progress: 0.5, updatedAt: 9000 }));
    assert.equal(sent.at(-1)?.progress, 0.5);
    assert.equal(sent.at(-1)?.siteId, 'hq');
    assert.equal(sent.at(-1)?.agentKey, 'a1');
    // An older report (a task.list answer crossing a notification) does not go back.
    connection.emit('task.progress', task({ taskId: 'new', progress: 0.3, updatedAt: 8000 }));
    assert.equal(store.list().tasks[0]?.progress, 0.5);
    // Ended: listed for a minute, then gone.
    connection.emit(
      'task.progress',
      task({ taskId: 'new', status: 'Completed', completionCode: 'Success', updatedAt: 9500 }),
    );
    assert.equal(store.list().tasks.length, 1);
    now += 61_000;
    assert.equal(store.list().tasks.length, 0);
    // Disconnected: the agent's tasks go with it.
    connection.emit('task.progress', task({ taskId: 'again', updatedAt: 10_000 }));
    connection.isConnected = false;
    connection.emit('change');
    assert.equal(store.list().tasks.length, 0);
    store.close();
    assert.equal(connection.listenerCount('task.progress'), 0);
  });
});

describe('sync progress on the VPG row', () => {
  it('shows the running sync task of each VPG, the newest one, until it ends', () => {
    const first = shown(task());
    let state = mergeSyncTask({}, first);
    assert.equal(state['vpg-1'], first);
    assert.equal(mergeSyncTask(state, shown(task({ type: 'ExportDisk', taskId: 'x' }))), state);
    const stale = shown(task({ progress: 0.1, updatedAt: 1500 }));
    assert.equal(mergeSyncTask(state, stale), state, 'an older report is ignored');
    const older = shown(task({ taskId: 'before', startedAt: 500, updatedAt: 9999 }));
    assert.equal(mergeSyncTask(state, older), state, 'an older task does not replace a newer one');
    const resync = shown(task({ taskId: 't2', type: 'Resync', startedAt: 3000, updatedAt: 3000 }));
    state = mergeSyncTask(state, resync);
    assert.equal(state['vpg-1']?.taskId, 't2');
    const done = shown(task({ ...resync, status: 'Completed', updatedAt: 4000 }));
    state = mergeSyncTask(state, done);
    assert.deepEqual(state, {});
  });

  it('says how far it is and how long it has left', () => {
    assert.equal(syncTaskText(shown(task())), 'Initial sync 42 % · about 2 min 30 s left');
    const { etaSeconds: _none, ...noEta } = task({ type: 'Resync', progress: 0.05 });
    assert.equal(syncTaskText(shown(noEta)), 'Resync 5 % · estimating time left');
    assert.equal(syncTaskText(shown(task({ status: 'Active' }))), 'Initial sync starting');
    const attaching = task({
      steps: [
        { name: ATTACH_STEP, progress: 0.3, status: 'Running' },
        { name: 'Disk d1', progress: 0, status: 'Pending' },
      ],
    });
    assert.equal(
      syncTaskText(shown(attaching)),
      "Initial sync: attaching to the VMs' disks 30 %",
      'a libvirt VPG shows the attach step first',
    );
  });
});
