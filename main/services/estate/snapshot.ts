import type {
  AgentView,
  EstateSnapshot,
  Host,
  HostView,
  SiteDetails,
  SiteView,
  Vm,
  VmView,
} from '../../../app/protocol';

/** What one agent told us about its site, hosts and VMs (kept while it is unreachable). */
export interface AgentInventory {
  site?: SiteDetails;
  siteFetchedAt?: number;
  hosts: Host[];
  vms: Vm[];
}

export interface AgentEstate {
  readonly view: AgentView;
  readonly inventory: AgentInventory | undefined;
}

/** Sites keyed by siteId (several agents may serve one site); hosts and VMs per agent. */
export function buildSnapshot(agents: readonly AgentEstate[]): EstateSnapshot {
  const sites = new Map<string, { site: SiteView; at: number }>();
  const hosts: HostView[] = [];
  const vms: VmView[] = [];
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
  }
  const siteList = [...sites.values()].map((s) => s.site);
  siteList.sort((a, b) => a.name.localeCompare(b.name) || a.siteId.localeCompare(b.siteId));
  return { agents: agents.map((a) => a.view), sites: siteList, hosts, vms };
}
