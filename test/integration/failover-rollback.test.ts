/**
 * Acceptance (issue 6): a rollback leaves the recovery site exactly as before and protection
 * resumes; auto-rollback fires after its timeout; an agent restarted in the middle of a
 * failover leaves the task Failed with its reason, and a new failover can run. Once a commit
 * has started writing into the replicas, rollback is refused: only committing again is safe.
 */
import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { ErrorCodes } from '../../app/errors';
import { journalDirFor } from '../../agent/journal/layout';
import { readJournalConfig } from '../../agent/journal/state-files';
import { after, before, describe, it } from 'node:test';
import type { Network, Vm } from '../../app/protocol';
import {
  call,
  errorOf,
  insertCheckpoint,
  setWorkload,
  startSite,
  tail,
  killSites,
  stopSite,
  untilVpg,
  vpgState,
  vms,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';
import {
  endedTask,
  failovers,
  launchLab,
  networks,
  recoveryFiles,
  startTask,
  taskSucceeds,
  untilMetadata,
} from './failover-helpers';

describe('rollback, auto-rollback and a restart mid-failover', { timeout: 300_000 }, () => {
  let hq: Site;
  let dr: Site;
  let vpgId: string;
  let protectedVms: Vm[];
  let vmsBefore: Vm[];
  let networksBefore: Network[];

  before(async () => {
    ({ hq, dr, vpgId, protectedVms } = await launchLab({ vmCount: 2 }));
    await untilVpg(dr, vpgId, (s) => s.status === 'Protecting', 'protecting at the recovery site');
    await untilMetadata(dr, vpgId);
    for (const vm of protectedVms) await setWorkload(hq, vm.vmId, 128 * 1024);
    vmsBefore = await vms(dr);
    networksBefore = await networks(dr);
  });

  after(() => killSites(hq, dr));

  async function assertAsBefore(): Promise<void> {
    assert.deepEqual(await vms(dr), vmsBefore, 'the VMs as before');
    assert.deepEqual(await networks(dr), networksBefore, 'the networks as before');
    assert.deepEqual(await recoveryFiles(dr.creds.dataDir), [], 'no recovery disk file');
    assert.deepEqual(await failovers(dr, { vpgId }), [], 'no failover in progress');
  }

  async function untilProtectionResumes(): Promise<void> {
    await untilVpg(dr, vpgId, (s) => s.status === 'Protecting', 'protecting again', 60_000);
    const c = await insertCheckpoint(hq, vpgId, `after-${Date.now()}`);
    const reached = await waitForCheckpoint(hq, c, 60_000);
    assert.equal(reached.confirmed, true, 'a new checkpoint reaches the recovery site');
  }

  it('rollback leaves the recovery site as before and protection resumes', async () => {
    await startTask(dr, 'failover.live', { vpgId }).then((id) => taskSucceeds(dr, id));
    assert.equal((await vpgState(dr, vpgId)).status, 'FailingOver');
    const positionBefore = (await vpgState(dr, vpgId)).lastSeq ?? 0;
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(
      (await vpgState(dr, vpgId)).lastSeq ?? 0,
      positionBefore,
      'records of the VPG are refused while failing over',
    );
    const rollback = await taskSucceeds(dr, await startTask(dr, 'failover.rollback', { vpgId }));
    assert.equal(rollback.type, 'FailoverRollback');
    const [ended] = await failovers(dr, { vpgId, includeEnded: true });
    assert.equal(ended?.phase, 'RolledBack');
    await assertAsBefore();
    await untilProtectionResumes();
  });

  it('auto-rollback fires after its timeout', async () => {
    const taskId = await startTask(dr, 'failover.live', {
      vpgId,
      commitPolicy: { kind: 'autoRollback', afterSeconds: 2 },
    });
    await taskSucceeds(dr, taskId);
    const [up] = await failovers(dr, { vpgId });
    assert.equal(up?.phase, 'BeforeCommit');
    assert.ok(up.commitDeadline !== undefined && up.commitDeadline > Date.now() - 2000);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [latest] = await failovers(dr, { vpgId, includeEnded: true });
      if (latest?.failoverId === up.failoverId && latest.phase === 'RolledBack') {
        assert.ok((latest.endedAt ?? 0) >= (up.commitDeadline ?? 0), 'not before its deadline');
        break;
      }
      assert.ok(Date.now() < deadline, `auto-rollback did not fire: ${JSON.stringify(latest)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await assertAsBefore();
    await untilProtectionResumes();
  });

  it('a restart in the middle leaves the task Failed with its reason; a new one runs', async () => {
    // A long boot delay keeps the failover in its power-on step.
    const state = await vpgState(hq, vpgId);
    await call(hq, 'vpg.update', {
      vpgId,
      version: state.version,
      settings: {
        recovery: {
          vms: [
            { vmId: protectedVms[0]?.vmId, bootGroup: 0, bootDelaySeconds: 60 },
            { vmId: protectedVms[1]?.vmId, bootGroup: 1 },
          ],
        },
      },
    });
    await untilVpg(dr, vpgId, (s) => s.version > state.version, 'settings at DR');
    const taskId = await startTask(dr, 'failover.live', { vpgId });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [f] = await failovers(dr, { vpgId });
      if (f?.vms.some((v) => v.poweredOnAt !== undefined)) break;
      assert.ok(Date.now() < deadline, 'the first boot group came up');
      await new Promise((r) => setTimeout(r, 200));
    }
    await stopSite(dr, 'SIGKILL');
    await startSite(dr);

    const got = await call<{ status: string }>(dr, 'task.get', { taskId });
    assert.equal(got.status, 'Completed', `${JSON.stringify(got)}\n${tail(dr, 30)}`);
    const task = await endedTask(dr, taskId);
    assert.equal(task.completionCode, 'Failed');
    assert.match(task.exception ?? '', /restart/i);
    const deadline2 = Date.now() + 30_000;
    for (;;) {
      const [f] = await failovers(dr, { vpgId, includeEnded: true });
      if (f?.phase === 'Failed') {
        assert.match(f.message ?? '', /restarted/);
        break;
      }
      assert.ok(Date.now() < deadline2, `failover not undone: ${JSON.stringify(f)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await assertAsBefore();
    await untilProtectionResumes();

    // A new failover runs (a test, so the long delay is not waited for: one group only).
    await call(hq, 'vpg.update', {
      vpgId,
      version: (await vpgState(hq, vpgId)).version,
      settings: { recovery: { vms: [] } },
    });
    await untilVpg(dr, vpgId, (s) => s.version > state.version + 1, 'settings at DR');
    await taskSucceeds(dr, await startTask(dr, 'failover.test', { vpgId }));
    await taskSucceeds(dr, await startTask(dr, 'failover.stopTest', { vpgId }));
    await assertAsBefore();
  });

  it('a commit whose promotion failed part-way cannot be rolled back; committing again finishes it', async () => {
    await untilVpg(dr, vpgId, (s) => s.status === 'Protecting', 'protecting before the failover');
    await taskSucceeds(dr, await startTask(dr, 'failover.live', { vpgId }));
    // A replica file moved away: promotion writes into the others (or none), then fails.
    const { disks } = await readJournalConfig(journalDirFor(dr.creds.dataDir, vpgId));
    const replica = disks.at(-1)?.replicaPath ?? '';
    await rename(replica, `${replica}.away`);
    const commit = await taskSucceeds(dr, await startTask(dr, 'failover.commit', { vpgId }));
    const promote = await endedTask(dr, String(commit.result?.['promoteTaskId']), 120_000);
    assert.equal(promote.completionCode, 'Failed', JSON.stringify(promote));
    const [failed] = await failovers(dr, { vpgId });
    assert.equal(failed?.phase, 'BeforeCommit');
    assert.match(failed?.message ?? '', /Promotion failed/);
    assert.equal(failed?.promotionStarted, true, 'the console is told: no roll back offered');

    const refused = await errorOf(dr, 'failover.rollback', { vpgId });
    assert.equal(refused.code, ErrorCodes.CONFLICT);
    assert.match(
      refused.message,
      /Cannot roll back .*replica disks.*Commit again/,
      refused.message,
    );
    const [still] = await failovers(dr, { vpgId });
    assert.equal(still?.phase, 'BeforeCommit', 'nothing changed by the refusal');

    await rename(`${replica}.away`, replica);
    const again = await taskSucceeds(dr, await startTask(dr, 'failover.commit', { vpgId }));
    await taskSucceeds(dr, String(again.result?.['promoteTaskId']), 120_000);
    const [committed] = await failovers(dr, { vpgId, includeEnded: true });
    assert.equal(committed?.phase, 'Committed', tail(dr));
  });
});
