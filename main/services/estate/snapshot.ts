import type {
  AgentView,
  EstateSnapshot,
  Host,
  HostView,
  Peer,
  SiteDetails,
  SiteView,
  Vm,
  VmView,
} from '../../../app/protocol';
import { mergePairings, type SitePeers } from './pairings';

/** What one agent told us about its site, hosts and VMs (kept while it is unreachable). */
export interface AgentInventory {
  site?: SiteDetails;
  siteFetchedAt?: number;
  hosts: Host[];
  vms: Vm[];
  /** The agent's peers (site.peers); undefined until fetched, or when the agent cannot say. */
  peers?: Peer[];
}

export interface AgentEstate {
  readonly view: AgentView;
  readonly inventory: AgentInventory | undefined;
}

/**
 * Sites keyed by siteId (several agents may serve one site); hosts and VMs per agent; site
 * pairings from the peers of the agents connected now (a disconnected agent's link states
 * would be stale).
 */
export function buildSnapshot(agents: readonly AgentEstate[]): EstateSnapshot {
  const sites = new Map<string, { site: SiteView; at: number }>();
  const hosts: HostView[] = [];
  const vms: VmView[] = [];
  const peerReports: SitePeers[] = [];
  for (const { view, inventory } of agents) {
    const siteId = inventory?.site?.siteId ?? view.identity?.siteId;
    if (siteId === undefined) continue;
    const details: SiteDetails = inventory?.site ?? {
      siteId,
      name: view.identity?.siteName ?? siteId,
      location: '',
      contact: '',
    };
    const at = inventory?.siteFetchedAt ?? -1;
    const known = sites.get(siteId);
    if (known === undefined) {
      sites.set(siteId, { site: { ...details, agentKeys: [view.key] }, at });
    } else {
      known.site.agentKeys.push(view.key);
      if (at > known.at) {
        known.site = { ...details, agentKeys: known.site.agentKeys };
        known.at = at;
      }
    }
    for (const host of inventory?.hosts ?? []) hosts.push({ ...host, siteId, agentKey: view.key });
    for (const vm of inventory?.vms ?? []) vms.push({ ...vm, siteId, agentKey: view.key });
    if (view.state === 'connected' && inventory?.peers !== undefined)
      peerReports.push({ siteId, peers: inventory.peers });
  }
  const siteList = [...sites.values()].map((s) => s.site);
  siteList.sort((a, b) => a.name.localeCompare(b.name) || a.siteId.localeCompare(b.siteId));
  const names = new Map(siteList.map((s) => [s.siteId, s.name]));
  const pairings = mergePairings(peerReports, names);
  return { agents: agents.map((a) => a.view), sites: siteList, hosts, vms, pairings };
}
