/**
 * failover.discardTests at the store (a real file): the VPG's oldest ended test failovers go,
 * oldest first; a running test, other modes and other VPGs stay; the file says so after a
 * reload; the checkpoints keep their test marks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FailoverStore, type FailoverRecord } from '../../agent/recovery/failover-store';

const dir = mkdtempSync(join(tmpdir(), 'tl-discard-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function record(
  id: string,
  over: Partial<FailoverRecord> & Pick<FailoverRecord, 'startedAt'>,
): FailoverRecord {
  return {
    failoverId: id,
    vpgId: 'vpg-1',
    vpgName: 'Web tier',
    mode: 'test',
    phase: 'Stopped',
    taskId: `task-${id}`,
    checkpoint: { seq: 10, sourceTime: over.startedAt },
    commitPolicy: { kind: 'none' },
    reverseProtection: false,
    vms: [],
    networks: [],
    disks: [],
    endedAt: over.startedAt + 60_000,
    ...over,
  };
}

test('the oldest ended tests of the VPG go; the rest, and the checkpoint marks, stay', async () => {
  const file = join(dir, 'failovers.json');
  const store = new FailoverStore(file);
  await store.put(record('t3', { startedAt: 3000 }));
  await store.put(record('t1', { startedAt: 1000 }));
  await store.put(record('live', { startedAt: 500, mode: 'live', phase: 'RolledBack' }));
  await store.put(record('other', { startedAt: 200, vpgId: 'vpg-2' }));
  await store.put(record('t2', { startedAt: 2000 }));
  await store.put(record('running', { startedAt: 4000, phase: 'Testing', endedAt: undefined }));
  await store.recordTest('vpg-1', 10, { at: 1100, result: 'Passed' });

  assert.deepEqual(await store.discardTests('vpg-1', 2), { discarded: ['t1', 't2'], kept: 1 });
  const reloaded = new FailoverStore(file);
  await reloaded.load();
  assert.deepEqual(
    reloaded
      .list()
      .map((f) => f.failoverId)
      .sort(),
    ['live', 'other', 'running', 't3'],
  );
  assert.equal(reloaded.tests('vpg-1').get(10)?.result, 'Passed');

  assert.deepEqual(await reloaded.discardTests('vpg-1', 5), { discarded: ['t3'], kept: 0 });
  assert.deepEqual(await reloaded.discardTests('vpg-1', 5), { discarded: [], kept: 0 });
});
