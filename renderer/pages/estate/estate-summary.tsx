import Apartment from '@mui/icons-material/Apartment';
import Computer from '@mui/icons-material/Computer';
import Dns from '@mui/icons-material/Dns';
import Hub from '@mui/icons-material/Hub';
import type { EstateSnapshot } from '../../../app/protocol/console-api';
import { SummaryTile, SummaryTiles } from '../../components/summary-tiles';

interface Props {
  readonly snapshot: EstateSnapshot;
}

/** Four figures an admin checks first: sites, agents connected, hosts, VMs running. */
export function EstateSummary({ snapshot }: Props) {
  const connected = snapshot.agents.filter((a) => a.state === 'connected').length;
  const running = snapshot.vms.filter((v) => v.powerState === 'running').length;
  return (
    <SummaryTiles>
      <SummaryTile icon={<Apartment />} label="Sites" value={String(snapshot.sites.length)} />
      <SummaryTile
        icon={<Hub />}
        label="Agents connected"
        value={`${connected} / ${snapshot.agents.length}`}
        warn={connected < snapshot.agents.length}
      />
      <SummaryTile icon={<Dns />} label="Hosts" value={String(snapshot.hosts.length)} />
      <SummaryTile
        icon={<Computer />}
        label="VMs running"
        value={`${running} / ${snapshot.vms.length}`}
      />
    </SummaryTiles>
  );
}
