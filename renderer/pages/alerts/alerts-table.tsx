import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { formatDuration } from '../../../app/units/duration';
import type { ConsoleAlert } from '../../../app/protocol/console-api';
import { useAlertsStore } from '../../stores/alerts-store';
import { KIND_LABEL, alertKey, formatAlertTime } from './alert-list';

interface Props {
  readonly alerts: readonly ConsoleAlert[];
  readonly siteName: (siteId: string) => string;
}

const figure = { fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' } as const;

/** One row per alert: raised in red until cleared; the agent's message under the VPG. */
export function AlertsTable({ alerts, siteName }: Props) {
  return (
    <TableContainer
      sx={{ border: 1, borderColor: 'divider', borderRadius: 3, bgcolor: 'background.paper' }}
    >
      <Table aria-label="Alerts" size="small">
        <TableHead>
          <TableRow>
            <TableCell>State</TableCell>
            <TableCell>VPG</TableCell>
            <TableCell>Timeframe</TableCell>
            <TableCell align="right">Target</TableCell>
            <TableCell align="right">Worst RPO</TableCell>
            <TableCell>Started</TableCell>
            <TableCell>Ended</TableCell>
            <TableCell>Acknowledged</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {alerts.map((alert) => (
            <AlertRow key={alertKey(alert)} alert={alert} site={siteName(alert.siteId)} />
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

function AlertRow({ alert, site }: { alert: ConsoleAlert; site: string }) {
  const raised = alert.clearedAt === undefined;
  const key = alertKey(alert);
  return (
    <TableRow
      aria-label={`${KIND_LABEL[alert.kind]} alert ${alert.vpgName}`}
      data-state={raised ? 'raised' : 'cleared'}
      sx={{
        '& > td, & > th': { py: 1.25, verticalAlign: 'top' },
        ...(raised && { bgcolor: 'rgba(211,47,47,0.04)' }),
      }}
    >
      <TableCell>
        <Chip
          size="small"
          label={raised ? 'Raised' : 'Cleared'}
          color={raised ? 'error' : 'default'}
          variant={raised ? 'filled' : 'outlined'}
        />
      </TableCell>
      <TableCell component="th" scope="row" sx={{ maxWidth: 420 }}>
        <Typography variant="body2" sx={{ fontWeight: 700 }}>
          {alert.vpgName}
        </Typography>
        <Typography variant="caption" color="text.secondary" sx={{ display: 'block' }}>
          {KIND_LABEL[alert.kind]} · {site}
        </Typography>
        <Typography
          variant="caption"
          color="text.secondary"
          title={alert.message}
          sx={{
            display: '-webkit-box',
            WebkitLineClamp: 2,
            WebkitBoxOrient: 'vertical',
            overflow: 'hidden',
          }}
        >
          {alert.message}
        </Typography>
      </TableCell>
      <TableCell>{alert.timeframeName ?? '—'}</TableCell>
      <TableCell align="right" sx={figure}>
        {alert.rpoTargetSeconds === undefined ? '—' : formatDuration(alert.rpoTargetSeconds)}
      </TableCell>
      <TableCell
        align="right"
        sx={{ ...figure, fontWeight: 700, color: raised ? 'error.main' : 'text.primary' }}
      >
        {alert.worstRpoSeconds === undefined ? '—' : formatDuration(alert.worstRpoSeconds)}
      </TableCell>
      <TableCell sx={figure}>
        <When at={alert.raisedAt} />
      </TableCell>
      <TableCell sx={figure}>
        {alert.clearedAt === undefined ? (
          <Typography variant="body2" color="error.main" sx={{ fontWeight: 600 }}>
            Ongoing
          </Typography>
        ) : (
          <When at={alert.clearedAt} />
        )}
      </TableCell>
      <TableCell sx={figure}>
        {alert.acknowledgedAt === undefined ? (
          <AckButton alert={alert} busyKey={key} />
        ) : (
          <When at={alert.acknowledgedAt} />
        )}
      </TableCell>
    </TableRow>
  );
}

/** The time, and the date under it, in the admin's locale. */
function When({ at }: { at: number }) {
  const { time, date } = formatAlertTime(at);
  return (
    <>
      <Typography variant="body2" component="span" sx={{ display: 'block' }}>
        {time}
      </Typography>
      <Typography variant="caption" color="text.secondary">
        {date}
      </Typography>
    </>
  );
}

function AckButton({ alert, busyKey }: { alert: ConsoleAlert; busyKey: string }) {
  const busy = useAlertsStore((s) => s.acking[busyKey] === true);
  const ack = useAlertsStore((s) => s.ack);
  return (
    <Button
      size="small"
      variant="outlined"
      disabled={busy}
      aria-label={`Acknowledge the alert of ${alert.vpgName}`}
      onClick={() => void ack(alert)}
    >
      {busy ? 'Acknowledging…' : 'Acknowledge'}
    </Button>
  );
}
