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
  /** Peer records that compress, and all of them. */
  lz4: number;
  reports: number;
  recordBytes: number;
  wireBytes: number;
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
 * earliest pairing time, whether they compress what they send, and the traffic's wire share. A pair is ordered by site name (then id), so it reads the same
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
      const pair = known ?? {
        a,
        b,
        link: peer.link,
        lastError: peer.lastError,
        pairedAt: peer.pairedAt,
        lz4: 0,
        reports: 0,
        recordBytes: 0,
        wireBytes: 0,
      };
      if (known === undefined) pairs.set(key, pair);
      else if (worstLink(known.link, peer.link) !== known.link) {
        known.link = peer.link;
        known.lastError = peer.lastError;
      }
      pair.pairedAt = Math.min(pair.pairedAt, peer.pairedAt);
      pair.reports += 1;
      if (peer.compression === 'lz4') pair.lz4 += 1;
      pair.recordBytes += peer.traffic?.recordBytes ?? 0;
      pair.wireBytes += peer.traffic?.wireBytes ?? 0;
    }
  }
  const nameOf = (siteId: string): string => names.get(siteId) ?? peerNames.get(siteId) ?? siteId;
  const result = [...pairs.values()].map((pair): SitePairing => {
    const { a, b, link, lastError, pairedAt } = pair;
    const [siteId, peerSiteId] = byName(a, b, nameOf) ? [a, b] : [b, a];
    const pairing: SitePairing = {
      siteId,
      peerSiteId,
      siteName: nameOf(siteId),
      peerSiteName: nameOf(peerSiteId),
      link,
      pairedAt,
      compression: pair.lz4 === 0 ? 'off' : pair.lz4 === pair.reports ? 'lz4' : 'mixed',
    };
    if (link !== 'connected' && lastError !== undefined) pairing.lastError = lastError;
    if (pair.recordBytes > 0) pairing.wireShare = pair.wireBytes / pair.recordBytes;
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
