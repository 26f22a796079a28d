import { TidelineError, toTidelineError } from '../../../app/errors';
import type {
  EstateSnapshot,
  Peer,
  SitePairing,
  SitesSetCompressionParams,
  SitesUnpairResult,
  SiteView,
} from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import { findPairing } from '../../../app/estate/pairings';
import { knownSite, refused } from '../estate/site-lookup';
import type { Logger } from '../util/log';

/** What pairing needs from the console core. */
export interface SiteAccess {
  snapshot(): EstateSnapshot;
  /** The connected agents of a site, in settings order. */
  connectedAgents(site: SiteView): AgentConnection[];
  /** Re-fetches these agents' peers into the estate, and waits for it. */
  refreshPeers(keys: readonly string[]): Promise<void>;
  readonly logger: Logger;
}

/**
 * sites.pair: a pairing token from a connected agent of the first site, redeemed by a
 * connected agent of the second (which dials the first over mutual TLS).
 */
export async function pairSites(
  access: SiteAccess,
  siteId: string,
  peerSiteId: string,
): Promise<SitePairing> {
  if (siteId === peerSiteId) throw sameSite(access.snapshot(), siteId);
  const snapshot = access.snapshot();
  const site = knownSite(snapshot, siteId);
  const peerSite = knownSite(snapshot, peerSiteId);
  const [via] = requireConnected(access, site);
  const [peerVia] = requireConnected(access, peerSite);

  const token = await via.call('site.pairingToken').catch((err: unknown) => {
    throw refused(err, `Site "${site.name}" could not issue a pairing token`);
  });
  const peer = await peerVia
    .call('site.pair', {
      address: token.address,
      token: token.token,
      fingerprint: token.fingerprint,
    })
    .catch((err: unknown) => {
      throw refused(err, `Site "${peerSite.name}" could not pair with site "${site.name}"`);
    });
  access.logger.info(
    { siteId, peerSiteId, agentId: peer.agentId, address: token.address },
    'sites paired',
  );
  await access.refreshPeers([via.key, peerVia.key]);
  const merged = findPairing(access.snapshot().pairings, siteId, peerSiteId);
  const result: SitePairing = {
    siteId,
    peerSiteId,
    siteName: site.name,
    peerSiteName: peerSite.name,
    link: merged?.link ?? peer.link,
    pairedAt: merged?.pairedAt ?? peer.pairedAt,
    compression: merged?.compression ?? 'off',
  };
  const lastError = merged === undefined ? peer.lastError : merged.lastError;
  if (result.link !== 'connected' && lastError !== undefined) result.lastError = lastError;
  return result;
}

/**
 * sites.unpair: every connected agent of either site forgets its peers at the other. A site
 * with no connected agent keeps the pairing (and is said so); its links are refused meanwhile.
 */
export async function unpairSites(
  access: SiteAccess,
  siteId: string,
  peerSiteId: string,
): Promise<SitesUnpairResult> {
  if (siteId === peerSiteId) throw sameSite(access.snapshot(), siteId);
  const snapshot = access.snapshot();
  const pairing = findPairing(snapshot.pairings, siteId, peerSiteId);
  const sides = [siteId, peerSiteId].map((id) => {
    const site = snapshot.sites.find((s) => s.siteId === id);
    const name =
      site?.name ??
      (pairing && (pairing.siteId === id ? pairing.siteName : pairing.peerSiteName)) ??
      id;
    return { id, name, agents: site ? access.connectedAgents(site) : [] };
  });
  const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
  const reachable = sides.filter((s) => s.agents.length > 0);
  if (reachable.length === 0) {
    throw new TidelineError(
      'UNAVAILABLE',
      `No agent of site "${a.name}" or of site "${b.name}" is connected to this console; ` +
        'unpair once at least one of them is.',
      { siteId, peerSiteId },
    );
  }
  let forgotten = 0;
  for (const side of reachable) {
    const other = side === a ? b : a;
    for (const agent of side.agents) forgotten += await forgetPeersAt(agent, other.id, side.name);
  }
  await access.refreshPeers(reachable.flatMap((s) => s.agents.map((c) => c.key)));
  const unreachable = sides.filter((s) => s.agents.length === 0);
  if (forgotten === 0 && unreachable.length === 0) {
    throw new TidelineError('NOT_FOUND', `Sites "${a.name}" and "${b.name}" are not paired.`, {
      siteId,
      peerSiteId,
    });
  }
  access.logger.info(
    { siteId, peerSiteId, forgotten, unreachable: unreachable.map((s) => s.id) },
    'sites unpaired',
  );
  return {
    unpaired: reachable.map((s) => s.id),
    unreachable: unreachable.map((s) => s.id),
    message: unpairMessage(a.name, b.name, unreachable[0]?.name, forgotten),
  };
}

