import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { SupportService } from '../support/support-service';
import type { Session } from './session';

type SupportMethods = keyof AgentMethods & `log.${string}`;

/** log.*: support bundles (agent/support); without the service they answer UNAVAILABLE. */
export function createSupportHandlers(
  support?: SupportService,
): Pick<Handlers<AgentMethods, Session>, SupportMethods> {
  const need = (): SupportService => {
    if (support === undefined) {
      throw new TidelineError('UNAVAILABLE', 'Support bundles are not available on this agent');
    }
    return support;
  };
  return {
    'log.collect': (params) => need().collect(params),
    'log.bundleRead': ({ bundleId, offset, length }) => need().read(bundleId, offset, length),
    'log.bundleRemove': ({ bundleId }) => need().remove(bundleId),
  };
}
