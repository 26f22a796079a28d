import { toTidelineError, isTidelineError } from '../../app/errors';
import type {
  ConsoleInfo,
  ConsoleMethods,
  Handlers,
  ParamsOut,
  SitePairParams,
} from '../../app/protocol';
import type { ConsoleCore } from './console-core';
import type { Logger } from './util/log';
import { createSupportHandlers } from './support/support-handlers';

/**
 * The ConsoleApi's server side, one function per method of consoleMethods. Params arrive
 * validated (Dispatcher, IPC); anything thrown that is not a TidelineError is a bug: it is
 * logged here and the UI only sees a generic INTERNAL_ERROR, never a stack trace.
 */
export function createConsoleHandlers(
  core: ConsoleCore,
  info: ConsoleInfo,
  logger: Logger,
): Handlers<ConsoleMethods, unknown> {
  const guard =
    <P, R>(name: string, fn: (params: P) => Promise<R> | R) =>
    async (params: P): Promise<R> => {
      try {
        return await fn(params);
      } catch (err) {
        if (!isTidelineError(err)) logger.error({ err, method: name }, 'console method failed');
        throw toTidelineError(err, `Internal error in ${name}`);
      }
    };
  return {
    'console.info': guard('console.info', () => info),
    'agents.probe': guard('agents.probe', (p: { address: string }) => core.probe(p.address)),
    'agents.add': guard(
      'agents.add',
      (p: { address: string; token: string; fingerprint: string }) => core.addAgent(p),
    ),
    'agents.remove': guard('agents.remove', (p: { key: string }) => core.removeAgent(p.key)),
    'agents.reconnect': guard('agents.reconnect', (p: { key: string }) => core.reconnect(p.key)),
    'estate.get': guard('estate.get', () => core.snapshot()),
    'sites.setDetails': guard(
      'sites.setDetails',
      (p: { siteId: string; patch: Parameters<ConsoleCore['setSiteDetails']>[1] }) =>
        core.setSiteDetails(p.siteId, p.patch),
    ),
    'sites.pair': guard('sites.pair', (p: SitePairParams) =>
      core.pairSites(p.siteId, p.peerSiteId),
    ),
    'sites.unpair': guard('sites.unpair', (p: SitePairParams) =>
      core.unpairSites(p.siteId, p.peerSiteId),
    ),
    'sites.setLinkCompression': guard(
      'sites.setLinkCompression',
      (p: Params<'sites.setLinkCompression'>) => core.setLinkCompression(p),
    ),
    'vpgs.create': guard('vpgs.create', (p: Params<'vpgs.create'>) =>
      core.createVpg(p.siteId, p.settings),
    ),
    'vpgs.edit': guard('vpgs.edit', (p: Params<'vpgs.edit'>) => core.editVpg(p)),
    'vpgs.remove': guard('vpgs.remove', (p: Params<'vpgs.remove'>) =>
      core.removeVpg(p.siteId, p.vpgId),
    ),
    'checkpoints.list': guard('checkpoints.list', (p: Params<'checkpoints.list'>) =>
      core.listCheckpoints(p.siteId, p.vpgId),
    ),
    'checkpoints.insert': guard('checkpoints.insert', (p: Params<'checkpoints.insert'>) =>
      core.insertCheckpoint(p.siteId, p.vpgId, p.name),
    ),
    'checkpoints.waitFor': guard('checkpoints.waitFor', (p: Params<'checkpoints.waitFor'>) =>
      core.waitForCheckpoint(p),
    ),
    'protection.ticks': guard('protection.ticks', () => core.protectionTicks()),
    'protection.history': guard('protection.history', (p: Params<'protection.history'>) =>
      core.protectionHistory(p),
    ),
    'tasks.list': guard('tasks.list', () => core.protectionTasks()),
    'tasks.history': guard('tasks.history', (p: Params<'tasks.history'>) => core.taskHistory(p)),
    'tasks.abort': guard('tasks.abort', (p: Params<'tasks.abort'>) =>
      core.abortTask(p.agentKey, p.taskId),
    ),
    'workloads.set': guard('workloads.set', ({ siteId, ...settings }: Params<'workloads.set'>) =>
      core.setWorkload(siteId, settings),
    ),
    'policies.drafts': guard('policies.drafts', () => core.policies.list()),
    'policies.saveDraft': guard('policies.saveDraft', (p: Params<'policies.saveDraft'>) =>
      core.policies.save(p),
    ),
    'policies.discardDraft': guard('policies.discardDraft', (p: Params<'policies.discardDraft'>) =>
      core.policies.discard(p),
    ),
    'policies.current': guard('policies.current', (p: Params<'policies.current'>) =>
      core.policies.current(p),
    ),
    'policies.apply': guard('policies.apply', (p: Params<'policies.apply'>) =>
      core.policies.apply(p),
    ),
    'policies.rebase': guard('policies.rebase', (p: Params<'policies.rebase'>) =>
      core.policies.rebase(p),
    ),
    'alerts.list': guard('alerts.list', () => core.listAlerts()),
    'alerts.ack': guard('alerts.ack', (p: Params<'alerts.ack'>) =>
      core.ackAlert(p.agentKey, p.alertId),
    ),
    'failovers.list': guard('failovers.list', () => core.recovery.list()),
    'failovers.discardTests': guard(
      'failovers.discardTests',
      (p: Params<'failovers.discardTests'>) => core.recovery.discardTests(p),
    ),
    'failovers.start': guard('failovers.start', (p: Params<'failovers.start'>) =>
      core.recovery.start(p),
    ),
    'failovers.stopTest': guard('failovers.stopTest', (p: Params<'failovers.stopTest'>) =>
      core.recovery.stopTest(p),
    ),
    'failovers.commit': guard('failovers.commit', (p: Params<'failovers.commit'>) =>
      core.recovery.commit(p),
    ),
    'failovers.rollback': guard('failovers.rollback', (p: Params<'failovers.rollback'>) =>
      core.recovery.rollback(p),
    ),
    'planner.context': guard('planner.context', (p: Params<'planner.context'>) =>
      core.planningContext(p),
    ),
    ...createSupportHandlers(core.support, guard),
    'hosts.list': guard('hosts.list', () => core.hosts.list()),
    'hosts.add': guard('hosts.add', (p: Params<'hosts.add'>) => core.hosts.add(p)),
    'hosts.remove': guard('hosts.remove', (p: Params<'hosts.remove'>) =>
      core.hosts.remove(p.hostId),
    ),
    'hosts.scanKey': guard('hosts.scanKey', (p: Params<'hosts.scanKey'>) =>
      core.hosts.scanKey(p.hostId),
    ),
    'hosts.trustKey': guard('hosts.trustKey', (p: Params<'hosts.trustKey'>) =>
      core.hosts.trustKey(p.hostId, p.fingerprint),
    ),
    'hosts.deploy': guard('hosts.deploy', (p: Params<'hosts.deploy'>) =>
      core.hosts.deploy(p.hostId, p.credentials),
    ),
    'hosts.upgrade': guard('hosts.upgrade', (p: Params<'hosts.upgrade'>) =>
      core.hosts.upgrade(p.hostId, p.credentials),
    ),
    'hosts.undeploy': guard('hosts.undeploy', (p: Params<'hosts.undeploy'>) =>
      core.hosts.undeploy(p.hostId, p.credentials, p.deleteData),
    ),
  };
}

type Params<M extends keyof ConsoleMethods> = ParamsOut<ConsoleMethods, M>;
