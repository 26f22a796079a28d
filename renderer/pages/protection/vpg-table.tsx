import East from '@mui/icons-material/East';
import Box from '@mui/material/Box';
import Link from '@mui/material/Link';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { memo } from 'react';
import type { EstateSnapshot, VpgView } from '../../../app/protocol/console-api';
import { VirtualTableBody } from '../../components/virtual-table-body';
import { pluralize } from '../../lib/format';
import { formatRate, formatSize, siteName } from '../../lib/protection';
import { useProtectionStore } from '../../stores/protection-store';
import { JournalBar } from './journal-bar';
import { RpoGauge } from './rpo-gauge';
import { SyncProgress } from './sync-progress';
import { useLiveFigures } from './use-live-figures';
import { VpgStatusChip } from './vpg-status-chip';

interface Props {
  readonly vpgs: readonly VpgView[];
  readonly snapshot: EstateSnapshot;
}

/** Every VPG once, with its live RPO against the target, throughput, backlog and journal. */
export function VpgTable({ vpgs, snapshot }: Props) {
  return (
    <TableContainer
      sx={{ border: 1, borderColor: 'divider', borderRadius: 3, bgcolor: 'background.paper' }}
    >
      <Table aria-label="VPGs">
        <TableHead>
          <TableRow>
            <TableCell>VPG</TableCell>
            <TableCell>Protected → recovery site</TableCell>
            <TableCell>Status</TableCell>
            <TableCell align="center">RPO</TableCell>
            <TableCell>Throughput</TableCell>
            <TableCell align="right">Backlog</TableCell>
            <TableCell>Journal</TableCell>
          </TableRow>
        </TableHead>
        <VirtualTableBody
          items={vpgs}
          rowKey={(vpg) => vpg.vpgId}
          renderRow={(vpg) => <VpgRow vpg={vpg} snapshot={snapshot} />}
          estimateRowPx={110}
          columns={7}
        />
      </Table>
    </TableContainer>
  );
}

const VpgRow = memo(function VpgRow({ vpg, snapshot }: { vpg: VpgView; snapshot: EstateSnapshot }) {
  const open = useProtectionStore((s) => s.openVpg);
  const live = useLiveFigures(vpg);
  return (
    <TableRow
      hover
      aria-label={`VPG ${vpg.name}`}
      onClick={() => open(vpg.vpgId)}
      sx={{ cursor: 'pointer', '& > td, & > th': { py: 1.5 } }}
    >
      <TableCell component="th" scope="row">
        <Link
          component="button"
          variant="body2"
          underline="hover"
          onClick={(e) => {
            e.stopPropagation();
            open(vpg.vpgId);
          }}
          sx={{ fontWeight: 700, fontSize: '0.95rem', textAlign: 'left' }}
        >
          {vpg.name}
        </Link>
        <Typography variant="caption" color="text.secondary" sx={{ display: 'block' }}>
          {pluralize(vpg.vmIds.length, 'VM')} · {pluralize(vpg.disks.length, 'disk')}
        </Typography>
      </TableCell>
      <TableCell>
        <Stack direction="row" spacing={0.75} sx={{ alignItems: 'center', whiteSpace: 'nowrap' }}>
          <span>{siteName(snapshot, vpg.protectedSiteId)}</span>
          <East fontSize="small" sx={{ color: 'text.secondary' }} aria-label="to" />
          <span>{siteName(snapshot, vpg.recoverySiteId)}</span>
        </Stack>
        {vpg.protectedSiteOffline && (
          <Typography variant="caption" color="warning.main" sx={{ display: 'block' }}>
            Protected site offline · as {siteName(snapshot, vpg.siteId)} reports it
          </Typography>
        )}
      </TableCell>
      <TableCell>
        <VpgStatusChip status={live.status} message={vpg.statusMessage} />
        <SyncProgress vpgId={vpg.vpgId} vpgName={vpg.name} />
      </TableCell>
      <TableCell align="center">
        <RpoGauge
          rpoSeconds={live.rpoSeconds}
          targetSeconds={live.rpoTargetSeconds}
          label={`RPO of ${vpg.name}`}
          live={live.live}
        />
      </TableCell>
      <TableCell>
        <Throughput written={live.writtenBytesPerSecond} sent={live.sentBytesPerSecond} />
      </TableCell>
      <TableCell align="right" sx={{ fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' }}>
        {formatSize(live.backlogBytes)}
      </TableCell>
      <TableCell>
        <JournalBar
          journalBytes={live.journalBytes}
          hardLimitBytes={live.journalHardLimitBytes}
          warningBytes={vpg.journal.warningBytes}
        />
      </TableCell>
    </TableRow>
  );
});

export function Throughput({
  written,
  sent,
}: {
  written: number | undefined;
  sent: number | undefined;
}) {
  const show = (v: number | undefined): string => (v === undefined ? '—' : formatRate(v));
  return (
    <Tooltip title="Written at the protected site / sent to the recovery site, per second">
      <Box
        component="dl"
        sx={{
          m: 0,
          display: 'grid',
          gridTemplateColumns: 'auto auto',
          columnGap: 1,
          fontSize: '0.8125rem',
          fontVariantNumeric: 'tabular-nums',
          whiteSpace: 'nowrap',
          '& dt': { color: 'text.secondary' },
          '& dd': { m: 0, fontWeight: 600 },
        }}
      >
        <dt>Written</dt>
        <dd>{show(written)}</dd>
        <dt>Sent</dt>
        <dd>{show(sent)}</dd>
      </Box>
    </Tooltip>
  );
}
