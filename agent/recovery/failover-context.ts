import type {
  CheckpointInfo,
  FailoverPhase,
  FailoverStatus,
  InventoryKind,
  VpgSettings,
  VpgState,
} from '../../app/protocol';
import { TidelineError } from '../../app/errors';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { PeerLink } from '../peer/peer-link';
import type { PeerService } from '../peer/peer-service';
import type { RecoveryHold } from '../replication/target-vpg';
import type { StoredVpg } from '../replication/vpg-store';
import type { TaskHandle, TaskManager } from '../tasks/task-manager';
import type { CommitWindow } from './failover-commit-window';
import { holdFor } from './failover-hold';
import { FailoverStore, type FailoverRecord } from './failover-store';
import type { MoveSourceReplication } from './move-source';
import type { MetadataStore, RecoveryDiskSet, RecoveryDisks } from './recovery-types';

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
  /** The agent's data directory: recovered disk sets live in `<dataDir>/recovery/<failoverId>/`. */
  readonly dataDir: string;
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

/**
 * What the failover modules share (failover-bringup.ts, failover-stop.ts, failover-commit.ts,
 * ...): the options, the persisted failovers, the open recovery disk sets, the commit window,
 * and the small helpers they all use. FailoverManager owns one.
 */
export class FailoverContext {
  readonly store: FailoverStore;
  readonly sets = new Map<string, RecoveryDiskSet>();
  /** VPGs whose bring-up is being set up (before its record is stored). */
  readonly starting = new Set<string>();
  /** The agent is stopping: interrupted tasks are undone at the next start, not now. */
  stopping = false;

  constructor(
    readonly options: FailoverManagerOptions,
    readonly window: CommitWindow,
  ) {
    this.store = new FailoverStore(options.file);
  }

  async update(record: FailoverRecord): Promise<void> {
    await this.store.put(record);
    try {
      this.options.notify(publicStatus(record));
    } catch (err) {
      this.options.log.error({ err }, 'cannot notify a failover status');
    }
  }

  /** The VPG's status and stream as the failover's phase wants them. */
  applyHold(record: FailoverRecord): void {
    this.options.replication.holdForRecovery(record.vpgId, holdFor(record));
  }

  async end(record: FailoverRecord, phase: FailoverPhase, message?: string): Promise<void> {
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

  async diskSet(record: FailoverRecord): Promise<RecoveryDiskSet> {
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

  async openQuietly(record: FailoverRecord): Promise<RecoveryDiskSet | undefined> {
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

  connectedPeer(record: FailoverRecord): PeerLink | undefined {
    const link =
      record.peerAgentId === undefined ? undefined : this.options.peers.link(record.peerAgentId);
    return link?.state === 'connected' ? link : undefined;
  }

  async waitStored(failoverId: string): Promise<FailoverRecord> {
    for (let i = 0; i < 200; i += 1) {
      const found = this.store.get(failoverId);
      if (found !== undefined && found.taskId !== '') return found;
      await sleep(10);
    }
    throw new TidelineError('INTERNAL_ERROR', `Failover ${failoverId} was not saved`);
  }

  activeOf(vpgId: string): FailoverRecord {
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

  notReceived(vpgId: string): TidelineError {
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

export function checkRunning(task: TaskHandle): void {
  if (task.signal.aborted) {
    const reason: unknown = task.signal.reason;
    throw reason instanceof Error ? reason : new TidelineError('UNAVAILABLE', 'Interrupted');
  }
}

export function requirePhase(record: FailoverRecord, phase: FailoverPhase, what: string): void {
  if (record.phase === phase) return;
  throw new TidelineError(
    'CONFLICT',
    `Cannot ${what}: the failover of VPG "${record.vpgName}" is ${record.phase}${record.phase === 'Running' ? ' (wait until its VMs are up)' : ''}`,
    { vpgId: record.vpgId, phase: record.phase },
  );
}

export function busy(vpgName: string, active?: FailoverRecord): TidelineError {
  return new TidelineError(
    'CONFLICT',
    active === undefined
      ? `A failover of VPG "${vpgName}" is starting`
      : `VPG "${vpgName}" already has a ${active.mode} failover (${active.phase}): ${active.mode === 'test' ? 'stop it' : 'commit or roll it back'} first`,
  );
}

export function publicStatus(record: FailoverRecord): FailoverStatus {
  const {
    disks: _d,
    peerAgentId: _p,
    moveCheckpointPending: _m,
    reverseVpgId: _r,
    ...status
  } = record;
  return status;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
