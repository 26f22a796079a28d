import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { Session } from './session';

type PolicyMethods = keyof AgentMethods & (`policy.${string}` | `alert.${string}`);

/** policy.* and alert.*: served by the daemon's policy scheduler and alert store (being built). */
export function createPolicyHandlers(): Pick<Handlers<AgentMethods, Session>, PolicyMethods> {
  const notYet = (): never => {
    throw new TidelineError('UNAVAILABLE', 'Policies are not available in this agent version yet');
  };
  return {
    'policy.get': notYet,
    'policy.set': notYet,
    'policy.validate': notYet,
    'alert.list': notYet,
    'alert.ack': notYet,
  };
}
