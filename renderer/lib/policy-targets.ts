import type { EstateSnapshot, PolicyDraft, PolicyDraftKey } from '../../app/protocol/console-api';
import { draftKeyOf } from '../stores/policies-store';

/** A site link or a VPG a policy can be bound to, and the agent it is applied through. */
export interface TargetOption {
  readonly id: string;
  readonly key: PolicyDraftKey;
  readonly label: string;
  /** The target's name to keep with its draft; absent for a draft whose target is not known now. */
  readonly name?: string;
  /** The agent is connected now (apply possible). */
  readonly live: boolean;
}

/**
 * Each direction of a site pairing (a link's policy limits what its sending agent sends),
 * each VPG through an agent of its protected site, and every draft whose target is no longer
 * (or not yet) in the estate — the agent may simply be offline.
 */
export function policyTargets(
  snapshot: EstateSnapshot | undefined,
  drafts: readonly PolicyDraft[],
): TargetOption[] {
  const options: TargetOption[] = [];
  if (snapshot !== undefined) {
    const agentOf = (siteId: string) => {
      const site = snapshot.sites.find((s) => s.siteId === siteId);
      const agents = snapshot.agents.filter(
        (a) => site?.agentKeys.includes(a.key) && a.identity !== undefined,
      );
      return agents.find((a) => a.state === 'connected') ?? agents[0];
    };
    for (const p of snapshot.pairings) {
      for (const [from, to, fromName, toName] of [
        [p.siteId, p.peerSiteId, p.siteName, p.peerSiteName],
        [p.peerSiteId, p.siteId, p.peerSiteName, p.siteName],
      ] as const) {
        const a = agentOf(from);
        const b = agentOf(to);
        if (a?.identity === undefined || b?.identity === undefined) continue;
        const key: PolicyDraftKey = {
          agentId: a.identity.agentId,
          target: { kind: 'link', peerAgentId: b.identity.agentId },
        };
        options.push({
          id: draftKeyOf(key),
          key,
          label: `Link ${fromName} → ${toName}`,
          name: `Link ${fromName} → ${toName}`,
          live: a.state === 'connected',
        });
      }
    }
    for (const v of snapshot.vpgs) {
      if (v.role !== 'source') continue;
      const agent = snapshot.agents.find((a) => a.key === v.agentKey);
      if (agent?.identity === undefined) continue;
      const key: PolicyDraftKey = {
        agentId: agent.identity.agentId,
        target: { kind: 'vpg', vpgId: v.vpgId },
      };
      options.push({
        id: draftKeyOf(key),
        key,
        label: `VPG ${v.name}`,
        name: `VPG ${v.name}`,
        live: agent.state === 'connected' && v.live,
      });
    }
  }
  for (const d of drafts) {
    const id = draftKeyOf(d);
    if (options.some((o) => o.id === id)) continue;
    const what =
      d.target.kind === 'link' ? `link to ${d.target.peerAgentId}` : `VPG ${d.target.vpgId}`;
    options.push({
      id,
      key: { agentId: d.agentId, target: d.target },
      // Named as when it was saved; older drafts without a name show the ids.
      label:
        d.label !== undefined
          ? `${d.label} (offline)`
          : `Draft: ${what} (agent ${d.agentId} offline)`,
      live: false,
    });
  }
  return options;
}

/** The link a VPG replicates over, as a policy target (where its RPO alerts are planned). */
export function linkTargetOfVpg(
  snapshot: EstateSnapshot | undefined,
  drafts: readonly PolicyDraft[],
  vpgId: string,
): TargetOption | undefined {
  const vpg = snapshot?.vpgs.find((v) => v.vpgId === vpgId && v.role === 'source');
  if (snapshot === undefined || vpg === undefined) return undefined;
  const source = snapshot.agents.find((a) => a.key === vpg.agentKey)?.identity?.agentId;
  const recovery = snapshot.sites.find((s) => s.siteId === vpg.recoverySiteId);
  const peers = new Set(
    snapshot.agents
      .filter((a) => recovery?.agentKeys.includes(a.key))
      .map((a) => a.identity?.agentId),
  );
  return policyTargets(snapshot, drafts).find(
    (o) =>
      o.key.agentId === source &&
      o.key.target.kind === 'link' &&
      peers.has(o.key.target.peerAgentId),
  );
}
