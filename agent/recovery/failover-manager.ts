import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { TidelineError, isTidelineError } from '../../app/errors';
import type {
  CheckpointInfo,
  CheckpointTest,
  CommitPolicy,
  FailoverMode,
  FailoverPhase,
  FailoverStatus,
  InventoryKind,
  TaskRef,
  VpgStatus,
} from '../../app/protocol';
import type {
  FailoverCommitParams,
  FailoverLiveParams,
  FailoverStopTestParams,
  FailoverTestParams,
} from '../../app/protocol/failover-api';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { PeerService } from '../peer/peer-service';
import type { RecoveryHold } from '../replication/target-vpg';
import { callPeer, parsePeer } from '../replication/vpg-control';
import type { StoredVpg } from '../replication/vpg-store';
import type { TaskHandle, TaskManager } from '../tasks/task-manager';
import { drop } from '../util/drop';
import { bootGroups, chooseCheckpoint, planFailover, recoveredVms } from './failover-plan';
import { FailoverStore, isEnded, type FailoverRecord } from './failover-store';
import type { MetadataStore, RecoveryDiskSet, RecoveryDisks } from './recovery-types';

/** What the failover needs of the replication engine at the recovery site. */
export interface FailoverReplication {
  /** A VPG received here: its settings and its journal's checkpoints. */
  recoveryTarget(
    vpgId: string,
  ): { readonly vpg: StoredVpg; checkpoints(): CheckpointInfo[] } | undefined;
  /** Hold a received VPG (status, stream paused) or release it. */
  holdForRecovery(vpgId: string, hold: RecoveryHold | undefined): void;
  /** A VPG as stored here (either role). */
  storedVpg(vpgId: string): StoredVpg | undefined;
}

export interface FailoverManagerOptions {
  /** state/failovers.json */
  readonly file: string;
  readonly tasks: TaskManager;
  readonly hypervisor: HypervisorAdapter;
  readonly replication: FailoverReplication;
  readonly disks: RecoveryDisks;
  readonly metadata: MetadataStore;
  readonly peers: Pick<PeerService, 'link' | 'handleControl'>;
  readonly log: Logger;
  /** failover.status to the consoles. */
  readonly notify: (status: FailoverStatus) => void;
  /** inventory.changed to the consoles (VMs and networks come and go). */
  readonly inventoryChanged: (kinds: InventoryKind[]) => void;
}

/** Peer control: the recovery site asks the protected site to power its VMs off. */
export const FAILOVER_SHUTDOWN = 'failover.shutdownVms';
const ShutdownParamsSchema = z.object({ vpgId: z.string(), vmIds: z.array(z.string()) });
const ShutdownResultSchema = z.object({ poweredOff: z.number().int().nonnegative() });
const SHUTDOWN_TIMEOUT_MS = 30_000;

export const RESTART_FAILOVER_MESSAGE =
  'Interrupted: the agent restarted during this failover; its VMs, networks and recovery disks were removed and protection resumed. Start it again.';

const STEPS = {
  checkpoint: 'Choose the checkpoint',
  shutdown: 'Shut down the protected VMs',
  disks: 'Open the recovery disks',
  networks: 'Create missing networks',
  register: 'Register the VMs',
  power: 'Power on by boot group',
  powerOff: 'Power off the VMs',
  unregister: 'Unregister the VMs',
  deleteNetworks: 'Delete the networks it created',
  discard: 'Discard the recovery disks',
  record: 'Record the test result',
  window: 'Close the commit window',
  promote: 'Start promotion',
} as const;

/**
 * Failovers at the recovery site (README.md): test, live, commit, rollback, stopTest, each a
 * task; one failover per VPG at a time; every change persisted (failover-store.ts) and sent as
 * `failover.status`. A failover interrupted by a restart is undone at the next start and ends
 * Failed, so a new one can run.
 */
export class FailoverManager {
  private readonly store: FailoverStore;
  private readonly sets = new Map<string, RecoveryDiskSet>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly starting = new Set<string>();
  private controlOff: (() => void) | undefined;
  private stopping = false;

  constructor(private readonly options: FailoverManagerOptions) {
    this.store = new FailoverStore(options.file);
  }

