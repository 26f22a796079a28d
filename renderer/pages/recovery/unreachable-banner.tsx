import CloudOff from '@mui/icons-material/CloudOff';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import type { EstateSnapshot, VpgView } from '../../../app/protocol/console-api';
import { pluralize } from '../../lib/format';
import { protectedSiteUnreachable } from '../../lib/recovery';
import { siteName } from '../../lib/protection';

interface Props {
  readonly snapshot: EstateSnapshot;
  readonly vpgs: readonly VpgView[];
}

/**
 * One banner per protected site with no connected agent: its VPGs can still fail over live,
 * run by the recovery site's agents alone.
 */
export function UnreachableBanners({ snapshot, vpgs }: Props) {
  const bySite = new Map<string, VpgView[]>();
  for (const vpg of vpgs) {
    if (!protectedSiteUnreachable(snapshot, vpg)) continue;
    bySite.set(vpg.protectedSiteId, [...(bySite.get(vpg.protectedSiteId) ?? []), vpg]);
  }
  return (
    <>
      {[...bySite.entries()].map(([siteId, affected]) => {
        const name = siteName(snapshot, siteId);
        return (
          <Alert
            key={siteId}
            severity="warning"
            variant="filled"
            icon={<CloudOff />}
            aria-label={`Protected site ${name} unreachable`}
            sx={{ borderRadius: 3 }}
          >
            <AlertTitle sx={{ fontWeight: 700 }}>
              Protected site {name} is unreachable — live failover runs with the recovery
              site&apos;s agents alone
            </AlertTitle>
            No agent of {name} is connected to this console. {pluralize(affected.length, 'VPG')} (
            {affected.map((v) => v.name).join(', ')}) can be failed over live or tested at the
            recovery site, at the last checkpoint it received; a planned move needs {name} back.
          </Alert>
        );
      })}
    </>
  );
}
