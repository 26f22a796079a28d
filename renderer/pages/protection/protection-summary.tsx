import CloudSync from '@mui/icons-material/CloudSync';
import Computer from '@mui/icons-material/Computer';
import Shield from '@mui/icons-material/Shield';
import Speed from '@mui/icons-material/Speed';
import type { VpgView } from '../../../app/protocol/console-api';
import { formatRate, liveFigures, rpoMetNow } from '../../lib/protection';
import { useNow } from '../../lib/use-now';
import { useProtectionStore } from '../../stores/protection-store';
import { SummaryTile, SummaryTiles } from '../../components/summary-tiles';

interface Props {
  readonly vpgs: readonly VpgView[];
}

/** Four figures: VPGs, how many meet their RPO now, VMs protected, replication throughput. */
export function ProtectionSummary({ vpgs }: Props) {
  const ticks = useProtectionStore((s) => s.ticks);
  const receivedAt = useProtectionStore((s) => s.receivedAt);
  const now = useNow(true);
  const figures = vpgs.map((v) =>
    liveFigures(v, ticks[v.vpgId], receivedAt[v.vpgId], Math.max(now, receivedAt[v.vpgId] ?? 0)),
  );
  const met = figures.filter((f) => rpoMetNow(f)).length;
  const vms = vpgs.reduce((sum, v) => sum + v.vmIds.length, 0);
  const sent = figures.reduce((sum, f) => sum + (f.sentBytesPerSecond ?? 0), 0);
  return (
    <SummaryTiles>
      <SummaryTile icon={<Shield />} label="VPGs" value={String(vpgs.length)} />
      <SummaryTile
        icon={<Speed />}
        label="Meeting their RPO"
        value={`${met} / ${vpgs.length}`}
        warn={met < vpgs.length}
      />
      <SummaryTile icon={<Computer />} label="VMs protected" value={String(vms)} />
      <SummaryTile icon={<CloudSync />} label="Replicating" value={formatRate(sent)} />
    </SummaryTiles>
  );
}
