import type { AlertStore } from './alert-store';

/** What a retention pass of a received VPG's journal found (agent/replication/target-vpg.ts). */
export interface JournalRetentionReport {
  readonly vpgId: string;
  readonly vpgName: string;
  readonly time: number;
  /** The hard limit forced history out early in this pass. */
  readonly historyReduced: boolean;
  /** Apply falls behind the writes: records wait at the protected site (its RPO grows). */
  readonly recordsHeld: boolean;
  readonly historyMs: number;
  /** Source time of the oldest recoverable point. */
  readonly oldestSourceTime: number | undefined;
  readonly bytes: number;
  readonly warningBytes: number;
  readonly hardLimitBytes: number;
}

/**
 * Journal alerts at the recovery site, level-triggered from each retention pass (so they
 * survive restarts without state of their own):
 * - 'journal-size-warning': raised while usage is above warningBytes, cleared below;
 * - 'journal-history-reduced': raised when the hard limit forced history out early; it stays
 *   raised until the journal again reaches back the whole history window (the admin's
 *   promise of points in time is kept again), not merely until the next pass. While records
 *   wait at the protected site for apply to free room (`recordsHeld`), its message says so:
 *   the cause of a growing RPO is then the recovery site's apply, not the link.
 */
export class JournalAlerts {
  constructor(private readonly store: Pick<AlertStore, 'open' | 'raise' | 'update' | 'clear'>) {}

  retention(report: JournalRetentionReport): void {
    this.sizeWarning(report);
    this.historyReduced(report);
  }

  /** A VPG left this agent: its raised journal alerts are cleared. */
  forget(vpgId: string, now: number = Date.now()): void {
    for (const kind of ['journal-size-warning', 'journal-history-reduced'] as const) {
      const open = this.store.open(kind, vpgId);
      if (open !== undefined) this.store.clear(open.alertId, now);
    }
  }

  private sizeWarning(r: JournalRetentionReport): void {
    const open = this.store.open('journal-size-warning', r.vpgId);
    const above = r.bytes > r.warningBytes;
    if (above && open === undefined) {
      this.store.raise(
        {
          kind: 'journal-size-warning',
          vpgId: r.vpgId,
          vpgName: r.vpgName,
          message:
            `VPG "${r.vpgName}": the journal uses ${mib(r.bytes)}, above its warning size ` +
            `${mib(r.warningBytes)} (hard limit ${mib(r.hardLimitBytes)}). Raise the journal ` +
            'limits or shorten the history window before history is lost.',
        },
        r.time,
      );
    } else if (!above && open !== undefined) {
      this.store.clear(open.alertId, r.time);
    }
  }

  private historyReduced(r: JournalRetentionReport): void {
    const open = this.store.open('journal-history-reduced', r.vpgId);
    const oldest =
      r.oldestSourceTime === undefined ? 'none' : new Date(r.oldestSourceTime).toISOString();
    const message =
      `VPG "${r.vpgName}": the journal reached its hard limit ${mib(r.hardLimitBytes)} and ` +
      `history was applied early; the oldest point in time is now ${oldest}, less than the ` +
      `${Math.round(r.historyMs / 60_000)} min window. ` +
      (r.recordsHeld
        ? 'Writes arrive faster than the recovery site applies them to its replica disks, so ' +
          'they now wait at the protected site and the RPO grows: give the journal and replicas ' +
          'a faster disk, or raise the hard limit to absorb the burst.'
        : 'Raise the hard limit or shorten the window.');
    if (r.historyReduced) {
      if (open === undefined) {
        this.store.raise(
          { kind: 'journal-history-reduced', vpgId: r.vpgId, vpgName: r.vpgName, message },
          r.time,
        );
      } else {
        this.store.update(open.alertId, { message });
      }
      return;
    }
    const fullWindow =
      r.oldestSourceTime !== undefined && r.oldestSourceTime <= r.time - r.historyMs;
    if (open !== undefined && fullWindow) this.store.clear(open.alertId, r.time);
  }
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}