/**
 * sites.setLinkCompression: every connected agent of either site sets it for its peers at the
 * other, so both directions of the link agree. Both sites need a connected agent: set one way
 * only, the pairing would say `mixed` with no way to tell the admin which way.
 */
export async function setLinkCompression(
  access: SiteAccess,
  { siteId, peerSiteId, compression }: SitesSetCompressionParams,
): Promise<SitePairing> {
  if (siteId === peerSiteId) throw sameSite(access.snapshot(), siteId);
  const snapshot = access.snapshot();
  const sides = [knownSite(snapshot, siteId), knownSite(snapshot, peerSiteId)];
  const before = findPairing(snapshot.pairings, siteId, peerSiteId);
  if (before === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `Sites "${sides[0]?.name}" and "${sides[1]?.name}" are not paired.`,
      { siteId, peerSiteId },
    );
  }
  const agents = sides.map((site) => requireConnected(access, site));
  for (const [i, site] of sides.entries()) {
    const other = sides[1 - i] as SiteView;
    for (const agent of agents[i] ?? []) {
      for (const peer of await peersAt(agent, other.siteId, site.name)) {
        await agent
          .call('site.setLinkCompression', { agentId: peer.agentId, compression })
          .catch((err: unknown) => {
            throw refused(
              err,
              `Site "${site.name}" could not set compression towards "${other.name}"`,
            );
          });
      }
    }
  }
  access.logger.info({ siteId, peerSiteId, compression }, 'link compression set');
  await access.refreshPeers(agents.flat().map((agent) => agent.key));
  return findPairing(access.snapshot().pairings, siteId, peerSiteId) ?? before;
}

/** site.unpair on one agent for each of its peers at `otherSiteId`; returns how many. */
async function forgetPeersAt(
  agent: AgentConnection,
  otherSiteId: string,
  siteName: string,
): Promise<number> {
  let count = 0;
  for (const peer of await peersAt(agent, otherSiteId, siteName)) {
    try {
      await agent.call('site.unpair', { agentId: peer.agentId });
      count += 1;
    } catch (err) {
      // The other side's agent told this one already (it forgets on the peer's UNPAIR).
      if (toTidelineError(err).code === 'NOT_FOUND') continue;
      throw refused(err, `Site "${siteName}" could not unpair site "${peer.siteName}"`);
    }
  }
  return count;
}

function unpairMessage(
  name: string,
  peerName: string,
  offline: string | undefined,
  forgotten: number,
): string {
  if (offline === undefined) return `Sites "${name}" and "${peerName}" are no longer paired.`;
  const reachable = offline === name ? peerName : name;
  const done =
    forgotten > 0
      ? `Site "${reachable}" no longer accepts site "${offline}".`
      : `Site "${reachable}" was not paired with site "${offline}".`;
  return (
    `${done} No agent of site "${offline}" is connected to this console, so it still lists ` +
    'the pairing (its connections are refused): unpair again once it is connected.'
  );
}

/** One agent's peers at `otherSiteId` (site.peers, filtered). */
async function peersAt(
  agent: AgentConnection,
  otherSiteId: string,
  siteName: string,
): Promise<Peer[]> {
  const peers = await agent.call('site.peers').catch((err: unknown) => {
    throw refused(err, `Site "${siteName}" could not list its peers`);
  });
  return peers.filter((p) => p.siteId === otherSiteId);
}

/** The site's connected agents (at least one), in settings order. */
function requireConnected(
  access: SiteAccess,
  site: SiteView,
): [AgentConnection, ...AgentConnection[]] {
  const [via, ...rest] = access.connectedAgents(site);
  if (via === undefined) {
    throw new TidelineError(
      'UNAVAILABLE',
      `No agent of site "${site.name}" is connected to this console right now: pairing needs ` +
        'a connected agent at both sites. Try again once it is connected.',
      { siteId: site.siteId },
    );
  }
  return [via, ...rest];
}

function sameSite(snapshot: EstateSnapshot, siteId: string): TidelineError {
  const name = snapshot.sites.find((s) => s.siteId === siteId)?.name ?? siteId;
  return new TidelineError(
    'INVALID_PARAMS',
    `Choose two different sites: site "${name}" cannot be paired with itself.`,
    { siteId },
  );
}
