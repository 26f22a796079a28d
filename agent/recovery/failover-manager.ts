import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { TidelineError, isTidelineError } from '../../app/errors';
import { VpgSettingsSchema } from '../../app/protocol';
import type {
  CheckpointInfo,
  CheckpointTest,
  CommitPolicy,
  FailoverMode,
  FailoverPhase,
  FailoverStatus,
  InventoryKind,
  TaskRef,
  VpgSettings,
  VpgState,
  VpgStatus,
} from '../../app/protocol';
import type {
  FailoverCommitParams,
  FailoverLiveParams,
  FailoverMoveParams,
  FailoverStopTestParams,
  FailoverTestParams,
} from '../../app/protocol/failover-api';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { PeerLink } from '../peer/peer-link';
import type { PeerService } from '../peer/peer-service';
import type { RecoveryHold } from '../replication/target-vpg';
import { callPeer, parsePeer } from '../replication/vpg-control';
import type { StoredVpg } from '../replication/vpg-store';
import type { TaskHandle, TaskManager } from '../tasks/task-manager';
import { drop } from '../util/drop';
import { bootGroups, chooseCheckpoint, planFailover, recoveredVms } from './failover-plan';
import { FailoverStore, isEnded, type FailoverRecord } from './failover-store';
import type { MetadataStore, RecoveryDiskSet, RecoveryDisks } from './recovery-types';
import {
  DoneSchema,
  MOVE_PREPARE,
  MOVE_RESUME,
  MoveSource,
  PrepareMoveResultSchema,
  SOURCE_RETIRE,
  type MoveSourceReplication,
} from './move-source';
import { remapVmIds, reverseSettings } from './reverse-settings';

/** What the failover needs of the replication engine at the recovery site. */
export interface FailoverReplication extends MoveSourceReplication {
  /** A VPG received here: its settings, its journal's checkpoints and replica files. */
  recoveryTarget(vpgId: string):
    | {
        readonly vpg: StoredVpg;
        checkpoints(): CheckpointInfo[];
        waitFor(seq: number, timeoutMs: number): Promise<void>;
        readonly openJournal: { disks(): readonly { diskId: string; replicaPath: string }[] };
      }
    | undefined;
  /** Hold a received VPG (status, stream paused) or release it. */
  holdForRecovery(vpgId: string, hold: RecoveryHold | undefined): void;
  /** Reverse protection: a VPG protected from this site (agent/replication/engine.ts). */
  create(settings: VpgSettings, extra: { reverseOf?: StoredVpg['reverseOf'] }): Promise<VpgState>;
  /** A committed failover's VPG: journal dropped, replica files kept (the VMs' disks now). */
  retirePromotedTarget(vpgId: string): Promise<void>;
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
/** A guest shutdown may take a while; the recovery site waits for it. */
const MOVE_PREPARE_TIMEOUT_MS = 5 * 60_000;
/** "Send the rest": the backlog left when the VMs went off reaches this site. */
const MOVE_CHECKPOINT_TIMEOUT_MS = 30 * 60_000;

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
  moveCheckpoint: 'Send the rest and insert the move checkpoint',
} as const;

