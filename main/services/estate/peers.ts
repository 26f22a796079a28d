import { toTidelineError } from '../../../app/errors';
import type { Peer } from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import type { Logger } from '../util/log';

/** While a link is not up, how often its agent is asked again (link state changes between
 * "connecting" and "disconnected" are not notified). */
export const PEER_POLL_MS = 10_000;

/**
 * An agent's peers (site.peers), or undefined when it cannot say: an agent older than site
 * pairing, or one whose peer service is not running. Never fails the caller: the rest of the
 * inventory is worth having without them.
 */
export async function fetchPeers(
  connection: AgentConnection,
  logger: Logger,
): Promise<Peer[] | undefined> {
  try {
    return await connection.call('site.peers');
  } catch (err) {
    const e = toTidelineError(err);
    if (e.code === 'METHOD_NOT_FOUND') return [];
    logger.warn(
      { key: connection.key, code: e.code, reason: e.message },
      'cannot list the agent’s peers',
    );
    return undefined;
  }
}

/** Whether some link of these peers is not up (so its state may change without notice). */
export function someLinkDown(peers: readonly Peer[] | undefined): boolean {
  return peers !== undefined && peers.some((p) => p.link !== 'connected');
}
