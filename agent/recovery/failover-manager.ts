import type { CheckpointTest, FailoverStatus, TaskRef, VpgSettings } from '../../app/protocol';
import type {
  FailoverCommitParams,
  FailoverLiveParams,
  FailoverMoveParams,
  FailoverStopTestParams,
  FailoverTestParams,
} from '../../app/protocol/failover-api';
import { drop } from '../util/drop';
import { CommitWindow } from './failover-commit-window';
import { bringUp } from './failover-bringup';
import { commit, settingsForReverse } from './failover-commit';
import { FailoverContext, publicStatus, type FailoverManagerOptions } from './failover-context';
import { checkMovable, retryPendingResumes } from './failover-move';
import { FAILOVER_SHUTDOWN, shutdownHere } from './failover-shutdown';
import { rollback, stopTest } from './failover-stop';
import { isEnded, type FailoverRecord } from './failover-store';
import { undoInterrupted } from './failover-teardown';
import { MoveSource } from './move-source';

export type { FailoverManagerOptions, FailoverReplication } from './failover-context';
export { FAILOVER_SHUTDOWN } from './failover-shutdown';
export { RESTART_FAILOVER_MESSAGE } from './failover-teardown';
export { holdFor } from './failover-hold';

/** How often an ended move's protected site is told again to power its VMs on. */
const RESUME_RETRY_MS = 5_000;

/**
 * Failovers at the recovery site (README.md): test, live, commit, rollback, stopTest, each a
 * task; one failover per VPG at a time; every change persisted (failover-store.ts) and sent as
 * `failover.status`. A failover interrupted by a restart is undone at the next start and ends
 * Failed, so a new one can run.
 *
 * The public API of the failover modules: bring-up (failover-bringup.ts), stopTest and
 * rollback (failover-stop.ts, failover-teardown.ts), commit (failover-commit.ts), move
 * (failover-move.ts), the commit window (failover-commit-window.ts); they share a
 * FailoverContext (failover-context.ts).
 */
export class FailoverManager {
  private readonly ctx: FailoverContext;
  private controlOff: (() => void) | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly moveSource: MoveSource;

  constructor(private readonly options: FailoverManagerOptions) {
    const window = new CommitWindow({
      commit: (vpgId) => this.commit({ vpgId }),
      rollback: (vpgId) => this.rollback({ vpgId }),
      log: options.log,
    });
    this.ctx = new FailoverContext(options, window);
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
    const ctx = this.ctx;
    await ctx.store.load();
    this.controlOff = this.options.peers.handleControl(FAILOVER_SHUTDOWN, (params, caller) =>
      shutdownHere(ctx, params, caller),
    );
    this.moveSource.start();
    const latest = new Map<string, FailoverRecord>();
    for (const record of ctx.store.list()) latest.set(record.vpgId, record);
    for (const record of latest.values()) ctx.applyHold(record);
    // Moves that ended while their protected site was away: tell it to power its VMs on.
    this.resumeTimer = setInterval(
      () =>
        drop(retryPendingResumes(ctx), (err) =>
          this.options.log.warn({ err }, 'cannot retry telling a protected site to resume'),
        ),
      RESUME_RETRY_MS,
    );
    this.resumeTimer.unref();
    for (const record of ctx.store.list()) {
      if (isEnded(record)) continue;
      if (record.phase === 'Testing' || record.phase === 'BeforeCommit') {
        drop(this.reopen(record), (err) =>
          this.options.log.error({ err, failoverId: record.failoverId }, 'cannot reopen failover'),
        );
      } else if (record.phase === 'Committing' || record.phase === 'Promoting') {
        // Promotion is idempotent: back to the commit window, commit again.
        await ctx.update({
          ...record,
          phase: 'BeforeCommit',
          message: 'Promotion was interrupted by a restart: commit again',
        });
        drop(this.reopen({ ...record, phase: 'BeforeCommit' }), () => undefined);
      } else {
        drop(undoInterrupted(ctx, record), (err) =>
          this.options.log.error({ err, failoverId: record.failoverId }, 'cannot undo failover'),
        );
      }
    }
  }

  async stop(): Promise<void> {
    const ctx = this.ctx;
    ctx.stopping = true;
    clearInterval(this.resumeTimer);
    this.controlOff?.();
    this.moveSource.stop();
    ctx.window.clear();
    for (const [failoverId, set] of ctx.sets) {
      try {
        await set.close();
      } catch (err) {
        this.options.log.warn({ err, failoverId }, 'cannot close recovery disks');
      }
    }
    ctx.sets.clear();
  }

  list(
    filter: { vpgId?: string | undefined; includeEnded?: boolean | undefined } = {},
  ): FailoverStatus[] {
    return this.ctx.store
      .list()
      .filter((f) => filter.vpgId === undefined || f.vpgId === filter.vpgId)
      .filter((f) => filter.includeEnded === true || !isEnded(f))
      .reverse()
      .slice(0, 50)
      .map(publicStatus);
  }

  /** failover.discardTests: the VPG's oldest ended test records, forgotten. */
  async discardTests(params: { vpgId: string; count: number }): Promise<{
    discarded: string[];
    kept: number;
  }> {
    const result = await this.ctx.store.discardTests(params.vpgId, params.count);
    this.options.log.info({ vpgId: params.vpgId, ...result }, 'test failover records discarded');
    return result;
  }

  testsOf(vpgId: string): ReadonlyMap<number, CheckpointTest> {
    return this.ctx.store.tests(vpgId);
  }

  test(
    params: FailoverTestParams & { checkpoint: NonNullable<FailoverTestParams['checkpoint']> },
  ): Promise<TaskRef> {
    return bringUp(this.ctx, 'test', params, {
      commitPolicy: { kind: 'none' },
      shutdownProtectedVms: false,
      reverseProtection: false,
    });
  }

  live(
    params: Required<Omit<FailoverLiveParams, 'checkpoint'>> &
      Pick<FailoverTestParams, 'checkpoint'>,
  ): Promise<TaskRef> {
    return bringUp(this.ctx, 'live', params, {
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
    checkMovable(this.ctx, params.vpgId);
    return bringUp(
      this.ctx,
      'move',
      { vpgId: params.vpgId },
      {
        commitPolicy: params.commitPolicy,
        shutdownProtectedVms: true,
        reverseProtection: params.reverseProtection,
      },
    );
  }

  stopTest(params: FailoverStopTestParams & { result: 'Passed' | 'Failed' }): Promise<TaskRef> {
    return stopTest(this.ctx, params);
  }

  rollback(params: { vpgId: string }): Promise<TaskRef> {
    return rollback(this.ctx, params);
  }

  commit(params: FailoverCommitParams): Promise<TaskRef> {
    return commit(this.ctx, params);
  }

  /** vpg.settingsForReverse: defaults to protect the recovered VMs back (reverse-settings.ts). */
  settingsForReverse(vpgId: string): VpgSettings {
    return settingsForReverse(this.ctx, vpgId);
  }

  private async reopen(record: FailoverRecord): Promise<void> {
    this.ctx.sets.set(record.failoverId, await this.ctx.diskSet(record));
    this.ctx.window.arm(record);
  }
}
