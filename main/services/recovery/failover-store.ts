import { EventEmitter } from 'node:events';
import type { ConsoleFailover } from '../../../app/protocol/console-recovery-api';
import type { FailoverStatus } from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import type { Logger } from '../util/log';

export type FailoverEvents = { 'recovery.failover': [ConsoleFailover] };

/**
 * The failovers of the connected agents: loaded with failover.list (ended ones included) when
 * an agent connects, then followed through its failover.status notifications, forwarded as
 * recovery.failover. An agent that goes away takes its failovers with it (the recovery page
 * then says its site is unreachable); no event says so: the renderer reloads failovers.list
 * when the connected agents in estate.changed change (renderer/stores/recovery-store.ts).
 */
export class FailoverStore extends EventEmitter<FailoverEvents> {
  /** agentKey → failoverId → failover. */
  private readonly byAgent = new Map<string, Map<string, ConsoleFailover>>();
  private readonly detachers = new Map<string, () => void>();

  constructor(private readonly logger: Logger) {
    super();
  }

  attach(connection: AgentConnection): void {
    this.detach(connection.key);
    const record = (status: FailoverStatus): void => {
      const siteId = connection.agentIdentity?.siteId;
      if (siteId !== undefined) this.record(connection.key, siteId, status);
    };
    let loaded = false;
    const onChange = (): void => {
      if (!connection.isConnected) {
        loaded = false;
        this.byAgent.delete(connection.key);
        return;
      }
      if (loaded) return;
      loaded = true;
      connection.call('failover.list', { includeEnded: true }).then(
        (list) => {
          for (const status of list) record(status);
        },
        (err: unknown) =>
          this.logger.debug(
            { key: connection.key, err: err instanceof Error ? err.message : String(err) },
            'failover.list failed (an agent without failover?)',
          ),
      );
    };
    connection.on('failover.status', record);
    connection.on('change', onChange);
    onChange();
    this.detachers.set(connection.key, () => {
      connection.off('failover.status', record);
      connection.off('change', onChange);
    });
  }

  detach(key: string): void {
    this.detachers.get(key)?.();
    this.detachers.delete(key);
    this.byAgent.delete(key);
  }

  record(agentKey: string, siteId: string, status: FailoverStatus): void {
    let byId = this.byAgent.get(agentKey);
    if (byId === undefined) this.byAgent.set(agentKey, (byId = new Map()));
    const failover: ConsoleFailover = { ...status, siteId, agentKey };
    byId.set(status.failoverId, failover);
    this.emit('recovery.failover', failover);
  }

  /** Failovers an agent forgot (failover.discardTests). */
  forget(agentKey: string, failoverIds: readonly string[]): void {
    const byId = this.byAgent.get(agentKey);
    for (const id of failoverIds) byId?.delete(id);
  }

  /** Newest first. */
  list(): { failovers: ConsoleFailover[] } {
    const failovers = [...this.byAgent.values()].flatMap((byId) => [...byId.values()]);
    failovers.sort((a, b) => b.startedAt - a.startedAt);
    return { failovers };
  }

  close(): void {
    for (const key of [...this.detachers.keys()]) this.detach(key);
  }
}
