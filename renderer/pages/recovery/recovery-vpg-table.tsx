import East from '@mui/icons-material/East';
import PlayCircleOutline from '@mui/icons-material/PlayCircleOutlined';
import TravelExplore from '@mui/icons-material/TravelExplore';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type { EstateSnapshot, VpgView } from '../../../app/protocol/console-api';
import type { ConsoleFailover } from '../../../app/protocol/console-recovery-api';
import { pluralize } from '../../lib/format';
import { formatDuration, siteName } from '../../lib/protection';
import {
  MODE_TEXT,
  PHASE,
  isActivePhase,
  protectedSiteUnreachable,
  siteConnected,
  testReminder,
} from '../../lib/recovery';
import { useNow } from '../../lib/use-now';
import { useCleanPointStore } from '../../stores/clean-point-store';
import { useRecoveryStore } from '../../stores/recovery-store';
import { VpgStatusChip } from '../protection/vpg-status-chip';
import { memo } from 'react';
import { VirtualTableBody } from '../../components/virtual-table-body';

interface Props {
  readonly vpgs: readonly VpgView[];
  readonly snapshot: EstateSnapshot;
  /** The newest failover of each VPG. */
  readonly latest: Readonly<Record<string, ConsoleFailover>>;
}

/** Each VPG with where it would recover, whether both sites answer, and its failover if any. */
export function RecoveryVpgTable({ vpgs, snapshot, latest }: Props) {
  return (
    <TableContainer
      sx={{ border: 1, borderColor: 'divider', borderRadius: 3, bgcolor: 'background.paper' }}
    >
      <Table aria-label="Recovery of VPGs">
        <TableHead>
          <TableRow>
            <TableCell>VPG</TableCell>
            <TableCell>Protected → recovery site</TableCell>
            <TableCell>Status</TableCell>
            <TableCell>Latest checkpoint</TableCell>
            <TableCell>Failover</TableCell>
            <TableCell>Last test</TableCell>
            <TableCell align="right">Actions</TableCell>
          </TableRow>
        </TableHead>
        <VirtualTableBody
          items={vpgs}
          rowKey={(vpg) => vpg.vpgId}
          renderRow={(vpg) => <Row vpg={vpg} snapshot={snapshot} failover={latest[vpg.vpgId]} />}
          estimateRowPx={90}
          columns={7}
        />
      </Table>
    </TableContainer>
  );
}

const Row = memo(function Row({
  vpg,
  snapshot,
  failover,
}: {
  vpg: VpgView;
  snapshot: EstateSnapshot;
  failover: ConsoleFailover | undefined;
}) {
  const openWizard = useRecoveryStore((s) => s.openWizard);
  const view = useRecoveryStore((s) => s.view);
  const openCleanPoint = useCleanPointStore((s) => s.open);
  const unreachable = protectedSiteUnreachable(snapshot, vpg);
  const recoveryUp = siteConnected(snapshot, vpg.recoverySiteId);
  const active = failover !== undefined && isActivePhase(failover.phase);
  const checkpoint = vpg.latestCheckpoint;
  // Minutes are plenty for "days ago".
  const now = useNow(false);
  const test = testReminder(vpg, now);
  return (
    <TableRow aria-label={`VPG ${vpg.name}`} sx={{ '& > td, & > th': { py: 1.5 } }}>
      <TableCell component="th" scope="row">
        <Typography sx={{ fontWeight: 700 }}>{vpg.name}</Typography>
        <Typography variant="caption" color="text.secondary">
          {pluralize(vpg.vmIds.length, 'VM')}
        </Typography>
      </TableCell>
      <TableCell>
        <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
          <SiteName name={siteName(snapshot, vpg.protectedSiteId)} up={!unreachable} />
          <East fontSize="small" color="action" aria-label="to" />
          <SiteName name={siteName(snapshot, vpg.recoverySiteId)} up={recoveryUp} />
        </Stack>
      </TableCell>
      <TableCell>
        <VpgStatusChip status={vpg.status} message={vpg.statusMessage} />
      </TableCell>
      <TableCell sx={{ fontVariantNumeric: 'tabular-nums' }}>
        {checkpoint === undefined ? (
          <Typography variant="body2" color="text.secondary">
            None yet
          </Typography>
        ) : (
          <>
            <Typography variant="body2">
              {new Date(checkpoint.sourceTime).toLocaleTimeString()}
            </Typography>
            <Typography variant="caption" color="text.secondary">
              {vpg.rpoSeconds === undefined ? '' : `${formatDuration(vpg.rpoSeconds)} behind`}
            </Typography>
          </>
        )}
      </TableCell>
      <TableCell>
        {failover === undefined ? (
          <Typography variant="body2" color="text.secondary">
            —
          </Typography>
        ) : (
          <Stack spacing={0.5} sx={{ alignItems: 'flex-start' }}>
            <Chip
              size="small"
              label={PHASE[failover.phase].label}
              color={PHASE[failover.phase].color}
              variant={active ? 'filled' : 'outlined'}
              data-phase={failover.phase}
            />
            <Typography variant="caption" color="text.secondary">
              {MODE_TEXT[failover.mode].label} · {new Date(failover.startedAt).toLocaleTimeString()}
            </Typography>
          </Stack>
        )}
      </TableCell>
      <TableCell>
        {test.overdue ? (
          <Chip size="small" color="warning" variant="outlined" label={test.label} />
        ) : (
          <Typography variant="body2" color="text.secondary">
            {test.label}
          </Typography>
        )}
      </TableCell>
      <TableCell align="right">
        {/* Stacked: side by side, three actions would squeeze the other columns. */}
        <Stack
          spacing={0.5}
          sx={{ alignItems: 'flex-end', '& .MuiButton-root': { whiteSpace: 'nowrap' } }}
        >
          {failover !== undefined && (
            <Button size="small" onClick={() => view(vpg.vpgId)}>
              {active ? 'Follow' : 'Last failover'}
            </Button>
          )}
          <Button
            size="small"
            startIcon={<TravelExplore />}
            onClick={() => openCleanPoint(vpg)}
            aria-label={`Find the last clean point of ${vpg.name}…`}
            title="Test checkpoints in turn to find the newest one that is clean"
          >
            Last clean point…
          </Button>
          <Button
            size="small"
            variant={unreachable ? 'contained' : 'outlined'}
            color={unreachable ? 'error' : 'primary'}
            startIcon={<PlayCircleOutline />}
            disabled={active}
            onClick={() => openWizard(vpg.vpgId)}
            aria-label={`Fail over ${vpg.name}…`}
          >
            Fail over…
          </Button>
        </Stack>
      </TableCell>
    </TableRow>
  );
});

function SiteName({ name, up }: { name: string; up: boolean }) {
  return (
    <Stack direction="row" spacing={0.75} sx={{ alignItems: 'center' }}>
      <Box
        aria-hidden
        sx={{
          width: 8,
          height: 8,
          borderRadius: '50%',
          bgcolor: up ? 'success.main' : 'error.main',
        }}
      />
      <Typography variant="body2" title={up ? 'Agents connected' : 'Unreachable'}>
        {name}
        {!up && (
          <Box component="span" sx={{ color: 'error.main', fontWeight: 600 }}>
            {' '}
            (unreachable)
          </Box>
        )}
      </Typography>
    </Stack>
  );
}
