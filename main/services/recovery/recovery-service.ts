import type {
  ConsoleFailover,
  FailoverStartParams,
  FailoverTaskRef,
} from '../../../app/protocol/console-recovery-api';
import type { AgentMethods, ParamsIn } from '../../../app/protocol';
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

  close(): void {
    this.store.removeAllListeners();
    this.store.close();
  }
}
