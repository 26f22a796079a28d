import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { PolicyOperations } from '../policy/policy-operations';
import type { Session } from './session';

/** alert.* are served by ./alert-handlers.ts. */
type PolicyMethods = keyof AgentMethods & `policy.${string}`;

/** policy.*: served by the daemon's policy service (agent/policy); absent: UNAVAILABLE. */
export function createPolicyHandlers(
  policies?: PolicyOperations,
): Pick<Handlers<AgentMethods, Session>, PolicyMethods> {
  const need = (): PolicyOperations => {
    if (policies === undefined) {
      throw new TidelineError('UNAVAILABLE', 'Policies are not available on this agent');
    }
    return policies;
  };
  return {
    'policy.get': ({ target }) => need().get(target),
    'policy.set': ({ target, policy }) => need().set(target, policy),
    'policy.validate': ({ policy }) => need().validate(policy),
  };
}
