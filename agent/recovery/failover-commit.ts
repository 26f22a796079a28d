import { rm } from 'node:fs/promises';
import { TidelineError } from '../../app/errors';
import { VpgSettingsSchema } from '../../app/protocol';
import type { TaskRef, VpgSettings } from '../../app/protocol';
import type { FailoverCommitParams } from '../../app/protocol/failover-api';
import { callPeer } from '../replication/vpg-control';
import { messageOf, requirePhase, type FailoverContext } from './failover-context';
import { bootGroups } from './failover-plan';
import { PROMOTE_STEPS, STEPS } from './failover-steps';
import type { FailoverRecord } from './failover-store';
import { DoneSchema, SOURCE_RETIRE } from './move-source';
import type { RecoveryDiskSet } from './recovery-types';
import { recoverySetDir } from './recovery-set-file';
import { remapVmIds, reverseSettings } from './reverse-settings';

/**
 * Commit of a live failover or move: closes the commit window, then the Promote task writes
 * the journal and the VMs' writes into the replicas, switches the VMs to the replica files
 * and, with reverse protection, protects them back toward the original site.
 */
export async function commit(ctx: FailoverContext, params: FailoverCommitParams): Promise<TaskRef> {
  const record = ctx.activeOf(params.vpgId);
  if (record.mode === 'test') {
    throw new TidelineError(
      'CONFLICT',
      `VPG "${record.vpgName}" runs a test failover: a test cannot be committed`,
    );
  }
  requirePhase(record, 'BeforeCommit', 'commit');
  const reverse = params.reverseProtection ?? record.reverseProtection;
  // Checked before anything changes: reverse protection needs the original site and settings.
  let reverseWith: VpgSettings | undefined;
  if (reverse) {
    if (ctx.connectedPeer(record) === undefined) {
      throw new TidelineError(
        'UNAVAILABLE',
        `The original site of VPG "${record.vpgName}" is unreachable: reverse protection cannot start. Commit without reverse protection (reverseProtection: false), or when the link is back.`,
        { vpgId: record.vpgId },
      );
    }
    reverseWith =
      params.reverseSettings === undefined
        ? settingsForReverse(ctx, record.vpgId)
        : VpgSettingsSchema.parse(params.reverseSettings);
  }
  ctx.window.disarm(record.failoverId);
  const { commitDeadline: _d, ...rest } = record;
  const committing: FailoverRecord = {
    ...rest,
    phase: 'Committing',
    reverseProtection: reverse,
  };
  await ctx.update(committing);
  ctx.applyHold(committing);
  const task = ctx.options.tasks.run(
    {
      type: 'FailoverCommit',
      vpgId: record.vpgId,
      input: { vpgId: params.vpgId, failoverId: record.failoverId },
      steps: [STEPS.window, STEPS.promote],
      abortable: false,
    },
    async (handle) => {
      handle.step(STEPS.window);
      handle.step(STEPS.promote);
      const set = await ctx.diskSet(committing);
      const promoting: FailoverRecord = {
        ...committing,
        phase: 'Promoting',
        promotionStarted: true,
      };
      await ctx.update(promoting);
      ctx.applyHold(promoting);
      const promote = ctx.options.tasks.run(
        {
          type: 'Promote',
          vpgId: record.vpgId,
          input: { vpgId: record.vpgId, failoverId: record.failoverId },
          steps: [
            PROMOTE_STEPS.write,
            PROMOTE_STEPS.switch,
            ...(reverse ? [PROMOTE_STEPS.retire, PROMOTE_STEPS.reverse] : []),
          ],
          abortable: false,
        },
        async (p) => {
          p.step(PROMOTE_STEPS.write);
          try {
            await set.promote((progress) => {
              if (p.ended) return;
              p.setTotal(progress.totalBytes);
              p.progress(progress.doneBytes);
            });
          } catch (err) {
            if (!ctx.stopping)
              await ctx.update({
                ...promoting,
                phase: 'BeforeCommit',
                message: `Promotion failed: ${messageOf(err)}; commit again`,
              });
            throw err;
          }
          let done = promoting;
          let switched = false;
          try {
            p.step(PROMOTE_STEPS.switch);
            const onReplicas = await switchToReplicas(ctx, done, set);
            done = onReplicas.record;
            switched = true;
            if (reverseWith === undefined) {
              await ctx.end(done, 'Committed');
              return { failoverId: record.failoverId };
            }
            p.step(PROMOTE_STEPS.retire);
            const reverseVpgId = await startReverse(
              ctx,
              done,
              remapVmIds(reverseWith, onReplicas.vmIds),
            );
            p.step(PROMOTE_STEPS.reverse);
            done = { ...done, reverseVpgId };
            await ctx.end(done, 'Committed');
            return { failoverId: record.failoverId, reverseVpgId };
          } catch (err) {
            // Promoted: the VMs keep their data; what is left is the admin's to finish.
            if (!ctx.stopping) {
              await ctx.end(done, 'Committed', `Committed, but ${messageOf(err)}`);
            }
            throw err;
          } finally {
            // Only once Committed is stored: until then a restart reopens the promoted set.
            if (switched && ctx.store.get(record.failoverId)?.phase === 'Committed') {
              await removeSetDir(ctx, record.failoverId);
            }
          }
        },
      );
      return { failoverId: record.failoverId, promoteTaskId: promote.taskId };
    },
  );
  return { taskId: task.taskId };
}

