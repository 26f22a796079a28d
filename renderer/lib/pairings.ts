import type { EstateSnapshot, SitePairing, SiteView } from '../../app/protocol/console-api';

/** The names of the sites a site is paired with, by name. */
export function pairedWith(pairings: readonly SitePairing[], siteId: string): string[] {
  const names: string[] = [];
  for (const p of pairings) {
    if (p.siteId === siteId) names.push(p.peerSiteName);
    else if (p.peerSiteId === siteId) names.push(p.siteName);
  }
  return names.sort((a, b) => a.localeCompare(b));
}

/** "Headquarters ⇄ Recovery DC" */
export function pairingLabel(p: Pick<SitePairing, 'siteName' | 'peerSiteName'>): string {
  return `${p.siteName} ⇄ ${p.peerSiteName}`;
}

/** Whether some agent of the site is connected now (pairing needs one on each side). */
export function hasConnectedAgent(snapshot: EstateSnapshot, site: SiteView): boolean {
  return snapshot.agents.some((a) => site.agentKeys.includes(a.key) && a.state === 'connected');
}

/** Pairing needs two known sites. */
export function canPair(snapshot: EstateSnapshot | undefined): boolean {
  return snapshot !== undefined && snapshot.sites.length >= 2;
}
