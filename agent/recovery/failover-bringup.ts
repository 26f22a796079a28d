import { randomBytes, randomUUID } from 'node:crypto';
import { TidelineError } from '../../app/errors';
import type { CommitPolicy, FailoverMode, FailoverPhase, TaskRef } from '../../app/protocol';
import type { FailoverTestParams } from '../../app/protocol/failover-api';
import type { TaskHandle } from '../tasks/task-manager';
import { busy, checkRunning, sleep, type FailoverContext } from './failover-context';
import { moveCheckpoint } from './failover-move';
import { bootGroups, chooseCheckpoint, planFailover, recoveredVms } from './failover-plan';
import { shutdownProtected } from './failover-shutdown';
import { STEPS } from './failover-steps';
import type { FailoverRecord } from './failover-store';
import { fail } from './failover-teardown';

export interface BringUpExtra {
  readonly commitPolicy: CommitPolicy;
  readonly shutdownProtectedVms: boolean;
  readonly reverseProtection: boolean;
}

/** The VMs to bring up: all of the VPG's, or those asked for (each one of its own). */
function chosenVms(
  vpg: { readonly name: string; readonly vmIds: readonly string[] },
  asked: readonly string[] | undefined,
): string[] {
  if (asked === undefined) return [...vpg.vmIds];
  const unknown = asked.filter((id) => !vpg.vmIds.includes(id));
  if (unknown.length > 0) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `VPG "${vpg.name}" does not protect ${unknown.length === 1 ? 'VM' : 'VMs'} ${unknown.join(', ')}: choose among its own VMs`,
      { unknown },
    );
  }
  return vpg.vmIds.filter((id) => asked.includes(id));
}

/**
 * Test, live and move: checks and plans, stores the failover, and runs the task that brings
 * its VMs up (runBringUp). A bring-up that fails is undone and ends Failed.
 */
export async function bringUp(
  ctx: FailoverContext,
  mode: FailoverMode,
  params: {
    vpgId: string;
    checkpoint?: FailoverTestParams['checkpoint'];
    vmIds?: readonly string[] | undefined;
  },
  extra: BringUpExtra,
): Promise<TaskRef> {
  const { vpgId } = params;
  const target = ctx.options.replication.recoveryTarget(vpgId);
  if (target === undefined) throw ctx.notReceived(vpgId);
  const vpg = target.vpg;
  if (ctx.starting.has(vpgId)) throw busy(vpg.name);
  const active = ctx.store.active(vpgId);
  if (active !== undefined) throw busy(vpg.name, active);
  const metadata = ctx.options.metadata.latest(vpgId);
  if (metadata === undefined) {
    throw new TidelineError(
      'CONFLICT',
      `VPG "${vpg.name}" is MissingConfiguration: this site has no metadata package to rebuild its VMs from yet (the protected site sends one every few minutes)`,
      { vpgId, status: 'MissingConfiguration' },
    );
  }
  const checkpoint = chooseCheckpoint(
    target.checkpoints(),
    params.checkpoint ?? { kind: 'latest' },
    vpg.name,
  );
  const vmIds = chosenVms(vpg, params.vmIds);
  const plan = planFailover({
    vmIds,
    metadata,
    recovery: vpg.recovery,
    test: mode === 'test',
    vpgName: vpg.name,
  });
  const failoverId = randomUUID();
  // Recovery disk ids: short and unique per failover (NBD export names, file names).
  const tag = randomBytes(4).toString('hex');
  const record: FailoverRecord = {
    failoverId,
    vpgId,
    vpgName: vpg.name,
    mode,
    phase: 'Running',
    taskId: '',
    checkpoint: {
      seq: checkpoint.seq,
      sourceTime: checkpoint.sourceTime,
      ...(checkpoint.name !== undefined && { name: checkpoint.name }),
    },
    commitPolicy: extra.commitPolicy,
    reverseProtection: extra.reverseProtection,
    ...(mode === 'move' && { moveCheckpointPending: true }),
    vms: recoveredVms(plan),
    networks: [],
    startedAt: Date.now(),
    disks: vpg.disks
      .filter((d) => vmIds.includes(d.vmId))
      .map((d) => ({
        sourceDiskId: d.diskId,
        diskId: `r${tag}-${d.diskId}`,
        sizeBytes: d.sizeBytes,
      })),
    peerAgentId: vpg.peerAgentId,
  };
  ctx.starting.add(vpgId);
  try {
    const steps = [
      ...(mode === 'move'
        ? [STEPS.shutdown, STEPS.moveCheckpoint]
        : [STEPS.checkpoint, ...(extra.shutdownProtectedVms ? [STEPS.shutdown] : [])]),
      STEPS.disks,
      STEPS.networks,
      STEPS.register,
      STEPS.power,
    ];
    let current = record;
    const task = ctx.options.tasks.run(
      {
        type: mode === 'test' ? 'FailoverTest' : mode === 'move' ? 'FailoverMove' : 'FailoverLive',
        vpgId,
        input: { ...params, mode, failoverId, checkpointSeq: checkpoint.seq, ...extra },
        steps,
        abortable: false,
      },
      async (handle) => {
        try {
          current = await runBringUp(ctx, handle, current, plan, extra.shutdownProtectedVms);
          return { failoverId, checkpointSeq: checkpoint.seq, vms: current.vms };
        } catch (err) {
          const latest = ctx.store.get(failoverId) ?? current;
          if (ctx.stopping) throw err; // undone at the next start
          await fail(ctx, latest, err);
          throw err;
        }
      },
    );
    current = { ...record, taskId: task.taskId };
    await ctx.update(current);
    ctx.applyHold(current);
    return { taskId: task.taskId };
  } finally {
    ctx.starting.delete(vpgId);
  }
}

