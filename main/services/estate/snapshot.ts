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
  VpgState,
} from '../../../app/protocol';
import { mergePairings, type SitePeers } from './pairings';
import { mergeVpgs, type VpgReport } from './vpgs';

/** What one agent told us about its site, hosts and VMs (kept while it is unreachable). */
export interface AgentInventory {
  site?: SiteDetails;
  siteFetchedAt?: number;
  hosts: Host[];
  vms: Vm[];
  /** The agent's peers (site.peers); undefined until fetched, or when the agent cannot say. */
  peers?: Peer[];
  /** The agent's VPGs (vpg.list); undefined until fetched. */
  vpgs?: VpgState[];
}

export interface AgentEstate {
  readonly view: AgentView;
  readonly inventory: AgentInventory | undefined;
}

/**
 * Sites keyed by siteId (several agents may serve one site); hosts and VMs per agent; site
 * pairings from the peers of the agents connected now (a disconnected agent's link states
 * would be stale); each VPG once (see mergeVpgs).
 */
export function buildSnapshot(agents: readonly AgentEstate[]): EstateSnapshot {
  const sites = new Map<string, { site: SiteView; at: number }>();
  const hosts: HostView[] = [];
  const vms: VmView[] = [];
  const peerReports: SitePeers[] = [];
  const vpgReports: VpgReport[] = [];
  const onlineSites = new Set<string>();
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
    if (view.state === 'connected') onlineSites.add(siteId);
    if (inventory?.vpgs !== undefined) vpgReports.push({ view, siteId, vpgs: inventory.vpgs });
  }
  const siteList = [...sites.values()].map((s) => s.site);
  siteList.sort((a, b) => a.name.localeCompare(b.name) || a.siteId.localeCompare(b.siteId));
  const names = new Map(siteList.map((s) => [s.siteId, s.name]));
  const pairings = mergePairings(peerReports, names);
  const vpgs = mergeVpgs(vpgReports, onlineSites);
  return { agents: agents.map((a) => a.view), sites: siteList, hosts, vms, pairings, vpgs };
}
