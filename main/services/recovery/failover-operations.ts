import { TidelineError, toTidelineError } from '../../../app/errors';
import type { AgentMethods, EstateSnapshot, ParamsIn, SiteView } from '../../../app/protocol';
import type {
  FailoverStartParams,
  FailoverTaskRef,
} from '../../../app/protocol/console-recovery-api';
import type { AgentConnection } from '../agents/agent-connection';
import { knownSite, refused } from '../estate/site-lookup';
import type { Logger } from '../util/log';

/** What failover operations need from the console core. */
export interface RecoveryAccess {
  snapshot(): EstateSnapshot;
  /** The connected agents of a site, in settings order. */
  connectedAgents(site: SiteView): AgentConnection[];
  readonly logger: Logger;
}

type FailoverMethod = keyof AgentMethods &
  (
    | 'failover.test'
    | 'failover.live'
    | 'failover.move'
    | 'failover.stopTest'
    | 'failover.commit'
    | 'failover.rollback'
  );

const VERB: Record<FailoverMethod, string> = {
  'failover.test': 'start a test failover of',
  'failover.live': 'start a live failover of',
  'failover.move': 'move',
  'failover.stopTest': 'stop the test failover of',
  'failover.commit': 'commit the failover of',
  'failover.rollback': 'roll back the failover of',
};

/**
 * Calls a failover method on the recovery site's agents: the first connected one that knows
 * the VPG runs it (NOT_FOUND from an agent that does not hold its journal: the next is
 * asked). Nothing here needs the protected site.
 */
export async function callRecoverySite<M extends FailoverMethod>(
  access: RecoveryAccess,
  siteId: string,
  name: M,
  params: ParamsIn<AgentMethods, M>,
): Promise<FailoverTaskRef> {
  const site = knownSite(access.snapshot(), siteId);
  const vpgId = params.vpgId;
  const vpgName = access.snapshot().vpgs.find((v) => v.vpgId === vpgId)?.name ?? vpgId;
  const agents = access.connectedAgents(site);
  if (agents.length === 0) {
    throw new TidelineError(
      'UNAVAILABLE',
      `No agent of the recovery site "${site.name}" is connected to this console; a failover ` +
        'runs there. Check that its agents are running and reachable.',
      { siteId },
    );
  }
  let notFound: TidelineError | undefined;
  for (const agent of agents) {
    try {
      const { taskId } = (await agent.call(name, params as never)) as { taskId: string };
      access.logger.info({ method: name, vpgId, siteId, via: agent.key, taskId }, 'failover');
      return { taskId, siteId, agentKey: agent.key };
    } catch (err) {
      const e = toTidelineError(err);
      if (e.code !== 'NOT_FOUND') {
        throw refused(e, `Could not ${VERB[name]} VPG "${vpgName}" at site "${site.name}"`);
      }
      notFound = e;
    }
  }
  throw refused(
    notFound,
    `No connected agent of site "${site.name}" holds VPG "${vpgName}" as its recovery site`,
  );
}

/** failovers.start: one method per mode on the agent. */
export function startFailover(
  access: RecoveryAccess,
  params: FailoverStartParams,
): Promise<FailoverTaskRef> {
  const { mode, siteId, ...rest } = params;
  switch (mode) {
    case 'test':
      return callRecoverySite(access, siteId, 'failover.test', rest);
    case 'live':
      return callRecoverySite(access, siteId, 'failover.live', rest);
    case 'move':
      return callRecoverySite(access, siteId, 'failover.move', rest);
  }
}