const PROMOTE_STEPS = {
  write: 'Write the journal and the VMs’ writes into the replica disks',
  switch: 'Switch the VMs to their promoted disks',
  retire: 'Retire the VPG at the original site',
  reverse: 'Start reverse protection',
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
  private readonly moveSource: MoveSource;

  constructor(private readonly options: FailoverManagerOptions) {
    this.store = new FailoverStore(options.file);
    this.moveSource = new MoveSource({
      replication: options.replication,
      hypervisor: options.hypervisor,
      handleControl: (method, handler) => options.peers.handleControl(method, handler),
      inventoryChanged: options.inventoryChanged,
      log: options.log,
    });
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
    this.moveSource.start();
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
    this.moveSource.stop();
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

  /**
   * Planned move: the protected site must be reachable (it shuts its VMs down and inserts the
   * checkpoint after their last writes); the VPG is recovered at exactly that checkpoint.
   */
  move(params: Required<FailoverMoveParams>): Promise<TaskRef> {
    const target = this.options.replication.recoveryTarget(params.vpgId);
    if (target === undefined) throw this.notReceived(params.vpgId);
    const link = this.options.peers.link(target.vpg.peerAgentId);
    if (link?.state !== 'connected') {
      throw new TidelineError(
        'UNAVAILABLE',
        `The protected site of VPG "${target.vpg.name}" is unreachable: a move needs it to shut its VMs down and send their last writes. If that site is lost, run a live failover (failover.live) instead.`,
        { vpgId: params.vpgId },
      );
    }
    return this.bringUp(
      'move',
      { vpgId: params.vpgId },
      {
        commitPolicy: params.commitPolicy,
        shutdownProtectedVms: true,
        reverseProtection: params.reverseProtection,
      },
    );
  }

  private async bringUp(
    mode: FailoverMode,
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
      ...(mode === 'move' && { moveCheckpointPending: true }),
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
        ...(mode === 'move'
          ? [STEPS.shutdown, STEPS.moveCheckpoint]
          : [STEPS.checkpoint, ...(extra.shutdownProtectedVms ? [STEPS.shutdown] : [])]),
        STEPS.disks,
        STEPS.networks,
        STEPS.register,
        STEPS.power,
      ];
      let current = record;
      const task = this.options.tasks.run(
        {
          type:
            mode === 'test' ? 'FailoverTest' : mode === 'move' ? 'FailoverMove' : 'FailoverLive',
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
    if (record.moveCheckpointPending === true) {
      record = await save(await this.moveCheckpoint(task, record));
      this.applyHold(record);
    } else {
      task.step(STEPS.checkpoint);
      if (shutdown) {
        task.step(STEPS.shutdown);
        await this.shutdownProtected(record);
      }
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
        await this.resumeMoved(rolling);
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
    const reverse = params.reverseProtection ?? record.reverseProtection;
    // Checked before anything changes: reverse protection needs the original site and settings.
    let reverseWith: VpgSettings | undefined;
    if (reverse) {
      if (this.connectedPeer(record) === undefined) {
        throw new TidelineError(
          'UNAVAILABLE',
          `The original site of VPG "${record.vpgName}" is unreachable: reverse protection cannot start. Commit without reverse protection (reverseProtection: false), or when the link is back.`,
          { vpgId: record.vpgId },
        );
      }
      reverseWith =
        params.reverseSettings === undefined
          ? this.settingsForReverse(record.vpgId)
          : VpgSettingsSchema.parse(params.reverseSettings);
    }
    this.disarm(record.failoverId);
    const { commitDeadline: _d, ...rest } = record;
    const committing: FailoverRecord = {
      ...rest,
      phase: 'Committing',
      reverseProtection: reverse,
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
              if (!this.stopping)
                await this.update({
                  ...promoting,
                  phase: 'BeforeCommit',
                  message: `Promotion failed: ${messageOf(err)}; commit again`,
                });
              throw err;
            }
            let done = promoting;
            try {
              p.step(PROMOTE_STEPS.switch);
              const switched = await this.switchToReplicas(done, set);
              done = switched.record;
              if (reverseWith === undefined) {
                await this.end(done, 'Committed');
                return { failoverId: record.failoverId };
              }
              p.step(PROMOTE_STEPS.retire);
              const reverseVpgId = await this.startReverse(
                done,
                remapVmIds(reverseWith, switched.vmIds),
              );
              p.step(PROMOTE_STEPS.reverse);
              done = { ...done, reverseVpgId };
              await this.end(done, 'Committed');
              return { failoverId: record.failoverId, reverseVpgId };
            } catch (err) {
              // Promoted: the VMs keep their data; what is left is the admin's to finish.
              if (!this.stopping) {
                await this.end(done, 'Committed', `Committed, but ${messageOf(err)}`);
              }
              throw err;
            }
          },
        );
        return { failoverId: record.failoverId, promoteTaskId: promote.taskId };
      },
    );
    return { taskId: task.taskId };
  }

  // ───────────────────────── internals ─────────────────────────

  /**
   * After promotion the replica files are the recovered VMs' disks: the VMs are registered on
   * them (a restart serves them from the files; the recovery disks and their NBD exports go).
   * The sim re-registers a VM under a new id: the map says which old id became which.
   */
  private async switchToReplicas(
    record: FailoverRecord,
    set: RecoveryDiskSet,
  ): Promise<{ record: FailoverRecord; vmIds: Map<string, string> }> {
    const { hypervisor } = this.options;
    const target = this.options.replication.recoveryTarget(record.vpgId);
    if (target === undefined) throw this.notReceived(record.vpgId);
    const replicas = new Map(target.openJournal.disks().map((d) => [d.diskId, d.replicaPath]));
    const recovered = (await hypervisor.listVms()).filter(
      (v) => v.recoveredFrom?.failoverId === record.failoverId,
    );
    for (const vm of recovered) await hypervisor.powerOff(vm.vmId);
    await set.close();
    this.sets.delete(record.failoverId);
    const vmIds = new Map<string, string>();
    for (const vm of recovered) {
      await hypervisor.unregisterVm(vm.vmId);
      const next = await hypervisor.registerVm({
        name: vm.name,
        hostId: vm.hostId,
        cpus: vm.cpus,
        memoryMiB: vm.memoryMiB,
        guestOs: vm.guestOs,
        nics: vm.nics,
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
    }
    const groups = bootGroups(
      record.vms.map((vm) => ({ ...vm, vmId: vmIds.get(vm.vmId ?? '') })),
      () => 0,
    );
    for (const group of groups) {
      await Promise.all(group.vms.map((vm) => hypervisor.powerOn(vm.vmId ?? '')));
    }
    this.options.inventoryChanged(['vm']);
    const next: FailoverRecord = {
      ...record,
      vms: record.vms.map((v) => ({ ...v, vmId: vmIds.get(v.vmId ?? '') ?? v.vmId })),
    };
    await this.update(next);
    return { record: next, vmIds };
  }

  /**
   * Reverse protection: the original site retires its VPG (its disks stay, off), this site
   * drops the journal (the replicas are the VMs' disks), and a VPG protects the recovered VMs
   * back with the original disks as pre-seeded replicas (a hash-compared delta sync).
   */
  private async startReverse(record: FailoverRecord, settings: VpgSettings): Promise<string> {
    const link = this.connectedPeer(record);
    if (link === undefined) {
      throw new TidelineError(
        'UNAVAILABLE',
        'the original site became unreachable: reverse protection was not started',
      );
    }
    await callPeer(link, SOURCE_RETIRE, { vpgId: record.vpgId }, DoneSchema, 60_000);
    await this.options.replication.retirePromotedTarget(record.vpgId);
    this.options.replication.holdForRecovery(record.vpgId, undefined);
    const reverse = await this.options.replication.create(settings, {
      reverseOf: { vpgId: record.vpgId, failoverId: record.failoverId },
    });
    this.options.log.info(
      { vpgId: record.vpgId, reverseVpgId: reverse.vpgId },
      'reverse protection started toward the original site',
    );
    return reverse.vpgId;
  }

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
      await this.resumeMoved(record);
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
      await this.resumeMoved(record);
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

  /**
   * A move's first steps: the protected site powers its VMs off once their last writes are
   * sequenced and inserts a checkpoint after them; this site waits until that checkpoint (and
   * so everything before it) is persisted in the journal, and recovers at exactly it.
   */
  private async moveCheckpoint(task: TaskHandle, record: FailoverRecord): Promise<FailoverRecord> {
    task.step(STEPS.shutdown);
    const link = this.connectedPeer(record);
    if (link === undefined) {
      throw new TidelineError(
        'UNAVAILABLE',
        `The protected site of VPG "${record.vpgName}" became unreachable before its VMs were shut down: nothing was changed; run the move again, or a live failover if that site is lost`,
      );
    }
    const name = `Move ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`;
    const prepared = await callPeer(
      link,
      MOVE_PREPARE,
      { vpgId: record.vpgId, name },
      PrepareMoveResultSchema,
      MOVE_PREPARE_TIMEOUT_MS,
    );
    this.options.log.info(
      { vpgId: record.vpgId, checkpointSeq: prepared.seq, poweredOff: prepared.poweredOff },
      'move: the protected VMs are off; waiting for the move checkpoint',
    );
    task.step(STEPS.moveCheckpoint);
    const target = this.options.replication.recoveryTarget(record.vpgId);
    if (target === undefined) throw this.notReceived(record.vpgId);
    await target.waitFor(prepared.seq, MOVE_CHECKPOINT_TIMEOUT_MS);
    const checkpoint = chooseCheckpoint(
      target.checkpoints(),
      { kind: 'seq', seq: prepared.seq },
      record.vpgName,
    );
    const { moveCheckpointPending: _p, ...rest } = record;
    return {
      ...rest,
      checkpoint: {
        seq: checkpoint.seq,
        sourceTime: checkpoint.sourceTime,
        ...(checkpoint.name !== undefined && { name: checkpoint.name }),
      },
    };
  }

  /** A move that did not complete: the protected site powers its VMs on again (best effort). */
  private async resumeMoved(record: FailoverRecord): Promise<void> {
    if (record.mode !== 'move') return;
    const link = this.connectedPeer(record);
    if (link === undefined) {
      this.options.log.warn(
        { vpgId: record.vpgId },
        'the protected site is unreachable: power its VMs on there yourself',
      );
      return;
    }
    try {
      await callPeer(link, MOVE_RESUME, { vpgId: record.vpgId }, DoneSchema, SHUTDOWN_TIMEOUT_MS);
    } catch (err) {
      this.options.log.warn(
        { vpgId: record.vpgId, err: messageOf(err) },
        'the protected site did not power its VMs on again',
      );
    }
  }

  private connectedPeer(record: FailoverRecord): PeerLink | undefined {
    const link =
      record.peerAgentId === undefined ? undefined : this.options.peers.link(record.peerAgentId);
    return link?.state === 'connected' ? link : undefined;
  }

  /** vpg.settingsForReverse: defaults to protect the recovered VMs back (reverse-settings.ts). */
  settingsForReverse(vpgId: string): VpgSettings {
    const target = this.options.replication.recoveryTarget(vpgId);
    if (target === undefined) throw this.notReceived(vpgId);
    const record = this.store
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
    const metadata = this.options.metadata.latest(vpgId);
    if (metadata === undefined) {
      throw new TidelineError('CONFLICT', `VPG "${target.vpg.name}" has no metadata package here`);
    }
    return reverseSettings(target.vpg, metadata, record);
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
export function holdFor(
  record: Pick<FailoverRecord, 'mode' | 'phase' | 'moveCheckpointPending' | 'reverseVpgId'>,
): RecoveryHold | undefined {
  const live = record.mode !== 'test';
  const hold = (status: VpgStatus, pauseStream: boolean): RecoveryHold => ({ status, pauseStream });
  switch (record.phase) {
    case 'Running':
      // A move's last writes and its checkpoint are still on their way.
      if (record.moveCheckpointPending === true) return hold('FailingOver', false);
      return live ? hold('FailingOver', true) : hold('TestFailover', false);
    case 'Testing':
    case 'BeforeCommit':
    case 'Stopping':
    case 'RollingBack':
      return live ? hold('FailingOver', true) : hold('TestFailover', false);
    case 'Committing':
    case 'Promoting':
      return hold('Promoting', true);
    case 'Committed':
      // With reverse protection the VPG left this site; the reverse VPG shows the state.
      return record.reverseVpgId !== undefined ? undefined : hold('NeedReverseConfiguration', true);
    case 'RolledBack':
    case 'Stopped':
    case 'Failed':
      return undefined;
  }
}

function publicStatus(record: FailoverRecord): FailoverStatus {
  const {
    disks: _d,
    peerAgentId: _p,
    moveCheckpointPending: _m,
    reverseVpgId: _r,
    ...status
  } = record;
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
