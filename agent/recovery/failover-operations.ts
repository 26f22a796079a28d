import type { FailoverOrchestration } from '../control/failover-handlers';
import type { FailoverManager } from './failover-manager';

/** failover.* and vpg.settingsForReverse, served by the failover manager. */
export function createFailoverOrchestration(manager: FailoverManager): FailoverOrchestration {
  return {
    'failover.test': (params) => manager.test(params),
    'failover.stopTest': (params) => manager.stopTest(params),
    'failover.live': (params) => manager.live(params),
    'failover.move': (params) => manager.move(params),
    'failover.commit': (params) => manager.commit(params),
    'failover.rollback': (params) => manager.rollback(params),
    'failover.list': (params) => manager.list(params ?? {}),
    'failover.discardTests': (params) => manager.discardTests(params),
    'vpg.settingsForReverse': (params) => manager.settingsForReverse(params.vpgId),
  };
}
