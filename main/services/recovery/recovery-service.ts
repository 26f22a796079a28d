import type {
  ConsoleFailover,
  FailoverStartParams,
  FailoverTaskRef,
} from '../../../app/protocol/console-recovery-api';
import { TidelineError } from '../../../app/errors';
import type { AgentMethods, ConsoleMethods, ParamsIn, ParamsOut } from '../../../app/protocol';
import { knownSite } from '../estate/site-lookup';
import type { AgentConnection } from '../agents/agent-connection';
import { callRecoverySite, startFailover, type RecoveryAccess } from './failover-operations';
import { FailoverStore } from './failover-store';

type WithSite<M extends keyof AgentMethods> = ParamsIn<AgentMethods, M> & { siteId: string };

/** The console's recovery part: the agents' failovers, and the operations on them. */
export class RecoveryService {
  readonly store: FailoverStore;

  constructor(private readonly access: RecoveryAccess) {
    this.store = new FailoverStore(access.logger);
  }

  attach(connection: AgentConnection): void {
    this.store.attach(connection);
  }

  detach(key: string): void {
    this.store.detach(key);
  }

  list(): { failovers: ConsoleFailover[] } {
    return this.store.list();
  }

  start(params: FailoverStartParams): Promise<FailoverTaskRef> {
    return startFailover(this.access, params);
  }

  stopTest({ siteId, ...params }: WithSite<'failover.stopTest'>): Promise<FailoverTaskRef> {
    return callRecoverySite(this.access, siteId, 'failover.stopTest', params);
  }

  commit({ siteId, ...params }: WithSite<'failover.commit'>): Promise<FailoverTaskRef> {
    return callRecoverySite(this.access, siteId, 'failover.commit', params);
  }

  rollback({ siteId, ...params }: WithSite<'failover.rollback'>): Promise<FailoverTaskRef> {
    return callRecoverySite(this.access, siteId, 'failover.rollback', params);
  }

  /**
   * failovers.discardTests through the recovery site's connected agents (each forgets the
   * tests it ran); the console forgets them too.
   */
  async discardTests({
    siteId,
    vpgId,
    count,
  }: ParamsOut<ConsoleMethods, 'failovers.discardTests'>): Promise<{
    discarded: string[];
    kept: number;
  }> {
    const site = knownSite(this.access.snapshot(), siteId);
    const agents = this.access.connectedAgents(site);
    if (agents.length === 0) {
      throw new TidelineError(
        'UNAVAILABLE',
        `No agent of the recovery site "${site.name}" is connected: its test records are kept there.`,
        { siteId },
      );
    }
    const discarded: string[] = [];
    let kept = 0;
    for (const agent of agents) {
      const left = count - discarded.length;
      if (left === 0) break;
      const result = await agent.call('failover.discardTests', { vpgId, count: left });
      this.store.forget(agent.key, result.discarded);
      discarded.push(...result.discarded);
      kept += result.kept;
    }
    this.access.logger.info(
      { siteId, vpgId, discarded: discarded.length },
      'test records discarded',
    );
    return { discarded, kept };
  }

  close(): void {
    this.store.removeAllListeners();
    this.store.close();
  }
}
