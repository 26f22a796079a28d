import { toTidelineError } from '../../../app/errors';
import type { AgentView, VpgState, VpgView } from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import type { Logger } from '../util/log';

/**
 * An agent's VPGs (vpg.list), or undefined when it cannot say right now. An agent that does
 * not know the method (older than VPGs) has none. Never fails the caller.
 */
export async function fetchVpgs(
  connection: AgentConnection,
  logger: Logger,
): Promise<VpgState[] | undefined> {
  try {
    return await connection.call('vpg.list');
  } catch (err) {
    const e = toTidelineError(err);
    if (e.code === 'METHOD_NOT_FOUND') return [];
    logger.warn({ key: connection.key, code: e.code, reason: e.message }, 'cannot list the VPGs');
    return undefined;
  }
}

/** What one agent reported about its VPGs. */
export interface VpgReport {
  readonly view: AgentView;
  readonly siteId: string;
  readonly vpgs: readonly VpgState[];
}

/** Source over target, a connected reporter over a disconnected one, then the newer version. */
function rank(r: VpgReport, vpg: VpgState): number {
  return (vpg.role === 'source' ? 2 : 0) + (r.view.state === 'connected' ? 4 : 0);
}

/**
 * Each VPG once: from a connected agent of its protected site (role source) when there is
 * one, otherwise from the recovery site's view (marked protectedSiteOffline); a disconnected
 * agent's last answer only when no connected agent reports the VPG (marked not live).
 * Sorted by name. `onlineSites`: the sites with a connected agent.
 */
export function mergeVpgs(
  reports: readonly VpgReport[],
  onlineSites: ReadonlySet<string>,
): VpgView[] {
  const best = new Map<string, { report: VpgReport; vpg: VpgState; rank: number }>();
  for (const report of reports) {
    for (const vpg of report.vpgs) {
      const r = rank(report, vpg);
      const known = best.get(vpg.vpgId);
      if (
        known === undefined ||
        r > known.rank ||
        (r === known.rank && vpg.version > known.vpg.version)
      )
        best.set(vpg.vpgId, { report, vpg, rank: r });
    }
  }
  // The recovery site knows the tests; the protected site's view (preferred) does not.
  const lastTested = new Map<string, number>();
  for (const report of reports) {
    for (const vpg of report.vpgs) {
      if (vpg.lastTestedAt === undefined) continue;
      lastTested.set(vpg.vpgId, Math.max(lastTested.get(vpg.vpgId) ?? 0, vpg.lastTestedAt));
    }
  }
  const views = [...best.values()].map(({ report, vpg }): VpgView => ({
    ...vpg,
    ...(lastTested.has(vpg.vpgId) && { lastTestedAt: lastTested.get(vpg.vpgId) }),
    siteId: report.siteId,
    agentKey: report.view.key,
    live: report.view.state === 'connected',
    protectedSiteOffline: !onlineSites.has(vpg.protectedSiteId),
  }));
  views.sort((a, b) => a.name.localeCompare(b.name) || a.vpgId.localeCompare(b.vpgId));
  return views;
}
