import { TidelineError } from '../../app/errors';
import type {
  AgentMethods,
  Handlers,
  PairParams,
  PairingToken,
  Peer,
  SetLinkCompressionParams,
} from '../../app/protocol';
import type { Session } from './session';

/** What the console's pairing methods need (the daemon's PeerService provides it). */
export interface PairingOperations {
  pairingToken(): PairingToken;
  pair(params: PairParams): Promise<Peer>;
  unpair(agentId: string): Promise<void>;
  list(): Peer[];
  setCompression(params: SetLinkCompressionParams): Promise<Peer>;
}

type PairingMethods =
  'site.pairingToken' | 'site.pair' | 'site.unpair' | 'site.peers' | 'site.setLinkCompression';

/**
 * site.pairingToken, site.pair, site.unpair, site.peers, site.setLinkCompression. The peer service notifies
 * inventory.changed {kinds: ['peer']} itself, for changes a console asked for and for those
 * a peer made (it unpaired us, a link went up or down). Without a peer service (unit tests of
 * the other handlers) every method answers UNAVAILABLE.
 */
export function createPairingHandlers(
  peers: PairingOperations | undefined,
): Pick<Handlers<AgentMethods, Session>, PairingMethods> {
  const service = (): PairingOperations => {
    if (peers === undefined) {
      throw new TidelineError('UNAVAILABLE', 'Site pairing is not available on this agent');
    }
    return peers;
  };
  return {
    'site.pairingToken': () => service().pairingToken(),
    'site.pair': (params) => service().pair(params),
    'site.unpair': async ({ agentId }) => {
      await service().unpair(agentId);
      return { unpaired: true as const };
    },
    'site.peers': () => service().list(),
    'site.setLinkCompression': (params) => service().setCompression(params),
  };
}
