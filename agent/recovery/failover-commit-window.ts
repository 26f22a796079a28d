import type { Logger } from '../log';
import { drop } from '../util/drop';
import type { FailoverRecord } from './failover-store';

/**
 * The commit window of live failovers and moves (commitPolicy autoCommit / autoRollback): a
 * timer per failover in BeforeCommit that commits or rolls back at its deadline.
 */
export class CommitWindow {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly actions: {
      readonly commit: (vpgId: string) => Promise<unknown>;
      readonly rollback: (vpgId: string) => Promise<unknown>;
      readonly log: Logger;
    },
  ) {}

  arm(record: FailoverRecord): void {
    this.disarm(record.failoverId);
    if (record.phase !== 'BeforeCommit' || record.commitDeadline === undefined) return;
    const policy = record.commitPolicy;
    if (policy.kind === 'none') return;
    const timer = setTimeout(
      () => {
        this.timers.delete(record.failoverId);
        const act =
          policy.kind === 'autoCommit'
            ? this.actions.commit(record.vpgId)
            : this.actions.rollback(record.vpgId);
        drop(act, (err) =>
          this.actions.log.error({ err, failoverId: record.failoverId }, `${policy.kind} failed`),
        );
      },
      Math.max(0, record.commitDeadline - Date.now()),
    );
    timer.unref();
    this.timers.set(record.failoverId, timer);
  }

  disarm(failoverId: string): void {
    const timer = this.timers.get(failoverId);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(failoverId);
  }

  /** Agent stop: no timer fires any more. */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
