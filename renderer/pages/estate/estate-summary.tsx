import Apartment from '@mui/icons-material/Apartment';
import Computer from '@mui/icons-material/Computer';
import Dns from '@mui/icons-material/Dns';
import Hub from '@mui/icons-material/Hub';
import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';
import type { EstateSnapshot } from '../../../app/protocol/console-api';

interface Props {
  readonly snapshot: EstateSnapshot;
}

/** Four figures an admin checks first: sites, agents connected, hosts, VMs running. */
export function EstateSummary({ snapshot }: Props) {
  const connected = snapshot.agents.filter((a) => a.state === 'connected').length;
  const running = snapshot.vms.filter((v) => v.powerState === 'running').length;
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
      <Tile icon={<Apartment />} label="Sites" value={String(snapshot.sites.length)} />
      <Tile
        icon={<Hub />}
        label="Agents connected"
        value={`${connected} / ${snapshot.agents.length}`}
        warn={connected < snapshot.agents.length}
      />
      <Tile icon={<Dns />} label="Hosts" value={String(snapshot.hosts.length)} />
      <Tile icon={<Computer />} label="VMs running" value={`${running} / ${snapshot.vms.length}`} />
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
          bgcolor: warn ? 'warning.light' : 'rgba(15,139,141,0.12)',
          color: warn ? 'warning.contrastText' : 'secondary.main',
        }}
      >
        {icon}
      </Box>
      <Box>
        <Typography component="dt" variant="body2" color="text.secondary">
          {label}
        </Typography>
        <Typography component="dd" variant="h2" sx={{ m: 0 }}>
          {value}
        </Typography>
      </Box>
    </Paper>
  );
}
