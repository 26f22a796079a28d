import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { ReplicationOperations } from '../replication/engine';
import type { MetricsHistory } from '../metrics/metrics-history';
import type { Session } from './session';

type ReplicationMethods =
  | 'vpg.create'
  | 'vpg.list'
  | 'vpg.state'
  | 'vpg.status'
  | 'vpg.remove'
  | 'checkpoint.list'
  | 'checkpoint.insert'
  | 'checkpoint.waitFor'
  | 'vm.setWorkload'
  | 'vm.workload'
  | 'vpg.update'
  | 'vpg.forceUpdate'
  | 'vpg.addVm'
  | 'vpg.removeVm'
  | 'vpg.forceRemove'
  | 'checkpoint.exportDisk'
  | 'metrics.history';

/**
 * vpg.*, checkpoint.* and the sim workloads, served by the daemon's replication engine.
 * Without one (unit tests of the other handlers) every method answers UNAVAILABLE.
 */
export function createReplicationHandlers(
  engine: ReplicationOperations | undefined,
  metrics?: Pick<MetricsHistory, 'query'>,
): Pick<Handlers<AgentMethods, Session>, ReplicationMethods> {
  const ops = (): ReplicationOperations => {
    if (engine === undefined) {
      throw new TidelineError('UNAVAILABLE', 'Replication is not available on this agent');
    }
    return engine;
  };
  return {
    'vpg.create': (settings) => ops().create(settings),
    'vpg.list': () => ops().list(),
    'vpg.state': ({ vpgId }) => ops().state(vpgId),
    'vpg.status': ({ vpgId }) => {
      const state = ops().state(vpgId);
      return {
        vpgId,
        status: state.status,
        ...(state.statusMessage !== undefined && { message: state.statusMessage }),
      };
    },
    'vpg.remove': async ({ vpgId }) => {
      await ops().remove(vpgId);
      return { removed: true as const };
    },
    'checkpoint.list': ({ vpgId }) => ops().listCheckpoints(vpgId),
    'checkpoint.insert': ({ vpgId, name }) => ops().insertCheckpoint(vpgId, name),
    'checkpoint.waitFor': ({ vpgId, seq, timeoutMs }) =>
      ops().waitForCheckpoint(vpgId, seq, timeoutMs),
    'vm.setWorkload': (settings) => ops().setWorkload(settings),
    'vm.workload': async (params) => ({ workloads: await ops().workloads(params?.vmId) }),
    // Declared in app/protocol; being built (issue 3).
    'vpg.update': ({ vpgId, version, settings }) => ops().update(vpgId, version, settings),
    'vpg.forceUpdate': ({ vpgId, version, settings }) =>
      ops().update(vpgId, version, settings, true),
    'vpg.addVm': ({ vpgId, vmId, version }) => ops().addVm(vpgId, vmId, version),
    'vpg.removeVm': ({ vpgId, vmId, version }) => ops().removeVm(vpgId, vmId, version),
    'vpg.forceRemove': ({ vpgId }) => ops().forceRemove(vpgId),
    'checkpoint.exportDisk': (request) => ops().exportDisk(request),
    'metrics.history': ({ vpgId, ...range }) => {
      ops().state(vpgId); // NOT_FOUND for a VPG this agent does not have
      if (metrics === undefined) notYet('metrics.history');
      return metrics.query(vpgId, range);
    },
  };
}

function notYet(method: string): never {
  throw new TidelineError('UNAVAILABLE', `${method} is not available in this agent version yet`);
}
