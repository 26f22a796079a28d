import { TidelineError } from '../../app/errors';
import type { ControlCaller } from '../peer/control-channel';

/** What the guard needs of a VPG record: its role here and its paired agent. */
export interface VpgOwnership {
  readonly role: 'source' | 'target';
  readonly peerAgentId: string;
}

/**
 * The one check every peer control handler makes about a VPG: it exists here in `role`, and
 * the caller is the agent it is paired with for it. Anything else gets the same NOT_FOUND,
 * whether the VPG is unknown, has the other role or belongs to another peer, so a paired agent
 * learns nothing about VPGs that are not its own.
 */
export function requireVpgPeer<V extends VpgOwnership>(
  vpg: V | undefined,
  vpgId: string,
  role: 'source' | 'target',
  caller: ControlCaller,
): V {
  if (vpg !== undefined && vpg.role === role && vpg.peerAgentId === caller.agentId) return vpg;
  throw new TidelineError(
    'NOT_FOUND',
    role === 'source'
      ? `VPG ${vpgId} is not protected from this site toward site "${caller.siteName}"`
      : `This recovery site does not receive VPG ${vpgId} from site "${caller.siteName}"`,
  );
}
