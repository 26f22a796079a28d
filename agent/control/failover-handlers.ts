import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { Session } from './session';

type FailoverMethods =
  | (keyof AgentMethods & `failover.${string}`)
  | 'vpg.settingsForReverse'
  | 'vpg.metadata'
  | 'network.list';

/** What the failover handlers need of the agent (agent/recovery). */
export type FailoverOperations = Pick<Handlers<AgentMethods, Session>, FailoverMethods>;

/** failover.*, vpg.settingsForReverse, vpg.metadata, network.list; absent: UNAVAILABLE. */
export function createFailoverHandlers(
  failover: FailoverOperations | undefined,
): Pick<Handlers<AgentMethods, Session>, FailoverMethods> {
  if (failover !== undefined) return failover;
  const unavailable = (): never => {
    throw new TidelineError('UNAVAILABLE', 'Failover is not available on this agent yet');
  };
  return {
    'failover.test': unavailable,
    'failover.stopTest': unavailable,
    'failover.live': unavailable,
    'failover.move': unavailable,
    'failover.commit': unavailable,
    'failover.rollback': unavailable,
    'failover.list': unavailable,
    'vpg.settingsForReverse': unavailable,
    'vpg.metadata': unavailable,
    'network.list': unavailable,
  };
}
