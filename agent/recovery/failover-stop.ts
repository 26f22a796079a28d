import { TidelineError } from '../../app/errors';
import type { CheckpointTest, TaskRef } from '../../app/protocol';
import type { FailoverStopTestParams } from '../../app/protocol/failover-api';
import { requirePhase, type FailoverContext } from './failover-context';
import { resumeMoved } from './failover-move';
import { STEPS } from './failover-steps';
import type { FailoverRecord } from './failover-store';
import { teardown } from './failover-teardown';

/** Ends a test failover: its VMs, networks and disks go; the result is kept on the checkpoint. */
export async function stopTest(
  ctx: FailoverContext,
  params: FailoverStopTestParams & { result: 'Passed' | 'Failed' },
): Promise<TaskRef> {
  const record = ctx.activeOf(params.vpgId);
  if (record.mode !== 'test') {
    throw new TidelineError(
      'CONFLICT',
      `The failover of VPG "${record.vpgName}" is a ${record.mode} failover, not a test: commit or roll it back`,
    );
  }
  requirePhase(record, 'Testing', 'stop the test');
  const stopping: FailoverRecord = { ...record, phase: 'Stopping' };
  await ctx.update(stopping);
  const task = ctx.options.tasks.run(
    {
      type: 'StopFailoverTest',
      vpgId: record.vpgId,
      input: { ...params, failoverId: record.failoverId },
      steps: [STEPS.powerOff, STEPS.unregister, STEPS.deleteNetworks, STEPS.discard, STEPS.record],
      abortable: false,
    },
    async (handle) => {
      await teardown(ctx, handle, stopping);
      handle.step(STEPS.record);
      const test: CheckpointTest = {
        at: Date.now(),
        result: params.result,
        ...(params.note !== undefined && { note: params.note }),
      };
      await ctx.store.recordTest(record.vpgId, record.checkpoint.seq, test);
      await ctx.end(stopping, 'Stopped');
      return {
        failoverId: record.failoverId,
        checkpointSeq: record.checkpoint.seq,
        tested: test,
      };
    },
  );
  return { taskId: task.taskId };
}

/** Rolls a live failover or move back before commit: the recovery site is as before. */
export async function rollback(ctx: FailoverContext, params: { vpgId: string }): Promise<TaskRef> {
  const record = ctx.activeOf(params.vpgId);
  if (record.mode === 'test') {
    throw new TidelineError(
      'CONFLICT',
      `VPG "${record.vpgName}" runs a test failover: stop it with failover.stopTest`,
    );
  }
  requirePhase(record, 'BeforeCommit', 'roll back');
  if (record.promotionStarted === true) {
    // The replicas may hold the view at the checkpoint and the recovered VMs' writes: with
    // protection resumed, older checkpoints and every later failover would read them.
    throw new TidelineError(
      'CONFLICT',
      `Cannot roll back the failover of VPG "${record.vpgName}": its commit had started writing the recovered data into the replica disks, which no longer match the journal. Commit again to finish it${record.message === undefined ? '' : ` (${record.message})`}.`,
      { vpgId: record.vpgId, phase: record.phase },
    );
  }
  ctx.window.disarm(record.failoverId);
  const rolling: FailoverRecord = { ...record, phase: 'RollingBack' };
  await ctx.update(rolling);
  const task = ctx.options.tasks.run(
    {
      type: 'FailoverRollback',
      vpgId: record.vpgId,
      input: { ...params, failoverId: record.failoverId },
      steps: [STEPS.powerOff, STEPS.unregister, STEPS.deleteNetworks, STEPS.discard],
      abortable: false,
    },
    async (handle) => {
      await teardown(ctx, handle, rolling);
      await ctx.end(rolling, 'RolledBack');
      await resumeMoved(ctx, rolling.failoverId);
      return { failoverId: record.failoverId };
    },
  );
  return { taskId: task.taskId };
}