  /**
   * Loads the failovers: holds their VPGs again, reopens the disks of those that are up, and
   * undoes those a restart interrupted (in the background; they stay active until undone).
   */
  async start(): Promise<void> {
    await this.store.load();
    this.controlOff = this.options.peers.handleControl(FAILOVER_SHUTDOWN, (params) =>
      this.shutdownHere(params),
    );
    const latest = new Map<string, FailoverRecord>();
    for (const record of this.store.list()) latest.set(record.vpgId, record);
    for (const record of latest.values()) this.applyHold(record);
    for (const record of this.store.list()) {
      if (isEnded(record)) continue;
      if (record.phase === 'Testing' || record.phase === 'BeforeCommit') {
        drop(this.reopen(record), (err) =>
          this.options.log.error({ err, failoverId: record.failoverId }, 'cannot reopen failover'),
        );
      } else if (record.phase === 'Committing' || record.phase === 'Promoting') {
        // Promotion is idempotent: back to the commit window, commit again.
        await this.update({
          ...record,
          phase: 'BeforeCommit',
          message: 'Promotion was interrupted by a restart: commit again',
        });
        drop(this.reopen({ ...record, phase: 'BeforeCommit' }), () => undefined);
      } else {
        drop(this.undoInterrupted(record), (err) =>
          this.options.log.error({ err, failoverId: record.failoverId }, 'cannot undo failover'),
        );
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.controlOff?.();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const [failoverId, set] of this.sets) {
      try {
        await set.close();
      } catch (err) {
        this.options.log.warn({ err, failoverId }, 'cannot close recovery disks');
      }
    }
    this.sets.clear();
  }

  list(
    filter: { vpgId?: string | undefined; includeEnded?: boolean | undefined } = {},
  ): FailoverStatus[] {
    return this.store
      .list()
      .filter((f) => filter.vpgId === undefined || f.vpgId === filter.vpgId)
      .filter((f) => filter.includeEnded === true || !isEnded(f))
      .reverse()
      .slice(0, 50)
      .map(publicStatus);
  }

  testsOf(vpgId: string): ReadonlyMap<number, CheckpointTest> {
    return this.store.tests(vpgId);
  }

  // ───────────────────────── bring-up: test and live ─────────────────────────

  test(
    params: FailoverTestParams & { checkpoint: NonNullable<FailoverTestParams['checkpoint']> },
  ): Promise<TaskRef> {
    return this.bringUp('test', params, {
      commitPolicy: { kind: 'none' },
      shutdownProtectedVms: false,
      reverseProtection: false,
    });
  }

  live(
    params: Required<Omit<FailoverLiveParams, 'checkpoint'>> &
      Pick<FailoverTestParams, 'checkpoint'>,
  ): Promise<TaskRef> {
    return this.bringUp('live', params, {
      commitPolicy: params.commitPolicy,
      shutdownProtectedVms: params.shutdownProtectedVms,
      reverseProtection: params.reverseProtection,
    });
  }

  private async bringUp(
    mode: Exclude<FailoverMode, 'move'>,
    params: { vpgId: string; checkpoint?: FailoverTestParams['checkpoint'] },
    extra: {
      commitPolicy: CommitPolicy;
      shutdownProtectedVms: boolean;
      reverseProtection: boolean;
    },
  ): Promise<TaskRef> {
    const { vpgId } = params;
    const target = this.options.replication.recoveryTarget(vpgId);
    if (target === undefined) throw this.notReceived(vpgId);
    const vpg = target.vpg;
    if (this.starting.has(vpgId)) throw this.busy(vpg.name);
    const active = this.store.active(vpgId);
    if (active !== undefined) throw this.busy(vpg.name, active);
    const metadata = this.options.metadata.latest(vpgId);
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
    const plan = planFailover({
      vmIds: vpg.vmIds,
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
      vms: recoveredVms(plan),
      networks: [],
      startedAt: Date.now(),
      disks: vpg.disks.map((d) => ({
        sourceDiskId: d.diskId,
        diskId: `r${tag}-${d.diskId}`,
        sizeBytes: d.sizeBytes,
      })),
      peerAgentId: vpg.peerAgentId,
    };
    this.starting.add(vpgId);
    try {
      const steps = [
        STEPS.checkpoint,
        ...(extra.shutdownProtectedVms ? [STEPS.shutdown] : []),
        STEPS.disks,
        STEPS.networks,
        STEPS.register,
        STEPS.power,
      ];
      let current = record;
      const task = this.options.tasks.run(
        {
          type: mode === 'test' ? 'FailoverTest' : 'FailoverLive',
          vpgId,
          input: { ...params, mode, failoverId, checkpointSeq: checkpoint.seq, ...extra },
          steps,
          abortable: false,
        },
        async (handle) => {
          try {
            current = await this.runBringUp(handle, current, plan, extra.shutdownProtectedVms);
            return { failoverId, checkpointSeq: checkpoint.seq, vms: current.vms };
          } catch (err) {
            const latest = this.store.get(failoverId) ?? current;
            if (this.stopping) throw err; // undone at the next start
            await this.fail(latest, err);
            throw err;
          }
        },
      );
      current = { ...record, taskId: task.taskId };
      await this.update(current);
      this.applyHold(current);
      return { taskId: task.taskId };
    } finally {
      this.starting.delete(vpgId);
    }
  }

  private async runBringUp(
    task: TaskHandle,
    start: FailoverRecord,
    plan: ReturnType<typeof planFailover>,
    shutdown: boolean,
  ): Promise<FailoverRecord> {
    const { hypervisor, log } = this.options;
    // The record is persisted by bringUp before the task runs; wait for it.
    let record = await this.waitStored(start.failoverId);
    const save = async (next: FailoverRecord): Promise<FailoverRecord> => {
      this.checkRunning(task);
      record = next;
      await this.update(record);
      return record;
    };
    task.step(STEPS.checkpoint);
    if (shutdown) {
      task.step(STEPS.shutdown);
      await this.shutdownProtected(record);
    }
    task.step(STEPS.disks);
    const set = await this.options.disks.open({
      failoverId: record.failoverId,
      vpgId: record.vpgId,
      checkpointSeq: record.checkpoint.seq,
      disks: record.disks,
    });
    this.sets.set(record.failoverId, set);
    this.checkRunning(task);

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
      this.options.inventoryChanged(['network']);
    }

    task.step(STEPS.register);
    const vpg = this.options.replication.recoveryTarget(record.vpgId)?.vpg;
    if (vpg === undefined) throw this.notReceived(record.vpgId);
    for (const [i, vm] of plan.vms.entries()) {
      const disks = vm.source.disks.map((disk) => {
        const spec = record.disks.find((d) => d.sourceDiskId === disk.diskId);
        const uri = spec === undefined ? undefined : this.options.disks.exportUri(spec.diskId);
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
    this.options.inventoryChanged(['vm']);

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
      this.options.inventoryChanged(['vm']);
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
    this.applyHold(record);
    this.armCommitWindow(record);
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

  // ───────────────────────── stopTest, rollback, commit ─────────────────────────

  async stopTest(
    params: FailoverStopTestParams & { result: 'Passed' | 'Failed' },
  ): Promise<TaskRef> {
    const record = this.activeOf(params.vpgId);
    if (record.mode !== 'test') {
      throw new TidelineError(
        'CONFLICT',
        `The failover of VPG "${record.vpgName}" is a ${record.mode} failover, not a test: commit or roll it back`,
      );
    }
    this.requirePhase(record, 'Testing', 'stop the test');
    const stopping: FailoverRecord = { ...record, phase: 'Stopping' };
    await this.update(stopping);
    const task = this.options.tasks.run(
      {
        type: 'StopFailoverTest',
        vpgId: record.vpgId,
        input: { ...params, failoverId: record.failoverId },
        steps: [
          STEPS.powerOff,
          STEPS.unregister,
          STEPS.deleteNetworks,
          STEPS.discard,
          STEPS.record,
        ],
        abortable: false,
      },
      async (handle) => {
        await this.teardown(handle, stopping);
        handle.step(STEPS.record);
        const test: CheckpointTest = {
          at: Date.now(),
          result: params.result,
          ...(params.note !== undefined && { note: params.note }),
        };
        await this.store.recordTest(record.vpgId, record.checkpoint.seq, test);
        await this.end(stopping, 'Stopped');
        return {
          failoverId: record.failoverId,
          checkpointSeq: record.checkpoint.seq,
          tested: test,
        };
      },
    );
    return { taskId: task.taskId };
  }

  async rollback(params: { vpgId: string }): Promise<TaskRef> {
    const record = this.activeOf(params.vpgId);
    if (record.mode === 'test') {
      throw new TidelineError(
        'CONFLICT',
        `VPG "${record.vpgName}" runs a test failover: stop it with failover.stopTest`,
      );
    }
    this.requirePhase(record, 'BeforeCommit', 'roll back');
    this.disarm(record.failoverId);
    const rolling: FailoverRecord = { ...record, phase: 'RollingBack' };
    await this.update(rolling);
    const task = this.options.tasks.run(
      {
        type: 'FailoverRollback',
        vpgId: record.vpgId,
        input: { ...params, failoverId: record.failoverId },
        steps: [STEPS.powerOff, STEPS.unregister, STEPS.deleteNetworks, STEPS.discard],
        abortable: false,
      },
      async (handle) => {
        await this.teardown(handle, rolling);
        await this.end(rolling, 'RolledBack');
        return { failoverId: record.failoverId };
      },
    );
    return { taskId: task.taskId };
  }

  async commit(params: FailoverCommitParams): Promise<TaskRef> {
    const record = this.activeOf(params.vpgId);
    if (record.mode === 'test') {
      throw new TidelineError(
        'CONFLICT',
        `VPG "${record.vpgName}" runs a test failover: a test cannot be committed`,
      );
    }
    this.requirePhase(record, 'BeforeCommit', 'commit');
    this.disarm(record.failoverId);
    const { commitDeadline: _d, ...rest } = record;
    const committing: FailoverRecord = {
      ...rest,
      phase: 'Committing',
      reverseProtection: params.reverseProtection ?? record.reverseProtection,
    };
    await this.update(committing);
    this.applyHold(committing);
    const task = this.options.tasks.run(
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
        const set = await this.diskSet(committing);
        const promoting: FailoverRecord = { ...committing, phase: 'Promoting' };
        await this.update(promoting);
        this.applyHold(promoting);
        const promote = this.options.tasks.run(
          {
            type: 'Promote',
            vpgId: record.vpgId,
            input: { vpgId: record.vpgId, failoverId: record.failoverId },
            steps: ['Write the journal and the VMs’ writes into the replica disks'],
            abortable: false,
          },
          async (p) => {
            p.step('Write the journal and the VMs’ writes into the replica disks');
            try {
              await set.promote((progress) => {
                if (p.ended) return;
                p.setTotal(progress.totalBytes);
                p.progress(progress.doneBytes);
              });
            } catch (err) {
              if (!this.stopping)
                await this.update({
                  ...promoting,
                  phase: 'BeforeCommit',
                  message: `Promotion failed: ${messageOf(err)}; commit again`,
                });
              throw err;
            }
            this.sets.delete(record.failoverId);
            await this.end(promoting, 'Committed');
            return { failoverId: record.failoverId };
          },
        );
        return { failoverId: record.failoverId, promoteTaskId: promote.taskId };
      },
    );
    return { taskId: task.taskId };
  }

  // ───────────────────────── internals ─────────────────────────

  /** Powers off and unregisters the VMs, deletes the networks it created, discards the disks. */
  private async teardown(task: TaskHandle | undefined, record: FailoverRecord): Promise<void> {
    const { hypervisor, log } = this.options;
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
    if (vmIds.length > 0) this.options.inventoryChanged(['vm']);
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
    if (record.networks.some((n) => n.created)) this.options.inventoryChanged(['network']);
    task?.step(STEPS.discard);
    const set = this.sets.get(record.failoverId) ?? (await this.openQuietly(record));
    await set?.discard();
    this.sets.delete(record.failoverId);
  }

  /** A bring-up that failed: undo what it did, end Failed with the reason. */
  private async fail(record: FailoverRecord, err: unknown): Promise<void> {
    try {
      await this.teardown(undefined, record);
    } catch (undoErr) {
      this.options.log.error(
        { err: undoErr, failoverId: record.failoverId },
        'cannot undo a failed failover',
      );
    }
    await this.end(record, 'Failed', messageOf(err));
  }

  private async undoInterrupted(record: FailoverRecord): Promise<void> {
    this.options.log.warn(
      { failoverId: record.failoverId, phase: record.phase },
      'undoing a failover interrupted by a restart',
    );
    try {
      await this.teardown(undefined, record);
    } catch (err) {
      this.options.log.error(
        { err, failoverId: record.failoverId },
        'cannot undo all of an interrupted failover',
      );
    }
    await this.end(record, 'Failed', RESTART_FAILOVER_MESSAGE);
  }

  private async end(record: FailoverRecord, phase: FailoverPhase, message?: string): Promise<void> {
    const { commitDeadline: _d, message: _m, ...rest } = record;
    const ended: FailoverRecord = {
      ...rest,
      phase,
      endedAt: Date.now(),
      ...(message !== undefined && { message }),
    };
    await this.update(ended);
    this.applyHold(ended);
  }

  private async reopen(record: FailoverRecord): Promise<void> {
    this.sets.set(record.failoverId, await this.diskSet(record));
    this.armCommitWindow(record);
  }

  private async diskSet(record: FailoverRecord): Promise<RecoveryDiskSet> {
    const open = this.sets.get(record.failoverId);
    if (open !== undefined) return open;
    const set = await this.options.disks.open({
      failoverId: record.failoverId,
      vpgId: record.vpgId,
      checkpointSeq: record.checkpoint.seq,
      disks: record.disks,
    });
    this.sets.set(record.failoverId, set);
    return set;
  }

  private async openQuietly(record: FailoverRecord): Promise<RecoveryDiskSet | undefined> {
    try {
      return await this.diskSet(record);
    } catch (err) {
      this.options.log.warn(
        { err: messageOf(err), failoverId: record.failoverId },
        'cannot reopen the recovery disks to discard them',
      );
      return undefined;
    }
  }

  /** The VPG's status and stream as the failover's phase wants them. */
  private applyHold(record: FailoverRecord): void {
    this.options.replication.holdForRecovery(record.vpgId, holdFor(record));
  }

  private armCommitWindow(record: FailoverRecord): void {
    this.disarm(record.failoverId);
    if (record.phase !== 'BeforeCommit' || record.commitDeadline === undefined) return;
    const policy = record.commitPolicy;
    if (policy.kind === 'none') return;
    const timer = setTimeout(
      () => {
        this.timers.delete(record.failoverId);
        const act =
          policy.kind === 'autoCommit'
            ? this.commit({ vpgId: record.vpgId })
            : this.rollback({ vpgId: record.vpgId });
        drop(act, (err) =>
          this.options.log.error({ err, failoverId: record.failoverId }, `${policy.kind} failed`),
        );
      },
      Math.max(0, record.commitDeadline - Date.now()),
    );
    timer.unref();
    this.timers.set(record.failoverId, timer);
  }

  private disarm(failoverId: string): void {
    const timer = this.timers.get(failoverId);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(failoverId);
  }

  private async shutdownProtected(record: FailoverRecord): Promise<void> {
    const link =
      record.peerAgentId === undefined ? undefined : this.options.peers.link(record.peerAgentId);
    if (link?.state !== 'connected') {
      this.options.log.warn(
        { vpgId: record.vpgId },
        'the protected site is unreachable: its VMs are not shut down',
      );
      return;
    }
    try {
      await callPeer(
        link,
        FAILOVER_SHUTDOWN,
        { vpgId: record.vpgId, vmIds: record.vms.map((v) => v.sourceVmId) },
        ShutdownResultSchema,
        SHUTDOWN_TIMEOUT_MS,
      );
    } catch (err) {
      this.options.log.warn(
        { vpgId: record.vpgId, err: messageOf(err) },
        'the protected site did not shut its VMs down',
      );
    }
  }

  /** Peer control at the protected site: power off VMs of a VPG protected from here. */
  private async shutdownHere(params: unknown): Promise<z.infer<typeof ShutdownResultSchema>> {
    const { vpgId, vmIds } = parsePeer(ShutdownParamsSchema, params, FAILOVER_SHUTDOWN);
    const vpg = this.options.replication.storedVpg(vpgId);
    if (vpg?.role !== 'source')
      throw new TidelineError('NOT_FOUND', `VPG ${vpgId} is not protected from this site`);
    let poweredOff = 0;
    for (const vmId of vmIds.filter((id) => vpg.vmIds.includes(id))) {
      await this.options.hypervisor.powerOff(vmId);
      poweredOff += 1;
    }
    if (poweredOff > 0) this.options.inventoryChanged(['vm']);
    return { poweredOff };
  }

  private async update(record: FailoverRecord): Promise<void> {
    await this.store.put(record);
    try {
      this.options.notify(publicStatus(record));
    } catch (err) {
      this.options.log.error({ err }, 'cannot notify a failover status');
    }
  }

  private async waitStored(failoverId: string): Promise<FailoverRecord> {
    for (let i = 0; i < 200; i += 1) {
      const found = this.store.get(failoverId);
      if (found !== undefined && found.taskId !== '') return found;
      await sleep(10);
    }
    throw new TidelineError('INTERNAL_ERROR', `Failover ${failoverId} was not saved`);
  }

  private checkRunning(task: TaskHandle): void {
    if (task.signal.aborted) {
      const reason: unknown = task.signal.reason;
      throw reason instanceof Error ? reason : new TidelineError('UNAVAILABLE', 'Interrupted');
    }
  }

  private activeOf(vpgId: string): FailoverRecord {
    const record = this.store.active(vpgId);
    if (record === undefined) {
      const name = this.options.replication.storedVpg(vpgId)?.name ?? vpgId;
      throw new TidelineError(
        'NOT_FOUND',
        `VPG "${name}" has no failover in progress at this site`,
        { vpgId },
      );
    }
    return record;
  }

  private requirePhase(record: FailoverRecord, phase: FailoverPhase, what: string): void {
    if (record.phase === phase) return;
    throw new TidelineError(
      'CONFLICT',
      `Cannot ${what}: the failover of VPG "${record.vpgName}" is ${record.phase}${record.phase === 'Running' ? ' (wait until its VMs are up)' : ''}`,
      { vpgId: record.vpgId, phase: record.phase },
    );
  }

  private busy(vpgName: string, active?: FailoverRecord): TidelineError {
    return new TidelineError(
      'CONFLICT',
      active === undefined
        ? `A failover of VPG "${vpgName}" is starting`
        : `VPG "${vpgName}" already has a ${active.mode} failover (${active.phase}): ${active.mode === 'test' ? 'stop it' : 'commit or roll it back'} first`,
    );
  }

  private notReceived(vpgId: string): TidelineError {
    const stored = this.options.replication.storedVpg(vpgId);
    if (stored?.role === 'source') {
      return new TidelineError(
        'CONFLICT',
        `VPG "${stored.name}" is protected from this site: run its failover on an agent of its recovery site`,
        { vpgId },
      );
    }
    return new TidelineError('NOT_FOUND', `VPG ${vpgId} is not received at this site`, { vpgId });
  }
}

/** What a failover's phase makes of its VPG at the recovery site. */
export function holdFor(record: Pick<FailoverRecord, 'mode' | 'phase'>): RecoveryHold | undefined {
  const live = record.mode !== 'test';
  const hold = (status: VpgStatus, pauseStream: boolean): RecoveryHold => ({ status, pauseStream });
  switch (record.phase) {
    case 'Running':
    case 'Testing':
    case 'BeforeCommit':
    case 'Stopping':
    case 'RollingBack':
      return live ? hold('FailingOver', true) : hold('TestFailover', false);
    case 'Committing':
    case 'Promoting':
      return hold('Promoting', true);
    case 'Committed':
      return hold('NeedReverseConfiguration', true);
    case 'RolledBack':
    case 'Stopped':
    case 'Failed':
      return undefined;
  }
}

function publicStatus(record: FailoverRecord): FailoverStatus {
  const { disks: _d, peerAgentId: _p, ...status } = record;
  return status;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
