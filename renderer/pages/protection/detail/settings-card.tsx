import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Paper from '@mui/material/Paper';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';
import type { EstateSnapshot, VpgView } from '../../../../app/protocol/console-api';
import { formatTime } from '../../../lib/format';
import { formatDuration, formatSize, siteName } from '../../../lib/protection';

interface Props {
  readonly vpg: VpgView;
  readonly snapshot: EstateSnapshot;
}

/** What the VPG protects, where it recovers to, and its journal and RPO settings. */
export function SettingsCard({ vpg, snapshot }: Props) {
  const host = snapshot.hosts.find(
    (h) => h.siteId === vpg.recoverySiteId && h.hostId === vpg.recoveryHostId,
  );
  const vmName = (vmId: string): string =>
    snapshot.vms.find((v) => v.siteId === vpg.protectedSiteId && v.vmId === vmId)?.name ?? vmId;
  const { journal } = vpg;
  const warnPercent = Math.round((journal.warningBytes / journal.hardLimitBytes) * 100);
  return (
    <Paper
      component="section"
      aria-label="Settings"
      variant="outlined"
      sx={{ p: 3, borderRadius: 3, height: '100%' }}
    >
      <Typography variant="h2" sx={{ mb: 2 }}>
        Settings
      </Typography>
      <Box
        component="dl"
        sx={{
          m: 0,
          display: 'grid',
          gridTemplateColumns: 'max-content 1fr',
          columnGap: 3,
          rowGap: 1.25,
          fontSize: '0.875rem',
          '& dt': { color: 'text.secondary' },
          '& dd': { m: 0, fontWeight: 500 },
        }}
      >
        <Row label="Protected site">{siteName(snapshot, vpg.protectedSiteId)}</Row>
        <Row label="VMs">
          <Box sx={{ display: 'flex', flexWrap: 'wrap', gap: 0.5 }}>
            {vpg.vmIds.map((id) => (
              <Chip key={id} size="small" label={vmName(id)} variant="outlined" />
            ))}
          </Box>
        </Row>
        <Row label="Recovery site">{siteName(snapshot, vpg.recoverySiteId)}</Row>
        <Row label="Recovery host">
          {host?.name ?? vpg.recoveryHostId} · {vpg.recoveryDatastore}
        </Row>
        <Row label="Journal history">{formatDuration(journal.historySeconds)}</Row>
        <Row label="Journal hard limit">
          {formatSize(journal.hardLimitBytes)} (warning at {formatSize(journal.warningBytes)},{' '}
          {warnPercent} %)
        </Row>
        <Row label="Checkpoints">every {formatDuration(vpg.checkpointIntervalMs / 1000)}</Row>
        <Row label="RPO target">{formatDuration(vpg.rpoTargetSeconds)}</Row>
        <Row label="Created">{formatTime(vpg.createdAt)}</Row>
      </Box>
    </Paper>
  );
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}
