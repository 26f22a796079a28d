import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { Session } from './session';

type FailoverMethods =
  | (keyof AgentMethods & `failover.${string}`)
  | 'vpg.settingsForReverse'
  | 'vpg.metadata'
  | 'network.list';
type MetadataMethods = 'vpg.metadata' | 'network.list';

/** vpg.metadata and network.list (agent/recovery/metadata-handlers.ts). */
export type MetadataOperations = Pick<Handlers<AgentMethods, Session>, MetadataMethods>;
/** failover.* and vpg.settingsForReverse (the failover orchestration). */
export type FailoverOrchestration = Pick<
  Handlers<AgentMethods, Session>,
  Exclude<FailoverMethods, MetadataMethods>
>;

/** What the failover handlers need of the agent (agent/recovery), part by part. */
export interface FailoverOperations {
  readonly metadata?: MetadataOperations;
  readonly failover?: FailoverOrchestration;
}

/** failover.*, vpg.settingsForReverse, vpg.metadata, network.list; a part absent: UNAVAILABLE. */
export function createFailoverHandlers(
  parts: FailoverOperations = {},
): Pick<Handlers<AgentMethods, Session>, FailoverMethods> {
  const unavailable = (): never => {
    throw new TidelineError('UNAVAILABLE', 'Failover is not available on this agent yet');
  };
  return {
    ...(parts.failover ?? {
      'failover.test': unavailable,
      'failover.stopTest': unavailable,
      'failover.live': unavailable,
      'failover.move': unavailable,
      'failover.commit': unavailable,
      'failover.rollback': unavailable,
      'failover.list': unavailable,
      'failover.discardTests': unavailable,
      'vpg.settingsForReverse': unavailable,
    }),
    ...(parts.metadata ?? {
      'vpg.metadata': unavailable,
      'network.list': unavailable,
    }),
  };
}
