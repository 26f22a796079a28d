import type { MetricsHistory } from '../../../app/metrics/metrics-schemas';
import type { ParamsOut } from '../../../app/protocol';
import type { ConsoleMethods } from '../../../app/protocol/console-api';
import { refused } from '../estate/site-lookup';
import { vpgAgent, vpgName, type ProtectionAccess } from './vpg-operations';

/**
 * protection.history: a VPG's metrics history from a connected agent of siteId (the console
 * passes the protected site: the source records the history).
 */
export async function vpgHistory(
  access: ProtectionAccess,
  params: ParamsOut<ConsoleMethods, 'protection.history'>,
): Promise<MetricsHistory> {
  const { siteId, ...query } = params;
  const { via, vpg, site } = vpgAgent(access, siteId, query.vpgId, 'showing the RPO history');
  return via.call('metrics.history', query).catch((err: unknown) => {
    throw refused(
      err,
      `Site "${site.name}" could not give the history of "${vpgName(vpg, query.vpgId)}"`,
    );
  });
}