async function runBringUp(
  ctx: FailoverContext,
  task: TaskHandle,
  start: FailoverRecord,
  plan: ReturnType<typeof planFailover>,
  shutdown: boolean,
): Promise<FailoverRecord> {
  const { hypervisor, log } = ctx.options;
  // The record is persisted by bringUp before the task runs; wait for it.
  let record = await ctx.waitStored(start.failoverId);
  const save = async (next: FailoverRecord): Promise<FailoverRecord> => {
    checkRunning(task);
    record = next;
    await ctx.update(record);
    return record;
  };
  if (record.moveCheckpointPending === true) {
    record = await save(await moveCheckpoint(ctx, task, record));
    ctx.applyHold(record);
  } else {
    task.step(STEPS.checkpoint);
    if (shutdown) {
      task.step(STEPS.shutdown);
      await shutdownProtected(ctx, record);
    }
  }
  task.step(STEPS.disks);
  await ctx.diskSet(record);
  checkRunning(task);

  task.step(STEPS.networks);
  const existing = new Set((await hypervisor.listNetworks()).map((n) => n.name));
  for (const network of plan.networks) {
    if (existing.has(network.name)) {
      await save({
        ...record,
        networks: [...record.networks, { name: network.name, created: false }],
      });
      continue;
    }
    await hypervisor.createNetwork(network);
    await save({
      ...record,
      networks: [...record.networks, { name: network.name, created: true }],
    });
    ctx.options.inventoryChanged(['network']);
  }

  task.step(STEPS.register);
  const vpg = ctx.options.replication.recoveryTarget(record.vpgId)?.vpg;
  if (vpg === undefined) throw ctx.notReceived(record.vpgId);
  for (const [i, vm] of plan.vms.entries()) {
    const disks = vm.source.disks.map((disk) => {
      const spec = record.disks.find((d) => d.sourceDiskId === disk.diskId);
      const uri = spec === undefined ? undefined : ctx.options.disks.exportUri(spec.diskId);
      if (spec === undefined || uri === undefined) {
        throw new TidelineError(
          'CONFLICT',
          `Disk ${disk.name} of VM "${vm.source.name}" is not protected by VPG "${record.vpgName}": it cannot be recovered`,
        );
      }
      return {
        diskId: spec.diskId,
        name: disk.name,
        sizeBytes: disk.sizeBytes,
        datastore: vpg.recoveryDatastore,
        location: uri,
        format: 'raw',
        ...(disk.target !== undefined && { target: disk.target }),
        ...(disk.bus !== undefined && { bus: disk.bus }),
        ...(disk.bootOrder !== undefined && { bootOrder: disk.bootOrder }),
      };
    });
    const registered = await hypervisor.registerVm({
      name: vm.source.name,
      hostId: vpg.recoveryHostId,
      cpus: vm.source.cpus,
      memoryMiB: vm.source.memoryMiB,
      guestOs: vm.source.guestOs,
      nics: vm.nics.map((n) => n.nic),
      disks,
      ...(vm.source.hardware !== undefined && { hardware: vm.source.hardware }),
      recoveredFrom: {
        vpgId: record.vpgId,
        failoverId: record.failoverId,
        mode: record.mode,
        sourceVmId: vm.source.vmId,
      },
    });
    const vms = record.vms.map((v, j) => (j === i ? { ...v, vmId: registered.vmId } : v));
    await save({ ...record, vms });
    task.progress(0, (i + 1) / plan.vms.length);
  }
  ctx.options.inventoryChanged(['vm']);

  task.step(STEPS.power);
  const groups = bootGroups(
    plan.vms.map((vm, index) => ({ ...vm, index })),
    (vm) => vm.bootDelaySeconds,
  );
  for (const [g, group] of groups.entries()) {
    const events = await Promise.all(
      group.vms.map((vm) => hypervisor.powerOn(record.vms[vm.index]?.vmId ?? '')),
    );
    const vms = record.vms.map((v) => {
      const event = events.find((e) => e.vmId === v.vmId);
      return event === undefined ? v : { ...v, poweredOnAt: event.at };
    });
    await save({ ...record, vms });
    ctx.options.inventoryChanged(['vm']);
    task.progress(0, (g + 1) / groups.length);
    if (g < groups.length - 1 && group.delaySeconds > 0) {
      log.info(
        { group: group.group, delaySeconds: group.delaySeconds },
        'boot group up: waiting its delay',
      );
      await sleep(group.delaySeconds * 1000, task.signal);
    }
  }

  const phase: FailoverPhase = record.mode === 'test' ? 'Testing' : 'BeforeCommit';
  const policy = record.commitPolicy;
  const deadline =
    phase === 'BeforeCommit' && policy.kind !== 'none'
      ? Date.now() + policy.afterSeconds * 1000
      : undefined;
  await save({ ...record, phase, ...(deadline !== undefined && { commitDeadline: deadline }) });
  ctx.applyHold(record);
  ctx.window.arm(record);
  log.info(
    {
      failoverId: record.failoverId,
      vpgId: record.vpgId,
      mode: record.mode,
      seq: record.checkpoint.seq,
    },
    'failover up',
  );
  return record;
}
