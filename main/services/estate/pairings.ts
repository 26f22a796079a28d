import type { Peer, PeerLinkState, SitePairing } from '../../../app/protocol';

/** The peers one connected agent of a site reported. */
export interface SitePeers {
  readonly siteId: string;
  readonly peers: readonly Peer[];
}

interface Pair {
  readonly a: string;
  readonly b: string;
  link: PeerLinkState;
  lastError: string | undefined;
  pairedAt: number;
}

const SEVERITY: Readonly<Record<PeerLinkState, number>> = {
  connected: 0,
  connecting: 1,
  disconnected: 2,
};

/** The worse of two link states: disconnected over connecting over connected. */
export function worstLink(a: PeerLinkState, b: PeerLinkState): PeerLinkState {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/**
 * One entry per pair of sites from what each side's agents report: the worst link state, the
 * earliest pairing time. A pair is ordered by site name (then id), so it reads the same
 * whichever side reported it. `names` are the console's site names; a site it does not know
 * is named as the peer record names it.
 */
export function mergePairings(
  reports: readonly SitePeers[],
  names: ReadonlyMap<string, string>,
): SitePairing[] {
  const peerNames = new Map<string, string>();
  const pairs = new Map<string, Pair>();
  for (const { siteId, peers } of reports) {
    for (const peer of peers) {
      if (peer.siteId === siteId) continue; // two agents of one site: not a site pairing
      peerNames.set(peer.siteId, peer.siteName);
      const [a, b] = siteId < peer.siteId ? [siteId, peer.siteId] : [peer.siteId, siteId];
      const key = `${a}\u0000${b}`;
      const known = pairs.get(key);
      if (known === undefined) {
        pairs.set(key, {
          a,
          b,
          link: peer.link,
          lastError: peer.lastError,
          pairedAt: peer.pairedAt,
        });
        continue;
      }
      if (worstLink(known.link, peer.link) !== known.link) {
        known.link = peer.link;
        known.lastError = peer.lastError;
      }
      known.pairedAt = Math.min(known.pairedAt, peer.pairedAt);
    }
  }
  const nameOf = (siteId: string): string => names.get(siteId) ?? peerNames.get(siteId) ?? siteId;
  const result = [...pairs.values()].map(({ a, b, link, lastError, pairedAt }): SitePairing => {
    const [siteId, peerSiteId] = byName(a, b, nameOf) ? [a, b] : [b, a];
    const pairing: SitePairing = {
      siteId,
      peerSiteId,
      siteName: nameOf(siteId),
      peerSiteName: nameOf(peerSiteId),
      link,
      pairedAt,
    };
    if (link !== 'connected' && lastError !== undefined) pairing.lastError = lastError;
    return pairing;
  });
  result.sort(
    (x, y) =>
      x.siteName.localeCompare(y.siteName) ||
      x.peerSiteName.localeCompare(y.peerSiteName) ||
      x.siteId.localeCompare(y.siteId) ||
      x.peerSiteId.localeCompare(y.peerSiteId),
  );
  return result;
}

/** Whether site `a` comes before site `b`: by name, then by id. */
function byName(a: string, b: string, nameOf: (id: string) => string): boolean {
  const order = nameOf(a).localeCompare(nameOf(b));
  return order === 0 ? a < b : order < 0;
}
