import CloudSync from '@mui/icons-material/CloudSync';
import Computer from '@mui/icons-material/Computer';
import Shield from '@mui/icons-material/Shield';
import Speed from '@mui/icons-material/Speed';
import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';
import type { VpgView } from '../../../app/protocol/console-api';
import { formatRate, liveFigures, rpoMetNow } from '../../lib/protection';
import { useNow } from '../../lib/use-now';
import { useProtectionStore } from '../../stores/protection-store';

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
    <Box
      component="dl"
      sx={{
        m: 0,
        display: 'grid',
        gap: 2,
        gridTemplateColumns: { xs: '1fr 1fr', lg: 'repeat(4, 1fr)' },
      }}
    >
      <Tile icon={<Shield />} label="VPGs" value={String(vpgs.length)} />
      <Tile
        icon={<Speed />}
        label="Meeting their RPO"
        value={`${met} / ${vpgs.length}`}
        warn={met < vpgs.length}
      />
      <Tile icon={<Computer />} label="VMs protected" value={String(vms)} />
      <Tile icon={<CloudSync />} label="Replicating" value={formatRate(sent)} />
    </Box>
  );
}

function Tile({
  icon,
  label,
  value,
  warn = false,
}: {
  icon: ReactNode;
  label: string;
  value: string;
  warn?: boolean;
}) {
  return (
    <Paper
      variant="outlined"
      sx={{ p: 2, borderRadius: 3, display: 'flex', alignItems: 'center', gap: 2 }}
    >
      <Box
        aria-hidden
        sx={{
          width: 40,
          height: 40,
          borderRadius: 2,
          display: 'grid',
          placeItems: 'center',
          bgcolor: warn ? 'rgba(199,119,0,0.14)' : 'rgba(15,139,141,0.12)',
          color: warn ? 'warning.main' : 'secondary.main',
        }}
      >
        {icon}
      </Box>
      <Box>
        <Typography component="dt" variant="body2" color="text.secondary">
          {label}
        </Typography>
        <Typography component="dd" variant="h2" sx={{ m: 0, fontVariantNumeric: 'tabular-nums' }}>
          {value}
        </Typography>
      </Box>
    </Paper>
  );
}