/**
 * After promotion the replica files are the recovered VMs' disks: the VMs are registered on
 * them (a restart serves them from the files; the recovery disks and their NBD exports go).
 * The sim re-registers a VM under a new id: the map says which old id became which. VMs are
 * matched by the VM they recover (sourceVmId), not by id, so a commit run again after a
 * restart in the middle of the switch finds those already switched. The VMs are saved in the
 * record before the first is unregistered: one a restart caught unregistered and not yet
 * registered again is registered from there.
 */
async function switchToReplicas(
  ctx: FailoverContext,
  record: FailoverRecord,
  set: RecoveryDiskSet,
): Promise<{ record: FailoverRecord; vmIds: Map<string, string> }> {
  const { hypervisor } = ctx.options;
  const target = ctx.options.replication.recoveryTarget(record.vpgId);
  if (target === undefined) throw ctx.notReceived(record.vpgId);
  const replicas = new Map(target.openJournal.disks().map((d) => [d.diskId, d.replicaPath]));
  const listed = (await hypervisor.listVms()).filter(
    (v) => v.recoveredFrom?.failoverId === record.failoverId,
  );
  const present = new Set(listed.map((v) => v.recoveredFrom?.sourceVmId));
  // Unregistered by an interrupted switch and never registered again: only the record has them.
  const lost = (record.switching ?? []).filter((v) => !present.has(v.recoveredFrom?.sourceVmId));
  const recovered = [...listed, ...lost];
  await ctx.update({ ...record, switching: recovered });
  for (const vm of listed) await hypervisor.powerOff(vm.vmId);
  await set.close();
  ctx.sets.delete(record.failoverId);
  const vmIds = new Map<string, string>();
  const bySource = new Map<string, string>();
  for (const vm of recovered) {
    if (listed.includes(vm)) await hypervisor.unregisterVm(vm.vmId);
    const next = await hypervisor.registerVm({
      name: vm.name,
      hostId: vm.hostId,
      cpus: vm.cpus,
      memoryMiB: vm.memoryMiB,
      guestOs: vm.guestOs,
      nics: vm.nics,
      ...(vm.hardware !== undefined && { hardware: vm.hardware }),
      disks: vm.disks.map((disk) => {
        const spec = record.disks.find((d) => d.diskId === disk.diskId);
        const path = spec === undefined ? undefined : replicas.get(spec.sourceDiskId);
        if (path === undefined) {
          throw new TidelineError(
            'INTERNAL_ERROR',
            `Disk ${disk.diskId} of VM "${vm.name}" has no promoted replica file`,
          );
        }
        const { exportUri: _u, exportError: _e, ...rest } = disk;
        return { ...rest, location: path, format: 'raw' };
      }),
      ...(vm.recoveredFrom !== undefined && { recoveredFrom: vm.recoveredFrom }),
    });
    vmIds.set(vm.vmId, next.vmId);
    if (vm.recoveredFrom !== undefined) bySource.set(vm.recoveredFrom.sourceVmId, next.vmId);
  }
  // The record's ids may be older ones (a switch interrupted after some VMs): map them too.
  for (const v of record.vms) {
    const now = bySource.get(v.sourceVmId);
    if (v.vmId !== undefined && now !== undefined) vmIds.set(v.vmId, now);
  }
  const groups = bootGroups(
    record.vms.flatMap((vm) => {
      const vmId = bySource.get(vm.sourceVmId);
      return vmId === undefined ? [] : [{ ...vm, vmId }];
    }),
    () => 0,
  );
  for (const group of groups) {
    await Promise.all(group.vms.map((vm) => hypervisor.powerOn(vm.vmId)));
  }
  ctx.options.inventoryChanged(['vm']);
  const { switching: _done, ...rest } = record;
  const next: FailoverRecord = {
    ...rest,
    vms: record.vms.map((v) => ({ ...v, vmId: bySource.get(v.sourceVmId) ?? v.vmId })),
  };
  await ctx.update(next);
  return { record: next, vmIds };
}

