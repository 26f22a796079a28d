import { isTidelineError } from '../../app/errors';
import type { TaskHandle } from '../tasks/task-manager';
import { messageOf, type FailoverContext } from './failover-context';
import { resumeMoved } from './failover-move';
import { STEPS } from './failover-steps';
import type { FailoverRecord } from './failover-store';

export const RESTART_FAILOVER_MESSAGE =
  'Interrupted: the agent restarted during this failover; its VMs, networks and recovery disks were removed and protection resumed. Start it again.';

/** Powers off and unregisters the VMs, deletes the networks it created, discards the disks. */
export async function teardown(
  ctx: FailoverContext,
  task: TaskHandle | undefined,
  record: FailoverRecord,
): Promise<void> {
  const { hypervisor, log } = ctx.options;
  const ignoreMissing = async (run: () => Promise<unknown>): Promise<void> => {
    try {
      await run();
    } catch (err) {
      if (!(isTidelineError(err) && err.code === 'NOT_FOUND')) throw err;
    }
  };
  task?.step(STEPS.powerOff);
  const vmIds = record.vms.flatMap((v) => (v.vmId === undefined ? [] : [v.vmId]));
  for (const vmId of vmIds) await ignoreMissing(() => hypervisor.powerOff(vmId, { force: true }));
  task?.step(STEPS.unregister);
  for (const vmId of vmIds) await ignoreMissing(() => hypervisor.unregisterVm(vmId));
  if (vmIds.length > 0) ctx.options.inventoryChanged(['vm']);
  task?.step(STEPS.deleteNetworks);
  for (const network of record.networks.filter((n) => n.created)) {
    try {
      await ignoreMissing(() => hypervisor.deleteNetwork(network.name));
    } catch (err) {
      // Another VM uses it now (say, a second VPG's test): it stays, and says why.
      log.warn(
        { network: network.name, err: messageOf(err) },
        'a network the failover created stays',
      );
    }
  }
  if (record.networks.some((n) => n.created)) ctx.options.inventoryChanged(['network']);
  task?.step(STEPS.discard);
  const set = ctx.sets.get(record.failoverId) ?? (await ctx.openQuietly(record));
  await set?.discard();
  ctx.sets.delete(record.failoverId);
}

/** A bring-up that failed: undo what it did, end Failed with the reason. */
export async function fail(
  ctx: FailoverContext,
  record: FailoverRecord,
  err: unknown,
): Promise<void> {
  try {
    await teardown(ctx, undefined, record);
  } catch (undoErr) {
    ctx.options.log.error(
      { err: undoErr, failoverId: record.failoverId },
      'cannot undo a failed failover',
    );
  }
  await ctx.end(record, 'Failed', messageOf(err));
  await resumeMoved(ctx, record.failoverId);
}

export async function undoInterrupted(ctx: FailoverContext, record: FailoverRecord): Promise<void> {
  ctx.options.log.warn(
    { failoverId: record.failoverId, phase: record.phase },
    'undoing a failover interrupted by a restart',
  );
  try {
    await teardown(ctx, undefined, record);
  } catch (err) {
    ctx.options.log.error(
      { err, failoverId: record.failoverId },
      'cannot undo all of an interrupted failover',
    );
  }
  await ctx.end(record, 'Failed', RESTART_FAILOVER_MESSAGE);
  await resumeMoved(ctx, record.failoverId);
}
