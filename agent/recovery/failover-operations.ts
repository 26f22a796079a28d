import { TidelineError } from '../../app/errors';
import type { FailoverOrchestration } from '../control/failover-handlers';
import type { FailoverManager } from './failover-manager';

/** failover.* and vpg.settingsForReverse, served by the failover manager. */
export function createFailoverOrchestration(manager: FailoverManager): FailoverOrchestration {
  const later = (what: string): never => {
    throw new TidelineError('UNAVAILABLE', `${what} is not available on this agent yet`);
  };
  return {
    'failover.test': (params) => manager.test(params),
    'failover.stopTest': (params) => manager.stopTest(params),
    'failover.live': (params) => manager.live(params),
    'failover.move': () => later('A planned move (failover.move)'),
    'failover.commit': (params) => manager.commit(params),
    'failover.rollback': (params) => manager.rollback(params),
    'failover.list': (params) => manager.list(params ?? {}),
    'vpg.settingsForReverse': () => later('Reverse protection (vpg.settingsForReverse)'),
  };
}
