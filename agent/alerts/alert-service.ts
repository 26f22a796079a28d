import type { Alert } from '../../app/alerts/alert-schemas';
import type { RpoTick } from '../../app/protocol';
import type { TargetRetention } from '../replication/target-vpg';
import type { Logger } from '../log';
import type { StoredVpg } from '../replication/vpg-store';
import { AlertStore, type AlertFilter } from './alert-store';
import { JournalAlerts } from './journal-alerts';
import { RpoMonitor, type RpoTargetInForce } from './rpo-monitor';

export interface AlertServiceOptions {
  readonly file: string;
  readonly log: Logger;
  readonly graceSeconds?: number;
  /** The policy scheduler's target in force; undefined: the tick's target, "Default". */
  readonly targetFor?: (vpgId: string) => RpoTargetInForce | undefined;
  readonly vpgName: (vpgId: string) => string;
  /** alert.raised / alert.cleared to the consoles. */
  readonly notify: (event: 'raised' | 'cleared', alert: Alert) => void;
}

/**
 * The daemon's alerts: the store, the RPO monitor fed by the source VPGs' ticks and the
 * journal alerts fed by the received VPGs' retention passes.
 */
export class AlertService {
  readonly store: AlertStore;
  private readonly rpo: RpoMonitor;
  private readonly journal: JournalAlerts;

  constructor(private readonly options: AlertServiceOptions) {
    this.store = new AlertStore({ file: options.file, log: options.log, notify: options.notify });
    this.rpo = new RpoMonitor({
      store: this.store,
      vpgName: options.vpgName,
      ...(options.graceSeconds !== undefined && { graceSeconds: options.graceSeconds }),
      ...(options.targetFor !== undefined && { targetFor: options.targetFor }),
    });
    this.journal = new JournalAlerts(this.store);
  }

  load(): Promise<void> {
    return this.store.load();
  }

  rpoTick(tick: RpoTick): void {
    this.guard('RPO alert', tick.vpgId, () => this.rpo.tick(tick));
  }

  journalRetention(vpg: StoredVpg, result: TargetRetention, time: number): void {
    this.guard('journal alert', vpg.vpgId, () =>
      this.journal.retention({
        vpgId: vpg.vpgId,
        vpgName: vpg.name,
        time,
        historyReduced: result.historyReduced !== undefined,
        recordsHeld: result.recordsHeld,
        historyMs: vpg.journal.historySeconds * 1000,
        oldestSourceTime: result.usage.oldestSourceTime,
        bytes: result.usage.bytes,
        warningBytes: result.usage.warningBytes,
        hardLimitBytes: result.usage.hardLimitBytes,
      }),
    );
  }

  /**
   * 'disk-full': raised while a VPG's journal disk (recovery site: replication paused) or
   * outbox disk (protected site: written regions tracked) is full, cleared once it has room
   * again and replication resumes.
   */
  diskFull(vpg: StoredVpg, message: string | undefined, time: number): void {
    this.guard('disk-full alert', vpg.vpgId, () => {
      const open = this.store.open('disk-full', vpg.vpgId);
      if (message !== undefined && open === undefined) {
        this.store.raise(
          {
            kind: 'disk-full',
            vpgId: vpg.vpgId,
            vpgName: vpg.name,
            message: `VPG "${vpg.name}": ${message}. It resumes by itself once space is freed.`,
          },
          time,
        );
      } else if (message === undefined && open !== undefined) {
        this.store.clear(open.alertId, time);
      }
    });
  }

  /** A VPG left this agent: its raised alerts are cleared. */
  vpgRemoved(vpgId: string): void {
    this.guard('alert', vpgId, () => {
      this.rpo.forget(vpgId);
      this.journal.forget(vpgId);
      const full = this.store.open('disk-full', vpgId);
      if (full !== undefined) this.store.clear(full.alertId, Date.now());
    });
  }

  list(filter?: AlertFilter): Alert[] {
    return this.store.list(filter);
  }

  ack(alertId: string): Promise<Alert> {
    return this.store.ack(alertId);
  }

  stop(): Promise<void> {
    return this.store.stop();
  }

  /** Alerts never break the replication path that feeds them. */
  private guard(what: string, vpgId: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.options.log.error({ err, vpgId }, `cannot judge the ${what}`);
    }
  }
}