/**
 * The promoted set's folder (set.json; its overlays went with promotion): the VMs run on the
 * replica files now and a committed failover is never reopened. Best effort.
 */
async function removeSetDir(ctx: FailoverContext, failoverId: string): Promise<void> {
  try {
    await rm(recoverySetDir(ctx.options.dataDir, failoverId), { recursive: true, force: true });
  } catch (err) {
    ctx.options.log.warn(
      { failoverId, err: messageOf(err) },
      'cannot remove the promoted recovery set folder',
    );
  }
}

/**
 * Reverse protection: the original site retires its VPG (its disks stay, off), this site
 * drops the journal (the replicas are the VMs' disks), and a VPG protects the recovered VMs
 * back with the original disks as pre-seeded replicas (a hash-compared delta sync).
 */
async function startReverse(
  ctx: FailoverContext,
  record: FailoverRecord,
  settings: VpgSettings,
): Promise<string> {
  const link = ctx.connectedPeer(record);
  if (link === undefined) {
    throw new TidelineError(
      'UNAVAILABLE',
      'the original site became unreachable: reverse protection was not started',
    );
  }
  await callPeer(link, SOURCE_RETIRE, { vpgId: record.vpgId }, DoneSchema, 60_000);
  await ctx.options.replication.retirePromotedTarget(record.vpgId);
  ctx.options.replication.holdForRecovery(record.vpgId, undefined);
  const reverse = await ctx.options.replication.create(settings, {
    reverseOf: { vpgId: record.vpgId, failoverId: record.failoverId },
  });
  ctx.options.log.info(
    { vpgId: record.vpgId, reverseVpgId: reverse.vpgId },
    'reverse protection started toward the original site',
  );
  return reverse.vpgId;
}

/** vpg.settingsForReverse: defaults to protect the recovered VMs back (reverse-settings.ts). */
export function settingsForReverse(ctx: FailoverContext, vpgId: string): VpgSettings {
  const target = ctx.options.replication.recoveryTarget(vpgId);
  if (target === undefined) throw ctx.notReceived(vpgId);
  const record = ctx.store
    .list()
    .reverse()
    .find((f) => f.vpgId === vpgId && f.mode !== 'test');
  if (record === undefined || !['BeforeCommit', 'Committed'].includes(record.phase)) {
    throw new TidelineError(
      'CONFLICT',
      `VPG "${target.vpg.name}" has no live failover or move up at this site: reverse protection protects recovered VMs`,
      { vpgId },
    );
  }
  const metadata = ctx.options.metadata.latest(vpgId);
  if (metadata === undefined) {
    throw new TidelineError('CONFLICT', `VPG "${target.vpg.name}" has no metadata package here`);
  }
  return reverseSettings(target.vpg, metadata, record);
}
