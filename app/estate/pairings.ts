import type { SitePairing } from '../protocol/console-api';

/** The pairing of two sites in either order, if they are paired. */
export function findPairing(
  pairings: readonly SitePairing[],
  siteId: string,
  peerSiteId: string,
): SitePairing | undefined {
  return pairings.find(
    (p) =>
      (p.siteId === siteId && p.peerSiteId === peerSiteId) ||
      (p.siteId === peerSiteId && p.peerSiteId === siteId),
  );
}
