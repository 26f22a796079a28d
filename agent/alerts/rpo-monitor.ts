import { DEFAULT_RPO_GRACE_SECONDS } from '../../app/alerts/alert-schemas';
import type { RpoTick, VpgStatus } from '../../app/protocol';
import type { AlertStore } from './alert-store';

/** The RPO target in force for a VPG and the name of its timeframe. */
export interface RpoTargetInForce {
  readonly targetSeconds: number;
  readonly timeframeName: string;
}

export interface RpoMonitorOptions {
  readonly store: Pick<AlertStore, 'open' | 'raise' | 'update' | 'clear'>;
  /** Seconds the RPO must stay over the target before an alert (default 60). */
  readonly graceSeconds?: number;
  /**
   * The target in force (the policy scheduler's). Undefined, or undefined for a VPG: the
   * tick's own rpoTargetSeconds, timeframe "Default".
   */
  readonly targetFor?: (vpgId: string) => RpoTargetInForce | undefined;
  readonly vpgName: (vpgId: string) => string;
}

/**
 * Before the first checkpoint reaches the recovery site a VPG has no RPO: that counts as a
 * breach only in these statuses (not while Initializing or Seeding, when no RPO is promised).
 */
const NO_RPO_BREACHES: ReadonlySet<VpgStatus> = new Set(['Protecting', 'RpoNotMet']);

interface Watch {
  /** Time of the first tick of the current breach. */
  since: number;
  worst: number | undefined;
}

/**
 * Judges every rpo.tick of a source VPG against the target in force: an 'rpo' alert is raised
 * once the RPO has been over the target continuously for longer than the grace period
 * (raisedAt: that moment; the breach's start is in the message), its worst RPO follows the
 * ticks, and it is cleared at the first tick back at or under the target. Time is the ticks'
 * own `time`, so the monitor needs no clock of its own.
 */
export class RpoMonitor {
  private readonly watches = new Map<string, Watch>();
  private readonly graceMs: number;

  constructor(private readonly options: RpoMonitorOptions) {
    this.graceMs = (options.graceSeconds ?? DEFAULT_RPO_GRACE_SECONDS) * 1000;
  }

  tick(tick: RpoTick): void {
    const { store } = this.options;
    const { vpgId, time, rpoSeconds } = tick;
    const inForce = this.options.targetFor?.(vpgId) ?? {
      targetSeconds: tick.rpoTargetSeconds,
      timeframeName: 'Default',
    };
    const breach =
      rpoSeconds === undefined
        ? NO_RPO_BREACHES.has(tick.status)
        : rpoSeconds > inForce.targetSeconds;
    // An alert raised before a restart goes on (or is cleared) from the first tick.
    const open = store.open('rpo', vpgId);
    if (!breach) {
      this.watches.delete(vpgId);
      if (open !== undefined) {
        store.clear(open.alertId, time, {
          ...(rpoSeconds !== undefined && {
            worstRpoSeconds: worse(open.worstRpoSeconds, rpoSeconds),
          }),
        });
      }
      return;
    }
    let watch = this.watches.get(vpgId);
    if (watch === undefined) {
      watch = { since: open?.raisedAt ?? time, worst: open?.worstRpoSeconds };
      this.watches.set(vpgId, watch);
    }
    if (rpoSeconds !== undefined) watch.worst = worse(watch.worst, rpoSeconds);
    if (open !== undefined) {
      if (watch.worst !== undefined && watch.worst !== open.worstRpoSeconds) {
        store.update(open.alertId, { worstRpoSeconds: watch.worst });
      }
      return;
    }
    if (time - watch.since <= this.graceMs) return;
    const name = this.options.vpgName(vpgId);
    const rpoText = rpoSeconds === undefined ? 'no checkpoint yet' : `${fmt(rpoSeconds)}`;
    store.raise(
      {
        kind: 'rpo',
        vpgId,
        vpgName: name,
        message:
          `VPG "${name}": RPO ${rpoText} is over the ${fmt(inForce.targetSeconds)} target of ` +
          `timeframe "${inForce.timeframeName}" since ${new Date(watch.since).toISOString()}. ` +
          'Check the link to the recovery site and its bandwidth limit, or the write rate.',
        timeframeName: inForce.timeframeName,
        rpoTargetSeconds: inForce.targetSeconds,
        ...(watch.worst !== undefined && { worstRpoSeconds: watch.worst }),
      },
      time,
    );
  }

  /** A VPG left this agent: its raised alert is cleared. */
  forget(vpgId: string, now: number = Date.now()): void {
    this.watches.delete(vpgId);
    const open = this.options.store.open('rpo', vpgId);
    if (open !== undefined) this.options.store.clear(open.alertId, now);
  }
}

function worse(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.max(a, b);
}

function fmt(seconds: number): string {
  return seconds < 120 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}
