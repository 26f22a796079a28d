import { EventEmitter } from 'node:events';
import type { Alert, AlertsChanged, ConsoleAlert, RpoTick } from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import type { Logger } from '../util/log';

export type AlertStoreEvents = { 'alerts.changed': [AlertsChanged] };

/** How many alerts of an agent are asked for when it connects (newest first). */
const LOAD_LIMIT = 200;

/**
 * The alerts of the connected agents: each agent's alert.list when it connects, then its
 * alert.raised and alert.cleared, forwarded as alerts.changed. A raised RPO alert's worst RPO
 * is followed from the same agent's rpo.tick (the agent updates it without a notification).
 * An agent that goes away takes its alerts with it: they cannot be acknowledged meanwhile.
 */
export class AlertStore extends EventEmitter<AlertStoreEvents> {
  /** agentKey → alertId → alert. */
  private readonly alerts = new Map<string, Map<string, ConsoleAlert>>();
  private readonly detachers = new Map<string, () => void>();

  constructor(private readonly logger: Logger) {
    super();
  }

  attach(connection: AgentConnection): void {
    this.detach(connection.key);
    const key = connection.key;
    const siteId = (): string | undefined => connection.agentIdentity?.siteId;
    const onAlert =
      (change: 'raised' | 'cleared') =>
      (alert: Alert): void => {
        const site = siteId();
        if (site !== undefined) this.record(key, site, alert, change);
      };
    const onRaised = onAlert('raised');
    const onCleared = onAlert('cleared');
    const onTick = (tick: RpoTick): void => this.tick(key, tick);
    // Bumped on every connect and loss, so a late alert.list answer of an old session is dropped.
    let session = 0;
    let loaded = false;
    const onChange = (): void => {
      if (!connection.isConnected) {
        session += 1;
        loaded = false;
        this.drop(key);
        return;
      }
      if (loaded) return;
      loaded = true;
      const mine = (session += 1);
      connection.call('alert.list', { limit: LOAD_LIMIT }).then(
        (listed) => {
          const site = siteId();
          if (mine === session && site !== undefined) this.load(key, site, listed);
        },
        (err: unknown) =>
          this.logger.warn(
            { key, err: err instanceof Error ? err.message : String(err) },
            'alert.list failed: this agent’s alerts are not shown until it reconnects',
          ),
      );
    };
    connection.on('alert.raised', onRaised);
    connection.on('alert.cleared', onCleared);
    connection.on('rpo.tick', onTick);
    connection.on('change', onChange);
    onChange();
    this.detachers.set(key, () => {
      connection.off('alert.raised', onRaised);
      connection.off('alert.cleared', onCleared);
      connection.off('rpo.tick', onTick);
      connection.off('change', onChange);
    });
  }

  /** Stops listening to an agent and forgets its alerts. */
  detach(key: string): void {
    this.detachers.get(key)?.();
    this.detachers.delete(key);
    this.drop(key);
  }

  /** Every alert, newest first. */
  list(): ConsoleAlert[] {
    const all: ConsoleAlert[] = [];
    for (const byId of this.alerts.values()) all.push(...byId.values());
    return all.sort((a, b) => b.raisedAt - a.raisedAt);
  }

  /** alert.ack through the agent that keeps the alert; every window hears 'acknowledged'. */
  async ack(connection: AgentConnection, alertId: string): Promise<ConsoleAlert> {
    const acked = await connection.call('alert.ack', { alertId });
    // A successful call means a hello was answered: the identity is known.
    const siteId = connection.agentIdentity?.siteId ?? '';
    return this.record(connection.key, siteId, acked, 'acknowledged');
  }

  close(): void {
    for (const key of [...this.detachers.keys()]) this.detach(key);
  }

  private load(agentKey: string, siteId: string, listed: readonly Alert[]): void {
    const before = this.alerts.get(agentKey) ?? new Map<string, ConsoleAlert>();
    const after = new Map<string, ConsoleAlert>();
    for (const alert of listed) {
      after.set(alert.alertId, merge(before.get(alert.alertId), { ...alert, siteId, agentKey }));
    }
    // A notification that came before the answer (or past its limit) is kept.
    for (const [id, alert] of before) if (!after.has(id)) after.set(id, alert);
    this.alerts.set(agentKey, after);
    this.emit('alerts.changed', {
      change: 'agent',
      agentKey,
      alerts: [...after.values()].sort((a, b) => b.raisedAt - a.raisedAt),
    });
  }

  private record(
    agentKey: string,
    siteId: string,
    alert: Alert,
    change: 'raised' | 'cleared' | 'acknowledged',
  ): ConsoleAlert {
    let byId = this.alerts.get(agentKey);
    if (byId === undefined) this.alerts.set(agentKey, (byId = new Map()));
    const known = byId.get(alert.alertId);
    const merged = merge(known, { ...alert, siteId, agentKey });
    byId.set(alert.alertId, merged);
    // A raise already known (the list answer came first) is no news for a desktop notification.
    this.emit('alerts.changed', {
      change: change === 'raised' && known !== undefined ? 'updated' : change,
      alert: merged,
    });
    return merged;
  }

  private tick(agentKey: string, tick: RpoTick): void {
    if (tick.rpoSeconds === undefined) return;
    const byId = this.alerts.get(agentKey);
    if (byId === undefined) return;
    for (const alert of byId.values()) {
      if (alert.kind !== 'rpo' || alert.vpgId !== tick.vpgId || alert.clearedAt !== undefined)
        continue;
      if (alert.worstRpoSeconds !== undefined && alert.worstRpoSeconds >= tick.rpoSeconds) return;
      const updated = { ...alert, worstRpoSeconds: tick.rpoSeconds };
      byId.set(alert.alertId, updated);
      this.emit('alerts.changed', { change: 'updated', alert: updated });
      return;
    }
  }

  private drop(agentKey: string): void {
    const had = this.alerts.get(agentKey);
    this.alerts.delete(agentKey);
    if (had !== undefined && had.size > 0) {
      this.emit('alerts.changed', { change: 'agent', agentKey, alerts: [] });
    }
  }
}

/**
 * Two reports of one alert, in whichever order they came: an alert never goes back from
 * cleared or acknowledged, and its worst RPO never shrinks.
 */
export function merge(known: ConsoleAlert | undefined, incoming: ConsoleAlert): ConsoleAlert {
  if (known === undefined) return incoming;
  const merged: ConsoleAlert = { ...known, ...incoming };
  const clearedAt = incoming.clearedAt ?? known.clearedAt;
  const acknowledgedAt = incoming.acknowledgedAt ?? known.acknowledgedAt;
  const worst = Math.max(known.worstRpoSeconds ?? -1, incoming.worstRpoSeconds ?? -1);
  if (clearedAt !== undefined) merged.clearedAt = clearedAt;
  if (acknowledgedAt !== undefined) merged.acknowledgedAt = acknowledgedAt;
  if (worst >= 0) merged.worstRpoSeconds = worst;
  return merged;
}
