import type {
  AgentView,
  EstateSnapshot,
  HostView,
  SiteView,
  VmView,
} from '../../app/protocol/console-api';

import { pairedWith } from './pairings';

export interface SiteGroup {
  /** Stable key for React: the site id, or a fixed key for agents not yet connected. */
  readonly key: string;
  /** Undefined for agents that never completed a hello: their site is not known yet. */
  readonly site: SiteView | undefined;
  readonly agents: readonly AgentView[];
  readonly hosts: readonly HostView[];
  readonly vms: readonly VmView[];
  /** Names of the sites this one is paired with. */
  readonly pairedWith: readonly string[];
}

export const UNKNOWN_SITE_KEY = '~not-connected';

const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);

/** The estate grouped by site, sites by name; agents without a known site come last. */
export function groupBySite(snapshot: EstateSnapshot): SiteGroup[] {
  const placed = new Set<string>();
  const groups: SiteGroup[] = [...snapshot.sites].sort(byName).map((site) => {
    const agents = snapshot.agents.filter(
      (a) => site.agentKeys.includes(a.key) || a.identity?.siteId === site.siteId,
    );
    for (const a of agents) placed.add(a.key);
    return {
      key: site.siteId,
      site,
      agents,
      hosts: snapshot.hosts.filter((h) => h.siteId === site.siteId).sort(byName),
      vms: snapshot.vms.filter((v) => v.siteId === site.siteId).sort(byName),
      pairedWith: pairedWith(snapshot.pairings, site.siteId),
    };
  });
  const unplaced = snapshot.agents.filter((a) => !placed.has(a.key));
  if (unplaced.length > 0) {
    groups.push({
      key: UNKNOWN_SITE_KEY,
      site: undefined,
      agents: unplaced,
      hosts: [],
      vms: [],
      pairedWith: [],
    });
  }
  return groups;
}

export function isEstateEmpty(snapshot: EstateSnapshot): boolean {
  return snapshot.agents.length === 0 && snapshot.sites.length === 0;
}
